"""PostgreSQL backend: several nodes share one database; group commit in a writer thread."""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from typing import Any

import psycopg
from twisted.internet.defer import Deferred

from ..errors import StoreError
from . import pg_sql
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
from .group_commit import GroupCommitter
from .pg_schema import PG_SCHEMA, PG_SCHEMA_VERSION

log = logging.getLogger("plexus.store")

_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_MIGRATION_LOCK = 0x504C5853  # "PLXS": one node migrates at a time

_LIST_STATUS_SQL = {
    "queued": "m.status = 'received' AND EXISTS (SELECT 1 FROM deliveries d WHERE "
              "d.message_id = m.id AND d.status = 'queued')",
    "dead": "m.status = 'received' AND EXISTS (SELECT 1 FROM deliveries d WHERE "
            "d.message_id = m.id AND d.status = 'dead') AND NOT EXISTS (SELECT 1 FROM "
            "deliveries d WHERE d.message_id = m.id AND d.status = 'queued')",
    "sent": "m.status = 'received' AND EXISTS (SELECT 1 FROM deliveries d WHERE "
            "d.message_id = m.id) AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE "
            "d.message_id = m.id AND d.status IN ('queued', 'dead'))",
    "received": "m.status = 'received' AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE "
                "d.message_id = m.id)",
}


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


