"""Shared fixtures and helpers of the store suite, run against every backend in BACKENDS."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from twisted.internet import defer

from engine.store.base import IngestRecord, IngestResult, Outcome, QueueItem, Stage, Store
from engine.store.postgres import PostgresStore, connect
from engine.store.sqlite import SqliteStore
from tests.unit.reactor_thread import reactor_thread, run_in_reactor

__all__ = ["reactor_thread", "run_in_reactor"]  # fixtures and helpers used by name

# the PostgreSQL that runs beside the tests (trust auth); each test gets its own schema
PG_DSN = os.environ.get("PLEXUS_TEST_DSN", "host=127.0.0.1 port=5432 dbname=test user=postgres")


def pg_schema_for(tmp_path: Path) -> str:
    """A schema name unique to one test (stable for reopening within it)."""
    return "plexus_t_" + hashlib.sha1(str(tmp_path).encode()).hexdigest()[:16]


def drop_pg_schema(schema: str) -> None:
    with connect(PG_DSN, "public") as db:
        db.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


BACKENDS: dict[str, Callable[[Path, Any], Store]] = {
    "sqlite": lambda tmp_path, reactor: SqliteStore(str(tmp_path / "plexus.db"), reactor),
    "sqlite-commit-thread": lambda tmp_path, reactor: SqliteStore(
        str(tmp_path / "plexus.db"), reactor, commit_thread=True),
    "postgres": lambda tmp_path, reactor: PostgresStore(PG_DSN, pg_schema_for(tmp_path),
                                                        reactor),
}


@pytest.fixture(params=["sqlite", "sqlite-commit-thread", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The backend name; a PostgreSQL test's schema is dropped afterwards."""
    yield str(request.param)
    if request.param == "postgres":
        drop_pg_schema(pg_schema_for(tmp_path))


@pytest.fixture(params=["sqlite", "sqlite-commit-thread"])
def sqlite_backend(request: pytest.FixtureRequest) -> str:
    """Only the SQLite backends: fault injection on SQLite's own connection."""
    return str(request.param)


def _opened(backend: str, tmp_path: Path, reactor: Any) -> Iterator[Store]:
    opened = BACKENDS[backend](tmp_path, reactor)
    opened.open()
    yield opened
    opened.close()


@pytest.fixture
def store(backend: str, tmp_path: Path, reactor_thread: Any) -> Iterator[Store]:
    """An open store in a fresh location, closed at teardown."""
    yield from _opened(backend, tmp_path, reactor_thread)


@pytest.fixture
def sqlite_store(sqlite_backend: str, tmp_path: Path, reactor_thread: Any) -> Iterator[Store]:
    """An open SQLite store, closed at teardown."""
    yield from _opened(sqlite_backend, tmp_path, reactor_thread)


# -- helpers -------------------------------------------------------------------------


def make_record(channel: str = "adt", *, status: str = "received",
                destinations: tuple[str, ...] = ("out",), parts: int = 1,
                received_at: float | None = None, key: str | None = None,
                window: float = 0.0, error: str | None = None,
                correlation_id: str = "corr", business_key: str | None = None,
                raw: bytes = b"RAW", metadata: dict[str, Any] | None = None) -> IngestRecord:
    """A record as Channel.ingest builds it: raw stage, one transformed stage per part."""
    stages = [Stage("raw", raw, "hl7v2")]
    routed: list[tuple[int, str]] = []
    if status == "received":
        for part in range(parts):
            stages.append(Stage("transformed", f"T{part}".encode(), "hl7v2", part))
            routed.extend((part, dest) for dest in destinations)
    return IngestRecord(
        channel=channel, received_at=time.time() if received_at is None else received_at,
        status=status,  # type: ignore[arg-type]
        content_type="hl7v2", correlation_id=correlation_id, stages=stages,
        destinations=routed, business_key=business_key, idempotency_key=key,
        duplicate_window=window, error=error, metadata=metadata or {})


def ingest(store: Store, record: IngestRecord) -> IngestResult:
    result: IngestResult = run_in_reactor(store.ingest, record)
    return result


def claim(store: Store, destination: str = "out", channel: str = "adt", limit: int = 10,
          ordered: bool = False, lease: float = 60.0) -> list[QueueItem]:
    items: list[QueueItem] = run_in_reactor(store.claim, channel, destination, limit, ordered,
                                            lease)
    return items


def complete(store: Store, *outcomes: Outcome) -> None:
    run_in_reactor(store.complete, list(outcomes))


def message(store: Store, message_id: int) -> dict[str, Any]:
    found = store.get_message(message_id)
    assert found is not None, f"message {message_id} not found"
    return found


def stages_of(found: dict[str, Any]) -> dict[tuple[str, int], bytes]:
    return {(s["stage"], s["part"]): bytes(s["content"]) for s in found["stages"]}


def committer(store: Store) -> Any:
    writer = getattr(store, "_committer", None)
    assert writer is not None, "the backend has no group committer"
    return writer


def in_one_batch(store: Store, calls: list[Callable[[], defer.Deferred[Any]]]
                 ) -> tuple[list[tuple[bool, Any]], int]:
    """Hold the writer, submit every call from the reactor thread, then let it go.

    Every call then lands in the same transaction. Returns (ok, result or exception) per
    call and the number of batches the writer ran meanwhile (the holding one included).
    """
    writer = committer(store)
    if not writer._threaded:
        # inline commits run after the current reactor turn: one submit round is one batch
        before = writer.batches

        def submit_inline() -> defer.Deferred[Any]:
            return defer.DeferredList([call() for call in calls], consumeErrors=True)

        results = run_in_reactor(submit_inline)
        return ([(ok, value if ok else value.value) for ok, value in results],
                writer.batches - before + 1)
    holding, release = threading.Event(), threading.Event()

    def hold(_conn: Any) -> None:
        holding.set()
        release.wait(20)

    def submit_hold() -> None:
        writer.submit(hold)  # fires once released; nothing to wait for here

    run_in_reactor(submit_hold)
    assert holding.wait(20), "the writer never ran the holding op"
    before = writer.batches

    def submit_all() -> defer.Deferred[Any]:
        deferreds = [call() for call in calls]
        release.set()
        return defer.DeferredList(deferreds, consumeErrors=True)

    results = run_in_reactor(submit_all)
    return ([(ok, value if ok else value.value) for ok, value in results],
            writer.batches - before)


def raw_sql(sql: str) -> Callable[[Any], Any]:
    """A group-commit op running one statement on the writer connection."""
    return lambda conn: conn.db.execute(sql).fetchall()


def schema_versions(store: Store) -> list[int]:
    """The migrations recorded in the store, oldest first."""
    if isinstance(store, SqliteStore):
        import sqlite3
        with sqlite3.connect(store.path) as db:
            rows = db.execute("SELECT version FROM schema_version ORDER BY 1").fetchall()
    else:
        assert isinstance(store, PostgresStore)
        with connect(store.dsn, store.schema) as db:
            rows = db.execute("SELECT version FROM schema_version ORDER BY 1").fetchall()
    return [row[0] for row in rows]
