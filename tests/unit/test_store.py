"""The store suite, run against every backend in BACKENDS (writes go through the reactor)."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from twisted.internet import defer

from engine.errors import StoreError
from engine.store import sqlite as sqlite_backend
from engine.store.base import IngestRecord, IngestResult, Outcome, QueueItem, Stage, Store
from engine.store.schema import SCHEMA_VERSION
from engine.store.sqlite import SqliteStore
from tests.unit.reactor_thread import reactor_thread, run_in_reactor

__all__ = ["reactor_thread"]  # the fixture is used by name

BACKENDS: dict[str, Callable[[Path, Any], Store]] = {
    "sqlite": lambda tmp_path, reactor: SqliteStore(str(tmp_path / "plexus.db"), reactor),
    "sqlite-commit-thread": lambda tmp_path, reactor: SqliteStore(
        str(tmp_path / "plexus.db"), reactor, commit_thread=True),
}


@pytest.fixture(params=["sqlite", "sqlite-commit-thread"])
def backend(request: pytest.FixtureRequest) -> str:
    """The backend name; add "postgres" to params once BACKENDS has it."""
    return str(request.param)


@pytest.fixture
def store(backend: str, tmp_path: Path, reactor_thread: Any) -> Iterator[Store]:
    """An open store in a fresh location, closed at teardown."""
    opened = BACKENDS[backend](tmp_path, reactor_thread)
    opened.open()
    yield opened
    opened.close()


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
    """A group-commit op running one statement on the writer connection (SQLite)."""
    return lambda conn: conn.db.execute(sql).fetchall()


def require_sqlite(backend: str) -> None:
    if not backend.startswith("sqlite"):
        pytest.skip("fault injection written for the SQLite connection")


# -- ingest and statuses -----------------------------------------------------------------


def test_ingest_commits_message_stages_and_one_queue_row_per_part_and_destination(
        store: Store) -> None:
    record = make_record(destinations=("a", "b"), parts=2, correlation_id="c-1",
                         business_key="MSG1", metadata={"peer": "10.0.0.1"})
    result = ingest(store, record)
    assert result.duplicate_of is None

    found = message(store, result.message_id)
    assert found["id"] == result.message_id
    assert found["channel"] == "adt"
    assert found["status"] == "queued"
    assert found["correlation_id"] == "c-1"
    assert found["business_key"] == "MSG1"
    assert found["metadata"] == {"peer": "10.0.0.1"}
    assert found["error"] is None
    assert stages_of(found) == {("raw", 0): b"RAW", ("transformed", 0): b"T0",
                                ("transformed", 1): b"T1"}
    rows = sorted((d["part"], d["destination"], d["status"], d["attempts"])
                  for d in found["deliveries"])
    assert rows == [(0, "a", "queued", 0), (0, "b", "queued", 0),
                    (1, "a", "queued", 0), (1, "b", "queued", 0)]
    assert store.get_message(result.message_id + 1000) is None


def test_routed_message_status_follows_its_deliveries(store: Store) -> None:
    sent_id = ingest(store, make_record()).message_id
    dead_id = ingest(store, make_record()).message_id
    assert message(store, sent_id)["status"] == "queued"
    by_message = {item.message_id: item for item in claim(store)}
    complete(store, Outcome(by_message[sent_id].delivery_id, "sent"),
             Outcome(by_message[dead_id].delivery_id, "dead", error="AR from peer"))
    assert message(store, sent_id)["status"] == "sent"
    assert message(store, dead_id)["status"] == "dead"
    assert message(store, dead_id)["deliveries"][0]["last_error"] == "AR from peer"
    statuses = {m.message_id: m.status for m in store.list_messages()}
    assert (statuses[sent_id], statuses[dead_id]) == ("sent", "dead")


def test_message_with_one_destination_pending_stays_queued(store: Store) -> None:
    message_id = ingest(store, make_record(destinations=("a", "b"))).message_id
    (a,) = claim(store, "a")
    complete(store, Outcome(a.delivery_id, "sent"))
    assert message(store, message_id)["status"] == "queued"
    (b,) = claim(store, "b")
    complete(store, Outcome(b.delivery_id, "dead", error="gone"))
    assert message(store, message_id)["status"] == "dead"


@pytest.mark.parametrize("status,error", [("filtered", None), ("error", "PID-3: required")])
def test_filtered_and_error_messages_have_no_deliveries(store: Store, status: str,
                                                        error: str | None) -> None:
    message_id = ingest(store, make_record(status=status, error=error)).message_id
    found = message(store, message_id)
    assert found["status"] == status
    assert found["error"] == error
    assert found["deliveries"] == []
    assert stages_of(found) == {("raw", 0): b"RAW"}
    assert claim(store) == []


# -- group commit ----------------------------------------------------------------------


def test_concurrent_ingests_share_transactions(store: Store) -> None:
    writer = committer(store)
    before = writer.batches
    records = [make_record(correlation_id=f"c{i}") for i in range(200)]

    def submit_all() -> defer.Deferred[Any]:
        return defer.DeferredList([store.ingest(r) for r in records], consumeErrors=True)

    results = run_in_reactor(submit_all)
    assert all(ok for ok, _ in results), [r for ok, r in results if not ok]
    ids = [result.message_id for _, result in results]
    assert len(set(ids)) == 200
    assert writer.batches - before < 200
    assert len(store.list_messages(channel="adt", limit=1000)) == 200
    # each message got its own content, not a neighbour's
    for record, message_id in zip(records[:5], ids[:5], strict=True):
        assert message(store, message_id)["correlation_id"] == record.correlation_id


def test_failing_op_fails_only_its_own_deferred(store: Store) -> None:
    first, second = make_record(correlation_id="first"), make_record(correlation_id="second")
    results, batches = in_one_batch(store, [
        lambda: store.ingest(first),
        lambda: committer(store).submit(raw_sql("SELECT * FROM nope")),
        lambda: store.ingest(second),
    ])
    assert batches == 2  # the holding op, then all three together
    (ok1, r1), (ok2, r2), (ok3, r3) = results
    assert ok1 and ok3
    assert not ok2
    assert isinstance(r2, StoreError)
    assert "nope" in str(r2)
    assert message(store, r1.message_id)["correlation_id"] == "first"
    assert message(store, r3.message_id)["correlation_id"] == "second"


def test_statement_failing_inside_a_batch_rolls_back_only_that_op(store: Store,
                                                                  backend: str) -> None:
    require_sqlite(backend)
    good = make_record(correlation_id="good")
    results, batches = in_one_batch(store, [
        lambda: store.ingest(good),
        # writes, then fails: its own write must be undone, the others kept
        lambda: committer(store).submit(lambda conn: (
            conn.db.execute("UPDATE messages SET correlation_id = 'clobbered'"),
            conn.db.execute("INSERT INTO nope VALUES (1)"))),
    ])
    assert batches == 2
    (ok1, r1), (ok2, r2) = results
    assert ok1 and not ok2
    assert isinstance(r2, StoreError)
    assert message(store, r1.message_id)["correlation_id"] == "good"


def test_read_only_write_fails_its_op_and_the_batch_goes_on(store: Store,
                                                           backend: str) -> None:
    # query_only must be switched off in the same batch: with it on, BEGIN IMMEDIATE fails
    require_sqlite(backend)
    results, batches = in_one_batch(store, [
        lambda: committer(store).submit(raw_sql("PRAGMA query_only = ON")),
        lambda: store.ingest(make_record(correlation_id="refused")),
        lambda: committer(store).submit(raw_sql("PRAGMA query_only = OFF")),
        lambda: store.ingest(make_record(correlation_id="accepted")),
    ])
    assert batches == 2
    assert [ok for ok, _ in results] == [True, False, True, True]
    refused = results[1][1]
    assert isinstance(refused, StoreError)
    assert "readonly" in str(refused)
    later = ingest(store, make_record(correlation_id="later"))
    assert message(store, later.message_id)["status"] == "queued"
    assert [m.correlation_id for m in store.list_messages()] == ["later", "accepted"]


def test_disk_full_fails_the_whole_batch_and_the_writer_recovers(store: Store,
                                                                 backend: str) -> None:
    """SQLITE_FULL aborts the transaction: every op of the batch errbacks with StoreError."""
    require_sqlite(backend)
    ingest(store, make_record(correlation_id="before"))

    def fill(conn: Any) -> None:
        pages = conn.db.execute("PRAGMA page_count").fetchone()[0]
        conn.db.execute(f"PRAGMA max_page_count = {pages}")

    big = b"x" * 200_000
    results, batches = in_one_batch(store, [
        lambda: store.ingest(make_record(correlation_id="small")),
        lambda: committer(store).submit(fill),
        lambda: store.ingest(make_record(correlation_id="big", raw=big)),
    ])
    assert batches == 2
    assert [ok for ok, _ in results] == [False, False, False]
    assert all(isinstance(error, StoreError) for _, error in results)
    assert [m.correlation_id for m in store.list_messages()] == ["before"]

    with pytest.raises(StoreError):  # still full
        ingest(store, make_record(correlation_id="big again", raw=big))
    run_in_reactor(committer(store).submit, raw_sql("PRAGMA max_page_count = 1073741823"))
    after = ingest(store, make_record(correlation_id="after", raw=big))
    assert stages_of(message(store, after.message_id))[("raw", 0)] == big
    assert [m.correlation_id for m in store.list_messages()] == ["after", "before"]


def test_commit_failure_errbacks_with_store_error_and_later_ingests_succeed(
        store: Store, backend: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """COMMIT itself failing (an I/O error at fsync) is injected: it cannot be provoked."""
    require_sqlite(backend)
    real_commit = sqlite_backend._Conn.commit

    def commit(self: Any) -> None:  # fails any transaction holding a 'lost-*' message
        lost = self.db.execute(
            "SELECT count(*) FROM messages WHERE correlation_id LIKE 'lost-%'").fetchone()[0]
        if lost:
            raise sqlite3.OperationalError("disk I/O error")
        real_commit(self)

    monkeypatch.setattr(sqlite_backend._Conn, "commit", commit)
    results, _ = in_one_batch(store, [
        lambda: store.ingest(make_record(correlation_id="lost-1")),
        lambda: store.ingest(make_record(correlation_id="lost-2")),
    ])
    assert [ok for ok, _ in results] == [False, False]
    for _, error in results:
        assert isinstance(error, StoreError)
        assert "disk I/O error" in str(error)
    assert store.list_messages() == []  # rolled back, nothing half-written

    later = ingest(store, make_record(correlation_id="later"))
    assert message(store, later.message_id)["status"] == "queued"
    assert [m.correlation_id for m in store.list_messages()] == ["later"]


def test_writes_after_close_fail_with_store_error(backend: str, tmp_path: Path,
                                                  reactor_thread: Any) -> None:
    closed = BACKENDS[backend](tmp_path, reactor_thread)
    closed.open()
    writer = committer(closed)
    closed.close()
    with pytest.raises(StoreError):
        run_in_reactor(writer.submit, lambda conn: None)


# -- duplicates --------------------------------------------------------------------------


def test_duplicate_within_window(store: Store) -> None:
    now = time.time()
    original = ingest(store, make_record(key="APP|FAC|1", window=60, received_at=now - 30))
    dup = ingest(store, make_record(key="APP|FAC|1", window=60, received_at=now))
    assert dup.duplicate_of == original.message_id
    assert dup.message_id != original.message_id
    found = message(store, dup.message_id)
    assert found["status"] == "duplicate"
    assert found["duplicate_of"] == original.message_id
    assert found["deliveries"] == []
    assert stages_of(found) == {("raw", 0): b"RAW"}
    assert len(claim(store)) == 1  # only the original is queued


def test_not_a_duplicate_outside_the_window(store: Store) -> None:
    now = time.time()
    ingest(store, make_record(key="K", window=60, received_at=now - 120))
    later = ingest(store, make_record(key="K", window=60, received_at=now))
    assert later.duplicate_of is None
    assert message(store, later.message_id)["status"] == "queued"


def test_other_keys_and_channels_are_not_duplicates(store: Store) -> None:
    ingest(store, make_record(key="K", window=60))
    assert ingest(store, make_record(key="K2", window=60)).duplicate_of is None
    assert ingest(store, make_record("other", key="K", window=60)).duplicate_of is None
    assert ingest(store, make_record(key=None, window=60)).duplicate_of is None


def test_error_message_is_not_an_original(store: Store) -> None:
    ingest(store, make_record(key="K", window=60, status="error", error="bad PID"))
    retry = ingest(store, make_record(key="K", window=60))
    assert retry.duplicate_of is None
    assert message(store, retry.message_id)["status"] == "queued"
    # and now the accepted one is the original
    again = ingest(store, make_record(key="K", window=60))
    assert again.duplicate_of == retry.message_id


def test_filtered_message_counts_as_original(store: Store) -> None:
    original = ingest(store, make_record(key="K", window=60, status="filtered"))
    assert ingest(store, make_record(key="K", window=60)).duplicate_of == original.message_id


# -- claim -----------------------------------------------------------------------------


def test_unordered_claim_leases_up_to_limit(store: Store) -> None:
    ids = [ingest(store, make_record(correlation_id=f"c{i}")).message_id for i in range(5)]
    first = claim(store, limit=3, lease=0.2)
    assert [item.message_id for item in first] == ids[:3]
    item = first[0]
    assert (item.channel, item.destination, item.part, item.attempts) == ("adt", "out", 0, 0)
    assert (item.content, item.content_type, item.correlation_id) == (b"T0", "hl7v2", "c0")
    rest = claim(store, limit=10, lease=60)
    assert [item.message_id for item in rest] == ids[3:]
    assert claim(store, limit=10) == []
    time.sleep(0.4)  # past the first lease
    again = claim(store, limit=10)
    assert [item.delivery_id for item in again] == [item.delivery_id for item in first]
    assert claim(store, "other") == []
    assert claim(store, channel="other") == []


def test_claim_skips_rows_not_yet_due(store: Store) -> None:
    ids = [ingest(store, make_record()).message_id for _ in range(2)]
    head, tail = claim(store)
    complete(store, Outcome(head.delivery_id, "retry", error="timeout",
                            next_attempt_at=time.time() + 3600),
             Outcome(tail.delivery_id, "release", counted=False))
    assert [item.message_id for item in claim(store)] == [ids[1]]


def test_ordered_head_retrying_blocks_its_queue_only(store: Store) -> None:
    ids = [ingest(store, make_record(destinations=("a", "b"))).message_id for _ in range(3)]
    (head,) = claim(store, "a", limit=1, ordered=True)
    assert head.message_id == ids[0]
    assert claim(store, "a", limit=10, ordered=True) == []  # the head is leased
    complete(store, Outcome(head.delivery_id, "retry", error="AE",
                            next_attempt_at=time.time() + 3600))
    assert claim(store, "a", limit=10, ordered=True) == []  # the head is not due
    in_order = claim(store, "b", limit=10, ordered=True)
    assert [item.message_id for item in in_order] == ids
    # once the head is due again it (and what follows) is handed out in order
    complete(store, Outcome(head.delivery_id, "retry", error="AE",
                            next_attempt_at=time.time() - 1))
    assert [item.message_id for item in claim(store, "a", limit=10, ordered=True)] == ids


def test_release_frees_the_lease_without_counting_an_attempt(store: Store) -> None:
    message_id = ingest(store, make_record()).message_id
    (item,) = claim(store, lease=3600)
    assert claim(store) == []
    complete(store, Outcome(item.delivery_id, "release", counted=False))
    (again,) = claim(store)
    assert again.delivery_id == item.delivery_id
    assert again.attempts == 0
    delivery = message(store, message_id)["deliveries"][0]
    assert delivery["attempts"] == 0
    assert delivery["history"] == []


# -- complete --------------------------------------------------------------------------


def test_retry_then_dead_keeps_history_and_stages(store: Store) -> None:
    message_id = ingest(store, make_record()).message_id
    (item,) = claim(store)
    due = time.time() + 100
    complete(store, Outcome(item.delivery_id, "retry", error="connection refused",
                            next_attempt_at=due))
    delivery = message(store, message_id)["deliveries"][0]
    assert delivery["status"] == "queued"
    assert delivery["attempts"] == 1
    assert delivery["next_attempt_at"] == pytest.approx(due)
    assert delivery["last_error"] == "connection refused"
    assert [(h["attempt"], h["outcome"], h["error"]) for h in delivery["history"]] == [
        (1, "retry", "connection refused")]
    assert claim(store) == []

    complete(store, Outcome(item.delivery_id, "retry", error="timeout",
                            next_attempt_at=time.time() - 1))
    (item,) = claim(store)
    assert item.attempts == 2
    complete(store, Outcome(item.delivery_id, "dead", error="AR: unknown patient",
                            encoded=Stage("encoded:out", b"ENC", "hl7v2"),
                            response=Stage("response:out", b"MSA|AR", "hl7v2")))
    found = message(store, message_id)
    assert found["status"] == "dead"
    delivery = found["deliveries"][0]
    assert (delivery["status"], delivery["attempts"]) == ("dead", 3)
    assert delivery["last_error"] == "AR: unknown patient"
    assert [(h["attempt"], h["outcome"], h["error"]) for h in delivery["history"]] == [
        (1, "retry", "connection refused"), (2, "retry", "timeout"),
        (3, "dead", "AR: unknown patient")]
    stages = stages_of(found)
    assert stages[("encoded:out", 0)] == b"ENC"
    assert stages[("response:out", 0)] == b"MSA|AR"
    assert claim(store) == []


def test_sent_stores_encoded_and_response_per_part(store: Store) -> None:
    message_id = ingest(store, make_record(parts=2)).message_id
    items = claim(store)
    assert [item.part for item in items] == [0, 1]
    assert [item.content for item in items] == [b"T0", b"T1"]
    complete(store, *[Outcome(item.delivery_id, "sent",
                              encoded=Stage("encoded:out", f"E{item.part}".encode()),
                              response=Stage("response:out", f"R{item.part}".encode()))
                      for item in items])
    found = message(store, message_id)
    assert found["status"] == "sent"
    assert [(d["status"], d["attempts"], d["history"]) for d in found["deliveries"]] == [
        ("sent", 1, []), ("sent", 1, [])]
    stages = stages_of(found)
    assert (stages[("encoded:out", 0)], stages[("encoded:out", 1)]) == (b"E0", b"E1")
    assert (stages[("response:out", 0)], stages[("response:out", 1)]) == (b"R0", b"R1")
    assert claim(store) == []


def test_filtered_delivery_is_finished(store: Store) -> None:
    message_id = ingest(store, make_record()).message_id
    (item,) = claim(store)
    complete(store, Outcome(item.delivery_id, "filtered"))
    found = message(store, message_id)
    assert found["deliveries"][0]["status"] == "filtered"
    assert found["status"] == "sent"
    assert claim(store) == []


# -- queue stats and replay ---------------------------------------------------------


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


def _schema_versions(store: Store) -> list[int]:
    assert isinstance(store, SqliteStore)
    with sqlite3.connect(store.path) as db:
        return [row[0] for row in db.execute("SELECT version FROM schema_version ORDER BY 1")]


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
        assert _schema_versions(again) == list(range(1, SCHEMA_VERSION + 1))
        (item,) = claim(again)
        assert item.message_id == message_id
        complete(again, Outcome(item.delivery_id, "sent"))
        assert ingest(again, make_record()).message_id > message_id
    finally:
        again.close()

    third = BACKENDS[backend](tmp_path, reactor_thread)
    third.open()
    try:
        assert _schema_versions(third) == list(range(1, SCHEMA_VERSION + 1))
        assert message(third, message_id)["status"] == "sent"
        assert len(third.list_messages()) == 2
    finally:
        third.close()
