"""The store suite: queue stats, replay, listing, pruning and reopening, on every backend."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

import pytest

from engine.store.base import Outcome, Stage, Store
from engine.store.pg_schema import PG_SCHEMA, PG_SCHEMA_VERSION
from engine.store.postgres import PostgresStore, connect
from engine.store.queries import QUEUE_STATS_SQL
from engine.store.schema import SCHEMA_VERSION, SQLITE_SCHEMA
from engine.store.sqlite import SqliteStore
from tests.unit.reactor_thread import reactor_thread
from tests.unit.store_suite import (
    BACKENDS,
    backend,
    claim,
    complete,
    ingest,
    make_record,
    message,
    schema_versions,
    stages_of,
    store,
)

__all__ = ["backend", "reactor_thread", "store"]  # fixtures used by name


# -- queue stats and replay ---------------------------------------------------------


def _plan(store: Store, sql: str) -> str:
    """The query plan of sql, as text."""
    if isinstance(store, SqliteStore):
        import sqlite3
        with sqlite3.connect(store.path) as db:
            rows = db.execute("EXPLAIN QUERY PLAN " + sql).fetchall()
        return "\n".join(row[3] for row in rows)
    assert isinstance(store, PostgresStore)
    with connect(store.dsn, store.schema) as db:
        db.execute("SET enable_seqscan = off")  # a tiny table: show what it can use
        return "\n".join(row[0] for row in db.execute("EXPLAIN " + sql))


def test_queue_stats_read_the_queue_indexes_not_the_whole_table(store: Store) -> None:
    plan = _plan(store, QUEUE_STATS_SQL)
    assert "deliveries_pending" in plan and "deliveries_dead" in plan, plan
    assert "Seq Scan" not in plan and "SCAN deliveries\n" not in plan + "\n", plan


def test_queue_stats(store: Store) -> None:
    now = time.time()
    for i in range(3):
        ingest(store, make_record("qs", destinations=("x", "y"), received_at=now - 100 + i))
    ingest(store, make_record("other", destinations=("x",), received_at=now))
    (oldest_x, *_) = claim(store, "x", channel="qs", limit=1)
    complete(store, Outcome(oldest_x.delivery_id, "dead", error="no"))
    stats = {(s.channel, s.destination): s for s in store.queue_stats()}
    x, y = stats[("qs", "x")], stats[("qs", "y")]
    assert (x.depth, x.dead) == (2, 1)
    assert x.oldest_received_at == pytest.approx(now - 99)
    assert (y.depth, y.dead) == (3, 0)
    assert y.oldest_received_at == pytest.approx(now - 100)
    other = stats[("other", "x")]
    assert (other.depth, other.dead) == (1, 0)

    for item in claim(store, "y", channel="qs"):
        complete(store, Outcome(item.delivery_id, "sent"))
    stats = {(s.channel, s.destination): s for s in store.queue_stats()}
    assert ("qs", "y") not in stats or stats[("qs", "y")].depth == 0


def test_replay_requeues_with_attempts_reset(store: Store) -> None:
    message_id = ingest(store, make_record(destinations=("a", "b"))).message_id
    (a,) = claim(store, "a")
    (b,) = claim(store, "b")
    complete(store, Outcome(a.delivery_id, "sent"),
             Outcome(b.delivery_id, "dead", error="AR"))
    assert message(store, message_id)["status"] == "dead"

    assert store.replay([message_id], "a") == 1
    deliveries = {d["destination"]: d for d in message(store, message_id)["deliveries"]}
    assert (deliveries["a"]["status"], deliveries["a"]["attempts"]) == ("queued", 0)
    assert (deliveries["b"]["status"], deliveries["b"]["attempts"]) == ("dead", 1)
    (again,) = claim(store, "a")
    assert (again.message_id, again.attempts) == (message_id, 0)
    complete(store, Outcome(again.delivery_id, "sent"))

    assert store.replay([message_id]) == 2
    found = message(store, message_id)
    assert found["status"] == "queued"
    assert [(d["status"], d["attempts"]) for d in found["deliveries"]] == [("queued", 0)] * 2
    assert store.replay([message_id + 1000]) == 0


def test_replay_dead_by_channel_and_destination(store: Store) -> None:
    for channel in ("adt", "lab"):
        for _ in range(2):
            ingest(store, make_record(channel, destinations=("a", "b")))
        for dest in ("a", "b"):
            complete(store, *[Outcome(item.delivery_id, "dead", error="x")
                              for item in claim(store, dest, channel=channel)])
    assert store.replay_dead("adt", "a") == 2
    assert [item.destination for item in claim(store, "a")] == ["a", "a"]
    assert claim(store, "b") == []
    assert store.replay_dead("adt") == 2  # the two of b
    assert len(claim(store, "b")) == 2
    assert store.replay_dead("adt") == 0
    stats = {(s.channel, s.destination): s for s in store.queue_stats()}
    assert (stats[("lab", "a")].dead, stats[("lab", "b")].dead) == (2, 2)


# -- list_messages ---------------------------------------------------------------------


def test_list_messages_filters(store: Store) -> None:
    ids: dict[str, int] = {}
    ids["received"] = ingest(store, make_record(destinations=())).message_id
    ids["filtered"] = ingest(store, make_record(status="filtered")).message_id
    ids["error"] = ingest(store, make_record(status="error", error="bad")).message_id
    ids["original"] = ingest(store, make_record(key="K", window=60)).message_id
    ids["duplicate"] = ingest(store, make_record(key="K", window=60)).message_id
    ids["sent"] = ingest(store, make_record()).message_id
    ids["dead"] = ingest(store, make_record()).message_id
    ids["queued"] = ingest(store, make_record(correlation_id="c-q", business_key="BK")
                           ).message_id
    ids["lab"] = ingest(store, make_record("lab", correlation_id="c-lab", business_key="BK")
                        ).message_id
    by_message = {item.message_id: item for item in claim(store)}
    complete(store, Outcome(by_message[ids["sent"]].delivery_id, "sent"),
             Outcome(by_message[ids["dead"]].delivery_id, "dead", error="AR"),
             Outcome(by_message[ids["original"]].delivery_id, "sent"))

    expected = {"received": [ids["received"]], "filtered": [ids["filtered"]],
                "error": [ids["error"]], "duplicate": [ids["duplicate"]],
                "queued": [ids["queued"]], "sent": [ids["sent"], ids["original"]],
                "dead": [ids["dead"]]}
    for status, wanted in expected.items():
        rows = store.list_messages(channel="adt", status=status)
        assert [r.message_id for r in rows] == wanted, status
        assert {r.status for r in rows} == {status}
    (error_row,) = store.list_messages(status="error")
    assert error_row.error == "bad"

    everything = store.list_messages()
    assert [r.message_id for r in everything] == sorted(ids.values(), reverse=True)
    assert [r.message_id for r in store.list_messages(channel="lab")] == [ids["lab"]]
    assert [r.message_id for r in store.list_messages(status="queued")] == [
        ids["lab"], ids["queued"]]
    assert [r.message_id for r in store.list_messages(correlation_id="c-q")] == [ids["queued"]]
    rows = store.list_messages(business_key="BK")
    assert [(r.message_id, r.channel, r.business_key) for r in rows] == [
        (ids["lab"], "lab", "BK"), (ids["queued"], "adt", "BK")]
    assert [r.message_id for r in store.list_messages(channel="adt", business_key="BK")] == [
        ids["queued"]]
    assert [r.message_id for r in store.list_messages(limit=2)] == [ids["lab"], ids["queued"]]
    assert [r.message_id for r in store.list_messages(limit=2, before_id=ids["queued"])] == [
        ids["dead"], ids["sent"]]
    assert store.list_messages(channel="nope") == []


# -- prune -----------------------------------------------------------------------------


def _prune_all(store: Store, channel: str, content_before: float, metadata_before: float,
               batch: int = 500) -> int:
    """Prune the way the engine does: until a call hits nothing."""
    total = 0
    for _ in range(100):
        hit = store.prune(channel, content_before, metadata_before, batch)
        if hit == 0:
            return total
        total += hit
    raise AssertionError("prune never finished")


def test_prune_content_keeps_rows_and_pending_messages(store: Store) -> None:
    now = time.time()
    old_sent = ingest(store, make_record(received_at=now - 1000)).message_id
    old_pending = ingest(store, make_record(received_at=now - 1000)).message_id
    old_error = ingest(store, make_record(received_at=now - 1000, status="error",
                                          error="bad")).message_id
    fresh = ingest(store, make_record(received_at=now)).message_id
    other = ingest(store, make_record("other", received_at=now - 1000,
                                      status="filtered")).message_id
    complete(store, *[Outcome(i.delivery_id, "sent", response=Stage("response:out", b"ACK"))
                      if i.message_id == old_sent else Outcome(i.delivery_id, "release")
                      for i in claim(store)])

    assert _prune_all(store, "adt", now - 500, 0.0) == 2
    pruned = message(store, old_sent)
    assert pruned["stages"] == []
    assert pruned["status"] == "sent"
    assert pruned["deliveries"][0]["status"] == "sent"
    assert message(store, old_error)["stages"] == []
    assert message(store, old_error)["error"] == "bad"
    assert stages_of(message(store, old_pending)) == {("raw", 0): b"RAW",
                                                      ("transformed", 0): b"T0"}
    assert ("raw", 0) in stages_of(message(store, fresh))
    assert ("raw", 0) in stages_of(message(store, other))
    # what is still queued can still be claimed and delivered
    assert {i.message_id for i in claim(store)} == {old_pending, fresh}


def test_prune_metadata_removes_finished_rows(store: Store) -> None:
    now = time.time()
    old_sent = ingest(store, make_record(received_at=now - 1000)).message_id
    old_pending = ingest(store, make_record(received_at=now - 1000)).message_id
    old_filtered = ingest(store, make_record(received_at=now - 1000,
                                             status="filtered")).message_id
    fresh = ingest(store, make_record(received_at=now)).message_id
    item = next(i for i in claim(store) if i.message_id == old_sent)
    complete(store, Outcome(item.delivery_id, "retry", error="once",
                            next_attempt_at=time.time() - 1))
    (item,) = [i for i in claim(store) if i.message_id == old_sent]
    complete(store, Outcome(item.delivery_id, "sent"))

    assert _prune_all(store, "adt", now - 500, now - 500) > 0
    assert store.get_message(old_sent) is None
    assert store.get_message(old_filtered) is None
    assert message(store, old_pending)["status"] == "queued"
    assert ("raw", 0) in stages_of(message(store, old_pending))
    assert message(store, fresh)["status"] == "queued"
    assert [r.message_id for r in store.list_messages()] == [fresh, old_pending]


def test_prune_is_not_stalled_by_a_batch_of_pending_messages(store: Store) -> None:
    now = time.time()
    pending = [ingest(store, make_record(received_at=now - 1000)).message_id
               for _ in range(3)]
    finished = ingest(store, make_record(received_at=now - 1000, status="filtered")
                      ).message_id
    assert _prune_all(store, "adt", now - 500, 0.0, batch=2) == 1
    assert message(store, finished)["stages"] == []
    for message_id in pending:
        assert message(store, message_id)["stages"] != []


# -- reopen ----------------------------------------------------------------------------


def latest_version(store: Store) -> int:
    return SCHEMA_VERSION if isinstance(store, SqliteStore) else PG_SCHEMA_VERSION


def test_reopen_keeps_data_and_migration_is_idempotent(backend: str, store: Store,
                                                       tmp_path: Path,
                                                       reactor_thread: Any) -> None:
    message_id = ingest(store, make_record(correlation_id="kept")).message_id
    before = message(store, message_id)
    store.close()

    again = BACKENDS[backend](tmp_path, reactor_thread)
    again.open()
    try:
        assert message(again, message_id) == before
        assert schema_versions(again) == list(range(1, latest_version(again) + 1))
        (item,) = claim(again)
        assert item.message_id == message_id
        complete(again, Outcome(item.delivery_id, "sent"))
        assert ingest(again, make_record()).message_id > message_id
    finally:
        again.close()

    third = BACKENDS[backend](tmp_path, reactor_thread)
    third.open()
    try:
        assert schema_versions(third) == list(range(1, latest_version(third) + 1))
        assert message(third, message_id)["status"] == "sent"
        assert len(third.list_messages()) == 2
    finally:
        third.close()


# a released migration never changes (the resource tables of both schemas are built by one
# function); a new version adds its digest here
RELEASED_MIGRATIONS = {
    "sqlite": {1: "ffd0c2d7b09f8157", 2: "3d426b2b9bee06c7", 3: "c6daa80c122002ea"},
    "postgres": {1: "c773787dae16148f", 2: "e3df8a5fa630bea9", 3: "621172f6008e4ddb"},
}


def test_released_migrations_are_unchanged() -> None:
    digests = {name: {version: hashlib.sha256("\n".join(statements).encode()).hexdigest()[:16]
                      for version, statements in schema.items()}
               for name, schema in (("sqlite", SQLITE_SCHEMA), ("postgres", PG_SCHEMA))}
    assert digests == RELEASED_MIGRATIONS


(_V1_QUEUE_INDEX,) = (s for s in SQLITE_SCHEMA[1] if "INDEX deliveries_queue" in s)


def test_sqlite_version_2_queues_move_to_the_partial_indexes(tmp_path: Path,
                                                             reactor_thread: Any) -> None:
    path = tmp_path / "v2.db"
    first = SqliteStore(str(path), reactor_thread)
    first.open()
    try:
        for n in range(4):
            ingest(first, make_record(correlation_id=f"m{n}", received_at=1000.0 + n))
        sent, dead = claim(first, limit=2)
        complete(first, Outcome(sent.delivery_id, "sent"),
                 Outcome(dead.delivery_id, "dead", error="AR"))
        release = [Outcome(i.delivery_id, "release", counted=False) for i in claim(first)]
        complete(first, *release)
        # back to what the second release wrote: its full queue index, version 2
        with first._reader() as db:  # type: ignore[attr-defined]
            for statement in ("DROP INDEX deliveries_pending", "DROP INDEX deliveries_dead",
                              _V1_QUEUE_INDEX, "DELETE FROM schema_version WHERE version = 3"):
                db.execute(statement)
    finally:
        first.close()
    upgraded = SqliteStore(str(path), reactor_thread)
    upgraded.open()
    try:
        assert schema_versions(upgraded) == [1, 2, 3]
        with upgraded._reader() as db:  # type: ignore[attr-defined]
            indexes = {row[0] for row in db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'deliveries' "
                "AND sql IS NOT NULL")}
        assert indexes == {"deliveries_message", "deliveries_pending", "deliveries_dead"}
        (stats,) = upgraded.queue_stats()
        assert (stats.depth, stats.dead, stats.oldest_received_at) == (2, 1, 1002.0)
        assert [i.correlation_id for i in claim(upgraded)] == ["m2", "m3"]
        assert upgraded.replay_dead("adt") == 1
        (stats,) = upgraded.queue_stats()
        assert (stats.depth, stats.dead) == (3, 0)
    finally:
        upgraded.close()


def test_sqlite_leases_of_the_last_run_are_void_on_open(tmp_path: Path,
                                                        reactor_thread: Any) -> None:
    first = SqliteStore(str(tmp_path / "plexus.db"), reactor_thread)
    first.open()
    try:
        ingest(first, make_record(correlation_id="leased"))
        (item,) = claim(first, lease=3600.0)  # then the engine dies (the store owns one)
    finally:
        first.close()
    again = SqliteStore(str(tmp_path / "plexus.db"), reactor_thread)
    again.open()
    try:
        (taken,) = claim(again)
        assert (taken.delivery_id, taken.correlation_id) == (item.delivery_id, "leased")
    finally:
        again.close()
