"""PostgreSQL backend: several nodes share one database; group commit in a writer thread."""

from __future__ import annotations

import logging
import re
import threading
import time
from typing import Any

import psycopg
from twisted.internet.defer import Deferred

from ..errors import StoreError
from . import pg_sql, queries
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
from .pg_schema import PG_SCHEMA, PG_SCHEMA_VERSION

log = logging.getLogger("plexus.store")

_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_MIGRATION_LOCK = 0x504C5853  # "PLXS": one node migrates at a time
_PRUNE_CONTENT = queries.prune_content_sql("= ANY(%s)", "true")
_PURGE = queries.purge_sql("= ANY(%s)")


def connect(dsn: str, schema: str, node: str = "") -> psycopg.Connection[Any]:
    """An autocommit connection whose search_path is the store's schema."""
    if not _IDENTIFIER.fullmatch(schema):
        raise StoreError(f"invalid PostgreSQL schema name {schema!r}")
    try:
        db = psycopg.connect(dsn, autocommit=True,
                             application_name=f"plexus:{node}" if node else "plexus")
    except psycopg.Error as exc:
        raise StoreError(f"cannot connect to PostgreSQL: {exc}") from exc
    db.execute(f'SET search_path TO "{schema}"')
    return db


def schema_version(db: psycopg.Connection[Any]) -> int:
    """The schema version of the connected database (0 when empty)."""
    exists = db.execute("SELECT to_regclass('schema_version')").fetchone()
    if exists is None or exists[0] is None:
        return 0
    row = db.execute("SELECT max(version) FROM schema_version").fetchone()
    return int(row[0] or 0) if row else 0


def upgrade(dsn: str, schema: str, target: int = PG_SCHEMA_VERSION) -> tuple[int, int]:
    """Create or migrate the schema up to `target`; returns (from, to) versions."""
    if target > PG_SCHEMA_VERSION:
        raise StoreError(f"unknown schema version {target} (latest {PG_SCHEMA_VERSION})")
    db = connect(dsn, schema)
    try:
        db.execute("SELECT pg_advisory_lock(%s)", (_MIGRATION_LOCK,))
        db.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL, "
                   "applied_at TIMESTAMPTZ NOT NULL DEFAULT now())")
        current = schema_version(db)
        if current > PG_SCHEMA_VERSION:
            raise StoreError(f"store schema {current} is newer than this Plexus "
                             f"({PG_SCHEMA_VERSION})")
        for version in range(current + 1, target + 1):
            with db.transaction():
                for statement in PG_SCHEMA[version]:
                    db.execute(statement)
                db.execute("INSERT INTO schema_version (version) VALUES (%s)", (version,))
            log.info("store schema migrated to version %d", version)
        return current, max(current, target)
    finally:
        db.execute("SELECT pg_advisory_unlock(%s)", (_MIGRATION_LOCK,))
        db.close()


class _Conn:
    """The writer's connection with the explicit transaction calls the committer uses."""

    def __init__(self, dsn: str, schema: str, node: str) -> None:
        self.db = connect(dsn, schema, node)
        # the batch statements are prepared once; planning them anew costs more than running
        self.db.prepare_threshold = 0
        self.db.execute("SET plan_cache_mode = force_generic_plan")
        self.cur = self.db.cursor()

    @property
    def broken(self) -> bool:
        """True when the server or the network dropped the connection."""
        return self.db.broken or self.db.closed

    def begin(self, durable: bool = True) -> None:
        # claims and outcomes may be lost in a crash (at worst a resend): no WAL flush wait
        self.cur.execute("BEGIN" if durable
                         else "BEGIN; SET LOCAL synchronous_commit TO off", prepare=False)

    def commit(self) -> None:
        self.cur.execute("COMMIT")

    def rollback(self) -> None:
        self.cur.execute("ROLLBACK")

    def savepoint(self) -> None:
        self.cur.execute("SAVEPOINT op")

    def release_savepoint(self) -> None:
        self.cur.execute("RELEASE SAVEPOINT op")

    def rollback_to_savepoint(self) -> None:
        self.cur.execute("ROLLBACK TO SAVEPOINT op")

    def close(self) -> None:
        self.db.close()


