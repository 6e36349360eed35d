"""The store suite: group commit batching and failures, on every backend."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from twisted.internet import defer

from engine.errors import StoreError
from engine.store import sqlite as sqlite_module
from engine.store.base import Store
from tests.unit.reactor_thread import reactor_thread, run_in_reactor
from tests.unit.store_suite import (
    BACKENDS,
    backend,
    committer,
    in_one_batch,
    ingest,
    make_record,
    message,
    raw_sql,
    sqlite_backend,
    sqlite_store,
    stages_of,
    store,
)

# fixtures used by name
__all__ = ["backend", "reactor_thread", "sqlite_backend", "sqlite_store", "store"]


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


def test_statement_failing_inside_a_batch_rolls_back_only_that_op(store: Store) -> None:
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


def test_read_only_write_fails_its_op_and_the_batch_goes_on(sqlite_store: Store) -> None:
    # query_only must be switched off in the same batch: with it on, BEGIN IMMEDIATE fails
    store = sqlite_store
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


def test_disk_full_fails_the_whole_batch_and_the_writer_recovers(sqlite_store: Store) -> None:
    """SQLITE_FULL aborts the transaction: every op of the batch errbacks with StoreError."""
    store = sqlite_store
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
        sqlite_store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """COMMIT itself failing (an I/O error at fsync) is injected: it cannot be provoked."""
    store = sqlite_store
    real_commit = sqlite_module._Conn.commit

    def commit(self: Any) -> None:  # fails any transaction holding a 'lost-*' message
        lost = self.db.execute(
            "SELECT count(*) FROM messages WHERE correlation_id LIKE 'lost-%'").fetchone()[0]
        if lost:
            raise sqlite3.OperationalError("disk I/O error")
        real_commit(self)

    monkeypatch.setattr(sqlite_module._Conn, "commit", commit)
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


class _SlowCommits:
    """A Transactional whose COMMIT takes a while, as a network round trip does."""

    def __init__(self, seen: list[str]) -> None:
        self.seen = seen

    def begin(self, durable: bool = True) -> None:
        pass

    def commit(self) -> None:
        import threading
        import time

        time.sleep(0.002)
        self.seen.append(threading.current_thread().name)

    def rollback(self) -> None:
        pass

    savepoint = release_savepoint = rollback_to_savepoint = close = rollback


def test_several_writers_commit_side_by_side_and_stop_cleanly(reactor_thread: Any) -> None:
    from engine.store.group_commit import GroupCommitter

    commits: list[str] = []
    writer = GroupCommitter(reactor_thread, lambda: _SlowCommits(commits), max_batch=10,
                            threaded=True, isolate="retry", name="w", writers=3)
    writer.start()

    def submit_all() -> defer.Deferred[Any]:
        return defer.DeferredList([writer.submit(lambda conn, n=n: n) for n in range(300)],
                                  consumeErrors=True)

    results = run_in_reactor(submit_all)
    assert [value for ok, value in results] == list(range(300))
    assert all(ok for ok, _ in results)
    assert len(set(commits)) > 1  # more than one writer thread committed
    run_in_reactor(writer.stop)  # returns: every writer took its stop
    assert not writer.alive


def test_outcomes_of_several_workers_in_one_batch_share_one_write(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """Completes waiting together are written in one call; each delivery gets its own."""
    from engine.store.base import Outcome
    from engine.store.group_commit import ListOp
    from tests.unit.store_suite import claim

    for n in range(4):
        ingest(store, make_record(correlation_id=f"m{n}"))
    sent, retried, released, dead = claim(store, limit=4)
    calls: list[int] = []
    real = ListOp.run_many

    def counting(conn: Any, ops: list[ListOp]) -> list[None]:
        calls.append(len(ops))
        return real(conn, ops)

    monkeypatch.setattr(ListOp, "run_many", staticmethod(counting))
    results, batches = in_one_batch(store, [
        lambda: store.complete([Outcome(sent.delivery_id, "sent")]),
        lambda: store.complete([Outcome(retried.delivery_id, "retry", error="busy",
                                        next_attempt_at=0.0)]),
        lambda: store.complete([Outcome(released.delivery_id, "release", counted=False)]),
        lambda: store.complete([Outcome(dead.delivery_id, "dead", error="AR")]),
    ])
    assert all(ok for ok, _ in results)
    if committer(store)._threaded:
        # a second writer thread may take the first outcomes before the rest are queued
        assert sum(calls) == 4
    else:
        assert calls == [4] and batches == 2
    states = []
    for item in (sent, retried, released, dead):
        (delivery,) = message(store, item.message_id)["deliveries"]
        states.append((delivery["status"], delivery["attempts"], delivery["last_error"]))
    assert states == [("sent", 1, None), ("queued", 1, "busy"), ("queued", 0, None),
                      ("dead", 1, "AR")]


def test_a_new_sqlite_database_uses_small_pages_and_an_old_one_keeps_its_own(
        tmp_path: Path, reactor_thread: Any) -> None:
    fresh = sqlite_module.SqliteStore(str(tmp_path / "new.db"), reactor_thread)
    fresh.open()
    fresh.close()
    old_path = tmp_path / "old.db"
    with sqlite3.connect(old_path) as db:  # made by an earlier version, with 4096-byte pages
        db.execute("PRAGMA page_size=4096")
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("CREATE TABLE t (x)")
    db.close()
    old = sqlite_module.SqliteStore(str(old_path), reactor_thread)
    old.open()
    old.close()
    sizes = []
    for path in (tmp_path / "new.db", old_path):
        db = sqlite3.connect(path)
        sizes.append(db.execute("PRAGMA page_size").fetchone()[0])
        db.close()
    assert sizes == [sqlite_module.PAGE_SIZE, 4096]
    assert sqlite_module.PAGE_SIZE == 2048


def test_sqlite_writer_keeps_its_savepoint_journal_in_memory(sqlite_store: Store) -> None:
    # 2 = MEMORY: a group commit's savepoint journal never spills to a new temp file
    assert run_in_reactor(committer(sqlite_store).submit, raw_sql("PRAGMA temp_store")) \
        == [(2,)]
