"""SQLite backend (the embedded default): WAL, synchronous=FULL, group commit."""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import time
from typing import Any

from twisted.internet.defer import Deferred

from ..errors import StoreError
from . import queries, sqlite_sql
from .base import (
    IngestRecord,
    IngestResult,
    MessageSummary,
    Outcome,
    QueueItem,
    QueueStats,
    Store,
    StoredResource,
)
from .group_commit import GroupCommitter, ListOp
from .schema import SCHEMA_VERSION, SQLITE_SCHEMA

# A group commit writes every page it dirtied to the WAL, and the fsync's cost grows with
# the bytes: each message dirties a leaf in several indexes, so smaller pages mean fewer
# bytes per commit. benchmarks/mllp_throughput.py --receive-only (8 connections): 2048 gave
# about 7% more ACKs/s than 4096 and 1024 about 15%, but 1024 made 200 KB messages 25%
# slower (benchmarks/store_throughput.py); 2048 kept them level with 4096.
PAGE_SIZE = 2048

_PRUNE_CONTENT = queries.prune_content_sql("= ?", "1")
_PURGE = queries.purge_sql("= ?")


class _Conn:
    """A sqlite3 connection with the explicit transaction calls the committer uses."""

    def __init__(self, path: str) -> None:
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False,
                                  timeout=30.0)
        self.db.execute(f"PRAGMA page_size={PAGE_SIZE}")  # new databases only
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.execute("PRAGMA foreign_keys=OFF")
        self.db.execute("PRAGMA busy_timeout=30000")
        # the savepoint journal of a group commit spilled to a new temp file ~37 times a
        # second under load (create, unlink: file system work per batch); it is bounded by
        # the batch, so keep it in memory
        self.db.execute("PRAGMA temp_store=MEMORY")
        self._durable = True

    def begin(self, durable: bool = True) -> None:
        # WAL + synchronous=NORMAL commits without fsync; the next FULL commit syncs the
        # WAL up to and including these frames, so ordering and durability of ACKed
        # messages are unchanged
        if durable != self._durable:
            self.db.execute("PRAGMA synchronous=" + ("FULL" if durable else "NORMAL"))
            self._durable = durable
        self.db.execute("BEGIN IMMEDIATE")

    def commit(self) -> None:
        self.db.execute("COMMIT")

    def rollback(self) -> None:
        self.db.execute("ROLLBACK")

    def savepoint(self) -> None:
        self.db.execute("SAVEPOINT op")

    def release_savepoint(self) -> None:
        self.db.execute("RELEASE op")

    def rollback_to_savepoint(self) -> None:
        self.db.execute("ROLLBACK TO op")
        self.db.execute("RELEASE op")

    def close(self) -> None:
        self.db.close()


class _IngestOp:
    """A group-commit op; the ingests waiting in one batch share their statements."""

    __slots__ = ("record",)

    def __init__(self, record: IngestRecord) -> None:
        self.record = record

    def __call__(self, conn: _Conn) -> IngestResult:
        return sqlite_sql.ingest_many(conn.db, [self.record])[0]

    @staticmethod
    def run_many(conn: _Conn, ops: list[_IngestOp]) -> list[IngestResult]:
        return sqlite_sql.ingest_many(conn.db, [op.record for op in ops])


def _complete(conn: _Conn, outcomes: list[Outcome]) -> None:
    sqlite_sql.complete(conn.db, outcomes)


