"""Group commit: one writer thread runs every waiting write in a single transaction.

Callers on the reactor thread submit ``op(conn) -> result``; each gets a Deferred that
fires (on the reactor thread) only after the transaction holding its op has committed.
While one commit is in its fsync, new ops pile up and share the next transaction.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import Any, Protocol

from twisted.internet.defer import Deferred

from ..errors import StoreError

log = logging.getLogger("plexus.store")

Op = Callable[[Any], Any]


class Transactional(Protocol):
    """What the committer needs from a backend connection."""

    def begin(self) -> None: ...
    def commit(self) -> None: ...
    def rollback(self) -> None: ...
    def savepoint(self) -> None: ...
    def release_savepoint(self) -> None: ...
    def rollback_to_savepoint(self) -> None: ...


_STOP = object()


class GroupCommitter:
    """Owns the write connection; batches ops from any number of callers."""

    def __init__(self, reactor: Any, connect: Callable[[], Transactional],
                 max_batch: int = 1000, name: str = "plexus-writer") -> None:
        self._reactor = reactor
        self._connect = connect
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._started = threading.Event()
        self._error: BaseException | None = None
        self.batches = 0
        self.ops = 0

    def start(self) -> None:
        """Open the connection in the writer thread and start serving ops."""
        self._thread.start()
        self._started.wait()
        if self._error is not None:
            raise StoreError(f"cannot open the store: {self._error}") from self._error

    def stop(self) -> None:
        """Finish the ops already submitted, then close."""
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join()

    def submit(self, op: Op) -> Deferred[Any]:
        """Run op(conn) in the next transaction; the Deferred fires after COMMIT."""
        d: Deferred[Any] = Deferred()
        if not self._thread.is_alive():
            d.errback(StoreError("the store is closed"))
            return d
        self._queue.put((op, d))
        return d

    def _run(self) -> None:
        try:
            conn = self._connect()
        except BaseException as exc:  # noqa: BLE001 - reported to start()
            self._error = exc
            self._started.set()
            return
        self._started.set()
        stopping = False
        while not stopping:
            batch = [self._queue.get()]
            while len(batch) < self._max_batch:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            if batch[-1] is _STOP or _STOP in batch:
                stopping = True
                batch = [item for item in batch if item is not _STOP]
            if batch:
                self._run_batch(conn, batch)
        close = getattr(conn, "close", None)
        if close is not None:
            close()

    def _run_batch(self, conn: Transactional, batch: list[tuple[Op, Deferred[Any]]]) -> None:
        results: list[tuple[Deferred[Any], bool, Any]] = []
        try:
            conn.begin()
            for op, d in batch:
                conn.savepoint()
                try:
                    result = op(conn)
                except Exception as exc:  # one bad op must not sink the batch
                    conn.rollback_to_savepoint()
                    failed = StoreError(f"store write failed: {exc}")
                    failed.__cause__ = exc
                    results.append((d, False, failed))
                else:
                    conn.release_savepoint()
                    results.append((d, True, result))
            conn.commit()
        except Exception as exc:
            log.error("store commit failed: %s", exc)
            try:
                conn.rollback()
            except Exception:  # noqa: BLE001 - the connection may be gone already
                pass
            error = StoreError(f"store commit failed: {exc}")
            results = [(d, False, error) for _, d in batch]
        self.batches += 1
        self.ops += len(batch)
        self._reactor.callFromThread(_fire_all, results)


def _fire_all(results: list[tuple[Deferred[Any], bool, Any]]) -> None:
    for d, ok, value in results:
        if ok:
            d.callback(value)
        else:
            d.errback(value)