class _IngestOp:
    """A group-commit op; every ingest waiting in a batch shares one statement."""

    __slots__ = ("record", "node")

    def __init__(self, record: IngestRecord, node: str) -> None:
        self.record = record
        self.node = node

    def __call__(self, conn: _Conn) -> IngestResult:
        return pg_sql.ingest_many(conn.cur, [self.record], self.node)[0]

    @staticmethod
    def run_many(conn: _Conn, ops: list[_IngestOp]) -> list[IngestResult]:
        return pg_sql.ingest_many(conn.cur, [op.record for op in ops], ops[0].node)


def _complete(conn: _Conn, outcomes: list[Outcome]) -> None:
    pg_sql.complete(conn.cur, outcomes)


class PostgresStore(Store):
    """Messages, contents and destination queues in one PostgreSQL schema, shared by nodes."""

    def __init__(self, dsn: str, schema: str = "plexus", reactor: Any = None, *,
                 node: str = "", max_batch: int = 1000, migrate: bool = True,
                 writers: int = 2) -> None:
        self.dsn = dsn
        self.schema = schema
        self.node = node or _default_node()
        self._reactor = reactor
        self._max_batch = max_batch
        self._migrate = migrate
        self._writers = writers
        self._local = threading.local()
        self._readers: list[psycopg.Connection[Any]] = []
        self._readers_lock = threading.Lock()

    # -- lifecycle ---------------------------------------------------------------
    def open(self) -> None:
        """Migrate (unless disabled), check the version and start the writer thread."""
        if self._migrate:
            upgrade(self.dsn, self.schema)
        db = connect(self.dsn, self.schema)
        try:
            version = schema_version(db)
            if version != PG_SCHEMA_VERSION:
                raise StoreError(f"store schema is version {version}, this Plexus needs "
                                 f"{PG_SCHEMA_VERSION}: run `plexus db upgrade`")
            # a restarted node with a fixed id takes its own leases back at once
            db.execute("UPDATE deliveries SET lease_until = 0, lease_owner = NULL "
                       "WHERE lease_owner = %s AND status = 'queued'", (self.node,))
            db.execute("DELETE FROM queue_leases WHERE owner = %s", (self.node,))
        finally:
            db.close()
        if self._reactor is not None:
            self._committer = GroupCommitter(
                self._reactor, lambda: _Conn(self.dsn, self.schema, self.node), self._max_batch,
                threaded=True, isolate="retry", name="plexus-pg-writer", writers=self._writers)
            self._committer.start()

    def close(self) -> None:
        """Commit what was submitted, give up this node's queue leases, close connections."""
        if self._committer is not None:
            self._committer.stop()
            self._committer = None
            try:
                with connect(self.dsn, self.schema) as db:
                    db.execute("DELETE FROM queue_leases WHERE owner = %s", (self.node,))
            except (StoreError, psycopg.Error) as exc:
                log.warning("could not release queue leases: %s", exc)
        with self._readers_lock:
            readers, self._readers = self._readers, []
        for db in readers:
            db.close()
        self._local = threading.local()

    def _reader(self) -> psycopg.Connection[Any]:
        db = getattr(self._local, "db", None)
        if db is None or db.closed:
            db = connect(self.dsn, self.schema, self.node)
            self._local.db = db
            with self._readers_lock:
                self._readers.append(db)
        return db

    def _submit(self, op: Any, durable: bool = True) -> Deferred[Any]:
        return self._writer().submit(lambda conn: op(conn.cur), durable)

    # -- writes ----------------------------------------------------------------------
    def ingest(self, record: IngestRecord) -> Deferred[IngestResult]:
        """Commit the message, its stages and queue rows in the next group commit."""
        return self._writer().submit(_IngestOp(record, self.node))

    def claim(self, channel: str, destination: str, limit: int, ordered: bool,
              lease_seconds: float) -> Deferred[list[QueueItem]]:
        """Lease due rows (SKIP LOCKED); ordered queues need the queue's lease first."""
        return self._submit(lambda cur: pg_sql.claim(cur, channel, destination, limit,
                                                     ordered, lease_seconds, self.node),
                            durable=False)

    def complete(self, outcomes: list[Outcome]) -> Deferred[None]:
        """Write back a batch of attempt outcomes (with those of other workers waiting)."""
        return self._writer().submit(ListOp(_complete, outcomes), durable=False)

    def next_number(self, name: str, count: int = 1) -> Deferred[int]:
        """Reserve numbers of a persistent counter shared by every node."""
        return self._submit(lambda cur: cur.execute(
            "INSERT INTO counters AS c (name, value) VALUES (%s, %s) ON CONFLICT (name) DO "
            "UPDATE SET value = c.value + excluded.value RETURNING value",
            (name, count)).fetchone()[0] - count + 1)

    # -- reads and admin actions -----------------------------------------------------
    def list_messages(self, channel: str | None = None, status: str | None = None,
                      correlation_id: str | None = None, business_key: str | None = None,
                      limit: int = 100, before_id: int | None = None) -> list[MessageSummary]:
        """Newest first, filtered by channel, status, correlation id or business key."""
        return queries.list_messages(self._reader(), "%s", _derived_status, channel,
                                     status, correlation_id, business_key, limit, before_id)

    def get_message(self, message_id: int) -> dict[str, Any] | None:
        """The message row, its stages and each delivery with its attempts."""
        return queries.get_message(self._reader(), "%s", _derived_status, "seq", message_id)

    def queue_stats(self) -> list[QueueStats]:
        """Depth, dead count and oldest pending item per queue: the truth all nodes share."""
        return queries.queue_stats(self._reader().execute(queries.QUEUE_STATS_SQL))

    def replay(self, message_ids: list[int], destination: str | None = None) -> int:
        """Requeue deliveries of the given messages (all or one destination)."""
        return self._reader().execute(*queries.requeue_query(
            "%s", "message_id = ANY(%s)", [message_ids], destination, time.time(),
            pg_sql.CLEAR_OWNER)).rowcount

    def replay_dead(self, channel: str, destination: str | None = None) -> int:
        """Requeue every dead delivery of a channel (or one destination)."""
        return self._reader().execute(*queries.requeue_query(
            "%s", "status = 'dead' AND channel = %s", [channel], destination, time.time(),
            pg_sql.CLEAR_OWNER)).rowcount

    def get_resource(self, channel: str, resource_type: str, resource_id: str
                     ) -> StoredResource | None:
        """The current version of a resource."""
        return self._resource(False, (channel, resource_type, resource_id))

    def find_resources(self, channel: str, keys: list[str], limit: int = 2
                       ) -> list[StoredResource]:
        """Resources holding every one of the identifier keys (a conditional match)."""
        if not keys:
            return []
        rows = self._reader().execute(
            queries.find_resources_sql("%s", "= ANY(%s)",
                                       "r.channel, r.resource_type, r.resource_id"),
            (channel, keys, len(set(keys)), limit))
        return [queries.stored_resource(row) for row in rows]

    def resource_of_message(self, channel: str, message_id: int) -> StoredResource | None:
        """The first resource written with a message."""
        return self._resource(True, (channel, message_id))

    def _resource(self, by_message: bool, args: tuple[Any, ...]) -> StoredResource | None:
        row = self._reader().execute(queries.resource_sql("%s", by_message), args).fetchone()
        return queries.stored_resource(row) if row else None

    def prune(self, channel: str, content_before: float, metadata_before: float,
              batch: int = 500) -> int:
        """Drop old contents, then old finished messages, one bounded batch each."""
        db = self._reader()
        with db.transaction():
            content_ids = [r[0] for r in db.execute(
                queries.prunable_sql("%s", "AND NOT content_pruned "),
                (channel, content_before, batch))]
            for sql in _PRUNE_CONTENT:
                db.execute(sql, (content_ids,))
            old = [r[0] for r in db.execute(
                queries.prunable_sql("%s"), (channel, metadata_before, batch))]
            for sql in _PURGE:
                db.execute(sql, (old,))
            db.execute("DELETE FROM idempotency WHERE channel = %s AND received_at < %s",
                       (channel, metadata_before))
        return len(content_ids) + len(old)


def _default_node() -> str:
    import os
    import socket
    return f"{socket.gethostname()}-{os.getpid()}"


def _derived_status(db: psycopg.Connection[Any], ids: list[int]) -> dict[int, str]:
    """Delivery state (queued, dead, sent) of received messages by id."""
    if not ids:
        return {}
    return queries.derived_statuses(db.execute(
        "SELECT message_id, count(*) FILTER (WHERE status = 'queued'), "
        "count(*) FILTER (WHERE status = 'dead') FROM deliveries "
        "WHERE message_id = ANY(%s) GROUP BY message_id", (ids,)))