class SqliteStore(Store):
    """Messages, contents and destination queues in one SQLite file."""

    def __init__(self, path: str, reactor: Any = None, max_batch: int = 1000,
                 commit_thread: bool = False) -> None:
        self.path = path
        self._reactor = reactor
        self._max_batch = max_batch
        self._commit_thread = commit_thread
        self._lock_fd: int | None = None
        self._local = threading.local()

    # -- lifecycle ---------------------------------------------------------------
    def open(self) -> None:
        """Create the schema if needed and start the group-commit writer."""
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        if self._reactor is not None:
            self._lock_fd = _lock_exclusively(self.path + ".lock")
        conn = _Conn(self.path)
        try:
            self._migrate(conn.db)
            if self._reactor is not None:
                # one engine owns an SQLite store (the lock above): leases of a process
                # that died are void, so its claimed work is taken up at once
                conn.db.execute("UPDATE deliveries SET lease_until = 0 "
                                "WHERE status = 'queued' AND lease_until > 0")
        finally:
            conn.close()
        if self._reactor is not None:
            self._committer = GroupCommitter(self._reactor, lambda: _Conn(self.path),
                                             self._max_batch, threaded=self._commit_thread)
            self._committer.start()

    def close(self) -> None:
        """Stop the writer after it has committed what it was given."""
        if self._committer is not None:
            self._committer.stop()
            self._committer = None
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def _migrate(self, db: sqlite3.Connection) -> None:
        db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        row = db.execute("SELECT max(version) FROM schema_version").fetchone()
        current = row[0] or 0
        if current > SCHEMA_VERSION:
            raise RuntimeError(f"store schema {current} is newer than this Plexus "
                               f"({SCHEMA_VERSION})")
        for version in range(current + 1, SCHEMA_VERSION + 1):
            db.execute("BEGIN IMMEDIATE")
            for statement in SQLITE_SCHEMA[version]:
                db.execute(statement)
            db.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))
            db.execute("COMMIT")

    def _reader(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = _Conn(self.path).db
            self._local.db = db
        return db

    def _submit(self, op: Any, durable: bool = True) -> Deferred[Any]:
        return self._writer().submit(lambda conn: op(conn.db), durable)

    # -- writes ----------------------------------------------------------------------
    def ingest(self, record: IngestRecord) -> Deferred[IngestResult]:
        """Commit the message, its stages and queue rows in the next group commit."""
        return self._writer().submit(_IngestOp(record))

    def claim(self, channel: str, destination: str, limit: int, ordered: bool,
              lease_seconds: float) -> Deferred[list[QueueItem]]:
        """Lease due rows (ordered queues: only a due head and what follows it)."""
        return self._submit(lambda db: sqlite_sql.claim(db, channel, destination, limit, ordered,
                                                       lease_seconds), durable=False)

    def complete(self, outcomes: list[Outcome]) -> Deferred[None]:
        """Write back a batch of attempt outcomes (with those of other workers waiting)."""
        return self._writer().submit(ListOp(_complete, outcomes), durable=False)

    def next_number(self, name: str, count: int = 1) -> Deferred[int]:
        """Reserve numbers of a persistent counter, committed with the next group commit."""
        return self._submit(lambda db: db.execute(
            "INSERT INTO counters (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE "
            "SET value = value + excluded.value RETURNING value", (name, count)).fetchone()[0]
            - count + 1)

    # -- reads and admin actions -----------------------------------------------------
    def list_messages(self, channel: str | None = None, status: str | None = None,
                      correlation_id: str | None = None, business_key: str | None = None,
                      limit: int = 100, before_id: int | None = None) -> list[MessageSummary]:
        """Newest first, filtered by channel, status, correlation id or business key."""
        return queries.list_messages(self._reader(), "?", _derived_status, channel,
                                     status, correlation_id, business_key, limit, before_id)

    def get_message(self, message_id: int) -> dict[str, Any] | None:
        """The message row, its stages and each delivery with its attempts."""
        return queries.get_message(self._reader(), "?", _derived_status, "rowid", message_id)

    def queue_stats(self) -> list[QueueStats]:
        """Depth, dead count and oldest pending received time per destination."""
        return queries.queue_stats(self._reader().execute(queries.QUEUE_STATS_SQL))

    def replay(self, message_ids: list[int], destination: str | None = None) -> int:
        """Requeue deliveries of the given messages (all or one destination)."""
        db = self._reader()
        now = time.time()
        count = 0
        with _write(db):
            for message_id in message_ids:
                count += db.execute(*queries.requeue_query(
                    "?", "message_id = ?", [message_id], destination, now)).rowcount
        return count

    def replay_dead(self, channel: str, destination: str | None = None) -> int:
        """Requeue every dead delivery of a channel (or one destination)."""
        db = self._reader()
        with _write(db):
            return db.execute(*queries.requeue_query(
                "?", "status = 'dead' AND channel = ?", [channel], destination,
                time.time())).rowcount

    def get_resource(self, channel: str, resource_type: str, resource_id: str
                     ) -> StoredResource | None:
        """The current version of a resource."""
        return self._resource(False, (channel, resource_type, resource_id))

    def find_resources(self, channel: str, keys: list[str], limit: int = 2
                       ) -> list[StoredResource]:
        """Resources holding every one of the identifier keys (a conditional match)."""
        if not keys:
            return []
        sql = queries.find_resources_sql("?", f"IN ({','.join('?' * len(keys))})",
                                         "r.resource_type, r.resource_id")
        rows = self._reader().execute(sql, (channel, *keys, len(set(keys)), limit))
        return [queries.stored_resource(row) for row in rows]

    def resource_of_message(self, channel: str, message_id: int) -> StoredResource | None:
        """The first resource written with a message."""
        return self._resource(True, (channel, message_id))

    def _resource(self, by_message: bool, args: tuple[Any, ...]) -> StoredResource | None:
        row = self._reader().execute(
            queries.resource_sql("?", by_message, " ORDER BY rowid"), args).fetchone()
        return queries.stored_resource(row) if row else None

    def prune(self, channel: str, content_before: float, metadata_before: float,
              batch: int = 500) -> int:
        """Delete old contents, then old messages with no pending delivery, in one batch."""
        db = self._reader()
        with _write(db):
            # pending messages are left out in the query, else a batch of them would stall
            ids = db.execute(queries.prunable_sql("?", "AND content_pruned = 0 "),
                             (channel, content_before, batch)).fetchall()
            for sql in _PRUNE_CONTENT:
                db.executemany(sql, ids)
            old = db.execute(queries.prunable_sql("?"),
                             (channel, metadata_before, batch)).fetchall()
            for sql in _PURGE:
                db.executemany(sql, old)
            return len(ids) + len(old)


def _lock_exclusively(path: str) -> int:
    """Hold an exclusive lock on path for the life of the process (or until closed)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise StoreError(f"another Plexus process is using the store {path[:-5]} "
                         "(SQLite stores are single-node; use PostgreSQL for several nodes)"
                         ) from None
    return fd


class _write:
    """A short write transaction on a reader connection (admin actions, pruning)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> sqlite3.Connection:
        self.db.execute("BEGIN IMMEDIATE")
        return self.db

    def __exit__(self, exc_type: Any, *_: Any) -> None:
        self.db.execute("ROLLBACK" if exc_type else "COMMIT")


def _derived_status(db: sqlite3.Connection, ids: list[int]) -> dict[int, str]:
    """Delivery state (queued, dead, sent) of received messages by id."""
    result: dict[int, str] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        marks = ",".join("?" * len(chunk))
        result.update(queries.derived_statuses(db.execute(
            f"SELECT message_id, sum(status = 'queued'), sum(status = 'dead') "
            f"FROM deliveries WHERE message_id IN ({marks}) GROUP BY message_id", chunk)))
    return result
