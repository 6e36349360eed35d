"""Group commit: every write waiting at a moment runs in one transaction.

Callers on the reactor thread submit ``op(conn) -> result``; each gets a Deferred that
fires (on the reactor thread) only after the transaction holding its op has committed.

Two ways to run the transaction, same contract:
- inline (default, for an embedded store): the batch runs on the reactor thread in a
  ``callLater(0)`` after the current I/O round, so every message read in that round shares
  one commit. Measured faster here than a writer thread, whose GIL hand-offs cost more than
  the fsync it overlaps.
- threaded (for a network database whose commit is a round trip): `writers` threads, each
  with its own connection, drain everything queued while their previous commit was in flight;
  with two or more, one collects the next batch while another waits for its COMMIT. Their
  transactions are concurrent, as those of several nodes are (the store is built for that).

Ops of one kind may share statements: neighbouring ops with the same `run_many` run as
one unit (both backends ingest all messages of a batch with a few statements).

A failing op must fail alone. SQLite runs each unit of a batch in a savepoint (free, in
process) and, if a shared unit fails, runs its ops again one by one; over a network each
savepoint costs two round trips, so there ops run bare and, only if one fails, the batch
is rolled back and every op retried in its own transaction.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import Any, Literal, Protocol

from twisted.internet.defer import Deferred

from .. import metrics
from ..errors import StoreError

log = logging.getLogger("plexus.store")

Op = Callable[[Any], Any]
Result = tuple[Deferred[Any], bool, Any]


class Transactional(Protocol):
    """What the committer needs from a backend connection."""

    def begin(self, durable: bool = True) -> None: ...
    def commit(self) -> None: ...
    def rollback(self) -> None: ...
    def savepoint(self) -> None: ...
    def release_savepoint(self) -> None: ...
    def rollback_to_savepoint(self) -> None: ...
    def close(self) -> None: ...


_STOP = object()


class ListOp:
    """An op that writes a list of items with `write(conn, items)` and has no result; the
    ListOps waiting in one batch run as one call on all their items (delivery outcomes)."""

    __slots__ = ("write", "items")

    def __init__(self, write: Callable[[Any, list[Any]], None], items: list[Any]) -> None:
        self.write = write
        self.items = items

    def __call__(self, conn: Any) -> None:
        self.write(conn, self.items)

    @staticmethod
    def run_many(conn: Any, ops: list[ListOp]) -> list[None]:
        write = ops[0].write
        if all(op.write is write for op in ops):
            write(conn, [item for op in ops for item in op.items])
        else:
            for op in ops:
                op(conn)
        return [None] * len(ops)


class GroupCommitter:
    """Owns the write connection; batches ops from any number of callers."""

    def __init__(self, reactor: Any, connect: Callable[[], Transactional],
                 max_batch: int = 1000, threaded: bool = False,
                 isolate: Literal["savepoint", "retry"] = "savepoint",
                 name: str = "plexus-writer", writers: int = 1) -> None:
        self._reactor = reactor
        self._connect = connect
        self._max_batch = max_batch
        self._threaded = threaded
        self._isolate = isolate
        self._conn: Transactional | None = None
        self._pending: list[tuple[Op, Deferred[Any], bool]] = []
        self._flush_call: Any = None
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._threads = [threading.Thread(target=self._run_thread, daemon=True,
                                          name=name if n == 0 else f"{name}-{n + 1}")
                         for n in range(max(1, writers) if threaded else 1)]
        self._started = threading.Semaphore(0)
        self._error: BaseException | None = None
        self._open = False
        self.batches = 0
        self.ops = 0

    @property
    def alive(self) -> bool:
        """True while writes are accepted."""
        return self._open and (not self._threaded
                               or all(t.is_alive() for t in self._threads))

    def start(self) -> None:
        """Open the write connection and start accepting ops."""
        if self._threaded:
            for thread in self._threads:
                thread.start()
            for _ in self._threads:
                self._started.acquire()
        else:
            try:
                self._conn = self._connect()
            except Exception as exc:  # noqa: BLE001 - reported below
                self._error = exc
        if self._error is not None:
            raise StoreError(f"cannot open the store: {self._error}") from self._error
        self._open = True

    def stop(self) -> None:
        """Commit what was submitted, then close (call on the reactor thread)."""
        if not self._open:
            return
        self._open = False
        if self._threaded:
            for _ in self._threads:
                self._queue.put(_STOP)
            for thread in self._threads:
                thread.join()
            return
        if self._flush_call is not None and self._flush_call.active():
            self._flush_call.cancel()
        while self._pending:
            self._flush()
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def submit(self, op: Op, durable: bool = True) -> Deferred[Any]:
        """Run op(conn) in the next transaction; the Deferred fires after COMMIT.

        A batch is flushed to disk (fsync) when any of its ops is durable; bookkeeping that
        may be lost in a power failure (leases, delivery outcomes: at worst a resend) passes
        durable=False and then costs no fsync of its own.
        """
        d: Deferred[Any] = Deferred()
        if not self.alive:
            d.errback(StoreError("the store is closed"))
        elif self._threaded:
            self._queue.put((op, d, durable))
        else:
            self._pending.append((op, d, durable))
            if self._flush_call is None:
                self._flush_call = self._reactor.callLater(0, self._flush)
        return d

    # -- inline ------------------------------------------------------------------
    def _flush(self) -> None:
        self._flush_call = None
        batch = self._pending[:self._max_batch]
        del self._pending[:self._max_batch]
        if self._pending:
            self._flush_call = self._reactor.callLater(0, self._flush)
        assert self._conn is not None
        _fire_all(self._execute(self._conn, batch))

    # -- threaded ----------------------------------------------------------------
    def _run_thread(self) -> None:
        try:
            conn = self._connect()
        except Exception as exc:  # noqa: BLE001 - reported to start()
            self._error = exc
            self._started.release()
            return
        self._started.release()
        stopping = False
        while not stopping:
            batch = [self._queue.get()]
            while len(batch) < self._max_batch:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            if _STOP in batch:
                stopping = True
                for _ in range(batch.count(_STOP) - 1):  # one each: the others' to take
                    self._queue.put(_STOP)
                batch = [item for item in batch if item is not _STOP]
            if batch:
                self._reactor.callFromThread(_fire_all, self._execute(conn, batch))
                if getattr(conn, "broken", False):
                    conn = self._reconnect(conn)
        conn.close()

    def _reconnect(self, conn: Transactional) -> Transactional:
        """A new connection after the old one broke (database restart, network cut)."""
        try:
            conn.close()
        except Exception:  # noqa: BLE001 - it is broken already
            pass
        try:
            fresh = self._connect()
        except Exception as exc:  # noqa: BLE001 - the next batch fails and tries again
            log.error("store reconnect failed: %s", exc)
            return conn
        log.info("store writer reconnected")
        return fresh

    # -- both ----------------------------------------------------------------------
    def _execute(self, conn: Transactional, batch: list[tuple[Op, Deferred[Any], bool]]
                 ) -> list[Result]:
        """One transaction for the batch; a failing op fails alone, a failing commit all."""
        if self._isolate == "retry" and len(batch) > 1:
            results, op_failed = self._run(conn, batch, isolate=False)
            if op_failed:
                # one op failed and took the transaction with it: retry each on its own
                results = [r for item in batch for r in self._run(conn, [item], False)[0]]
        else:
            # savepoints isolate units from each other; a batch of one needs none
            results = self._run(conn, batch, isolate=len(batch) > 1)[0]
        self.batches += 1
        self.ops += len(batch)
        metrics.STORE_COMMIT_BATCH.observe(len(batch))
        return results

    def _run(self, conn: Transactional, batch: list[tuple[Op, Deferred[Any], bool]],
             isolate: bool) -> tuple[list[Result], bool]:
        """Run a batch in one transaction; also says whether an op (not the commit) failed.

        With isolate, each unit runs in a savepoint; a shared unit that fails is rolled
        back and its ops run again one by one, so only the failing op fails.
        """
        results: list[Result] = []
        op_failed = False
        try:
            conn.begin(any(durable for _, _, durable in batch))
            for unit in _coalesced(batch):
                failure = _run_unit(conn, unit, results, isolate)
                if failure is not None and isolate and len(unit) > 1:
                    for item in unit:
                        single = _run_unit(conn, [item], results, True)
                        if single is not None:
                            results.append((item[1], False, single))
                            op_failed = True
                elif failure is not None:
                    results.extend((d, False, failure) for _, d, _ in unit)
                    op_failed = True
                    if not isolate and len(batch) > 1:
                        break  # the transaction is lost: the caller retries op by op
            if isolate or not op_failed:
                conn.commit()
            else:
                conn.rollback()
        except Exception as exc:
            log.error("store commit failed: %s", exc)
            try:
                conn.rollback()
            except Exception:  # noqa: BLE001 - the connection may be gone already
                pass
            error = StoreError(f"store commit failed: {exc}")
            return [(d, False, error) for _, d, _ in batch], False
        return results, op_failed


def _run_unit(conn: Transactional, unit: list[tuple[Op, Deferred[Any], bool]],
              results: list[Result], guard: bool) -> StoreError | None:
    """Run one unit (in a savepoint when guarded); its error, or None with results added."""
    if guard:
        conn.savepoint()
    try:
        values = _call(conn, [op for op, _, _ in unit])
    except Exception as exc:  # one bad op must not sink the batch
        if guard:
            conn.rollback_to_savepoint()
        failed = StoreError(f"store write failed: {exc}")
        failed.__cause__ = exc
        return failed
    if guard:
        conn.release_savepoint()
    results.extend((d, True, v) for (_, d, _), v in zip(unit, values, strict=True))
    return None


def _coalesced(batch: list[tuple[Op, Deferred[Any], bool]]
               ) -> list[list[tuple[Op, Deferred[Any], bool]]]:
    """Neighbouring ops that share a `run_many` run as one unit (one statement)."""
    units: list[list[tuple[Op, Deferred[Any], bool]]] = []
    for item in batch:
        run_many = getattr(item[0], "run_many", None)
        if run_many is not None and units and getattr(units[-1][0][0], "run_many",
                                                      None) is run_many:
            units[-1].append(item)
        else:
            units.append([item])
    return units


def _call(conn: Any, ops: list[Op]) -> list[Any]:
    """Results of a unit: one op called alone, or several through their shared run_many."""
    if len(ops) == 1:
        return [ops[0](conn)]
    results: list[Any] = ops[0].run_many(conn, ops)  # type: ignore[attr-defined]
    return results


def _fire_all(results: list[Result]) -> None:
    for d, ok, value in results:
        if ok:
            d.callback(value)
        else:
            d.errback(value)