class PostgresStore(Store):
    """Messages, contents and destination queues in one PostgreSQL schema, shared by nodes."""

    def __init__(self, dsn: str, schema: str = "plexus", reactor: Any = None, *,
                 node: str = "", max_batch: int = 1000, migrate: bool = True) -> None:
        self.dsn = dsn
        self.schema = schema
        self.node = node or _default_node()
        self._reactor = reactor
        self._max_batch = max_batch
        self._migrate = migrate
        self._committer: GroupCommitter | None = None
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
                threaded=True, isolate="retry", name="plexus-pg-writer")
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

    @property
    def writable(self) -> bool:
        """True while the writer thread accepts writes."""
        return self._committer is not None and self._committer.alive

    def _reader(self) -> psycopg.Connection[Any]:
        db = getattr(self._local, "db", None)
        if db is None or db.closed:
            db = connect(self.dsn, self.schema, self.node)
            self._local.db = db
            with self._readers_lock:
                self._readers.append(db)
        return db

    def _submit(self, op: Any, durable: bool = True) -> Deferred[Any]:
        if self._committer is None:
            raise RuntimeError("store opened without a reactor: writes are not available")
        return self._committer.submit(lambda conn: op(conn.cur), durable)

    # -- writes ----------------------------------------------------------------------
    def ingest(self, record: IngestRecord) -> Deferred[IngestResult]:
        """Commit the message, its stages and queue rows in the next group commit."""
        if self._committer is None:
            raise RuntimeError("store opened without a reactor: writes are not available")
        return self._committer.submit(_IngestOp(record, self.node))

    def claim(self, channel: str, destination: str, limit: int, ordered: bool,
              lease_seconds: float) -> Deferred[list[QueueItem]]:
        """Lease due rows (SKIP LOCKED); ordered queues need the queue's lease first."""
        return self._submit(lambda cur: pg_sql.claim(cur, channel, destination, limit,
                                                     ordered, lease_seconds, self.node),
                            durable=False)

    def complete(self, outcomes: list[Outcome]) -> Deferred[None]:
        """Write back a batch of attempt outcomes."""
        return self._submit(lambda cur: pg_sql.complete(cur, outcomes), durable=False)

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
        where, args = [], []
        for column, value in (("m.channel", channel), ("m.correlation_id", correlation_id),
                              ("m.business_key", business_key)):
            if value:
                where.append(f"{column} = %s")
                args.append(value)
        if before_id:
            where.append("m.id < %s")
            args.append(before_id)
        if status in _LIST_STATUS_SQL:
            where.append(_LIST_STATUS_SQL[status])
        elif status:
            where.append("m.status = %s")
            args.append(status)
        sql = ("SELECT m.id, m.channel, m.received_at, m.status, m.correlation_id, "
               "m.business_key, m.error FROM messages m")
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY m.id DESC LIMIT %s"
        args.append(limit)
        db = self._reader()
        rows = db.execute(sql, args).fetchall()
        derived = self._derived_status(db, [r[0] for r in rows if r[3] == "received"])
        return [MessageSummary(r[0], r[1], r[2], derived.get(r[0], r[3]), r[4], r[5], r[6])
                for r in rows]

    def _derived_status(self, db: psycopg.Connection[Any], ids: list[int]) -> dict[int, str]:
        if not ids:
            return {}
        return {
            message_id: "queued" if queued else ("dead" if dead else "sent")
            for message_id, queued, dead in db.execute(
                "SELECT message_id, count(*) FILTER (WHERE status = 'queued'), "
                "count(*) FILTER (WHERE status = 'dead') FROM deliveries "
                "WHERE message_id = ANY(%s) GROUP BY message_id", (ids,))}

    def get_message(self, message_id: int) -> dict[str, Any] | None:
        """The message row, its stages and each delivery with its attempts."""
        db = self._reader()
        keys = ("id", "channel", "received_at", "status", "content_type", "correlation_id",
                "business_key", "idempotency_key", "duplicate_of", "error", "metadata")
        row = db.execute(f"SELECT {', '.join(keys)} FROM messages WHERE id = %s",
                         (message_id,)).fetchone()
        if row is None:
            return None
        message = dict(zip(keys, row, strict=True))
        message["metadata"] = json.loads(message["metadata"] or "{}")
        if message["status"] == "received":
            message["status"] = self._derived_status(db, [message_id]).get(message_id,
                                                                            "received")
        message["stages"] = [
            {"stage": s, "part": p, "content_type": ct, "content": bytes(c)}
            for s, p, ct, c in db.execute(
                "SELECT stage, part, content_type, content FROM contents "
                "WHERE message_id = %s ORDER BY seq", (message_id,))]
        history: dict[int, list[dict[str, Any]]] = {}
        for delivery_id, a, at, o, e in db.execute(
                "SELECT a.delivery_id, a.attempt, a.at, a.outcome, a.error FROM attempts a "
                "JOIN deliveries d ON d.id = a.delivery_id WHERE d.message_id = %s "
                "ORDER BY a.delivery_id, a.attempt", (message_id,)):
            history.setdefault(delivery_id, []).append(
                {"attempt": a, "at": at, "outcome": o, "error": e})
        message["deliveries"] = [
            {"delivery_id": d[0], "part": d[1], "destination": d[2], "status": d[3],
             "attempts": d[4], "next_attempt_at": d[5], "last_error": d[6],
             "updated_at": d[7], "history": history.get(d[0], [])}
            for d in db.execute(
                "SELECT id, part, destination, status, attempts, next_attempt_at, last_error, "
                "updated_at FROM deliveries WHERE message_id = %s ORDER BY id",
                (message_id,))]
        return message

    def queue_stats(self) -> list[QueueStats]:
        """Depth, dead count and oldest pending item per queue: the truth all nodes share."""
        rows = self._reader().execute(
            "SELECT channel, destination, count(*) FILTER (WHERE status = 'queued'), "
            "count(*) FILTER (WHERE status = 'dead'), "
            "min(created_at) FILTER (WHERE status = 'queued') FROM deliveries "
            "WHERE status IN ('queued', 'dead') GROUP BY channel, destination").fetchall()
        return [QueueStats(c, d, q, x, o) for c, d, q, x, o in rows]

    def replay(self, message_ids: list[int], destination: str | None = None) -> int:
        """Requeue deliveries of the given messages (all or one destination)."""
        sql = ("UPDATE deliveries SET status = 'queued', next_attempt_at = %s, lease_until = 0, "
               "lease_owner = NULL, attempts = 0, updated_at = %s WHERE message_id = ANY(%s)")
        now = time.time()
        args: list[Any] = [now, now, message_ids]
        if destination:
            sql += " AND destination = %s"
            args.append(destination)
        return self._reader().execute(sql, args).rowcount

    def replay_dead(self, channel: str, destination: str | None = None) -> int:
        """Requeue every dead delivery of a channel (or one destination)."""
        sql = ("UPDATE deliveries SET status = 'queued', next_attempt_at = %s, lease_until = 0, "
               "lease_owner = NULL, attempts = 0, updated_at = %s "
               "WHERE status = 'dead' AND channel = %s")
        now = time.time()
        args: list[Any] = [now, now, channel]
        if destination:
            sql += " AND destination = %s"
            args.append(destination)
        return self._reader().execute(sql, args).rowcount

    def get_resource(self, channel: str, resource_type: str, resource_id: str
                     ) -> StoredResource | None:
        """The current version of a resource."""
        return self._resource("r.resource_type = %s AND r.resource_id = %s",
                              (channel, resource_type, resource_id))

    def find_resources(self, channel: str, keys: list[str], limit: int = 2
                       ) -> list[StoredResource]:
        """Resources holding every one of the identifier keys (a conditional match)."""
        if not keys:
            return []
        rows = self._reader().execute(
            "SELECT r.resource_type, r.resource_id, r.version, r.content, r.message_id, "
            "r.updated_at FROM resources r JOIN resource_keys k ON k.channel = r.channel AND "
            "k.resource_type = r.resource_type AND k.resource_id = r.resource_id "
            "WHERE r.channel = %s AND k.key = ANY(%s) GROUP BY r.channel, r.resource_type, "
            "r.resource_id HAVING count(DISTINCT k.key) = %s LIMIT %s",
            (channel, keys, len(set(keys)), limit)).fetchall()
        return [StoredResource(r[0], r[1], r[2], bytes(r[3]), r[4], r[5]) for r in rows]

    def resource_of_message(self, channel: str, message_id: int) -> StoredResource | None:
        """The first resource written with a message."""
        return self._resource("r.message_id = %s", (channel, message_id))

    def _resource(self, where: str, args: tuple[Any, ...]) -> StoredResource | None:
        row = self._reader().execute(
            "SELECT resource_type, resource_id, version, content, message_id, updated_at "
            f"FROM resources r WHERE r.channel = %s AND {where} LIMIT 1", args).fetchone()
        if row is None:
            return None
        return StoredResource(row[0], row[1], row[2], bytes(row[3]), row[4], row[5])

    def prune(self, channel: str, content_before: float, metadata_before: float,
              batch: int = 500) -> int:
        """Drop old contents, then old finished messages, one bounded batch each."""
        db = self._reader()
        pending = ("NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.message_id = m.id "
                   "AND d.status = 'queued')")
        with db.transaction():
            content_ids = [r[0] for r in db.execute(
                f"SELECT id FROM messages m WHERE channel = %s AND received_at < %s "
                f"AND NOT content_pruned AND {pending} ORDER BY id LIMIT %s",
                (channel, content_before, batch))]
            db.execute("DELETE FROM contents WHERE message_id = ANY(%s)", (content_ids,))
            db.execute("UPDATE messages SET content_pruned = true WHERE id = ANY(%s)",
                       (content_ids,))
            old = [r[0] for r in db.execute(
                f"SELECT id FROM messages m WHERE channel = %s AND received_at < %s "
                f"AND {pending} ORDER BY id LIMIT %s", (channel, metadata_before, batch))]
            db.execute("DELETE FROM attempts WHERE delivery_id IN (SELECT id FROM deliveries "
                       "WHERE message_id = ANY(%s))", (old,))
            db.execute("DELETE FROM deliveries WHERE message_id = ANY(%s)", (old,))
            db.execute("DELETE FROM contents WHERE message_id = ANY(%s)", (old,))
            db.execute("DELETE FROM messages WHERE id = ANY(%s)", (old,))
            db.execute("DELETE FROM idempotency WHERE channel = %s AND received_at < %s",
                       (channel, metadata_before))
        return len(content_ids) + len(old)


def _default_node() -> str:
    import os
    import socket
    return f"{socket.gethostname()}-{os.getpid()}"
