"""SQL, row mapping and reads both store backends share.

Builders take the driver's placeholder (`mark`: "?" for sqlite3, "%s" for psycopg) and, where
the dialects part, the fragment each backend passes in. The two reads that are the same on
both (list_messages, get_message) run on the connection a backend hands them; every other
statement is run by the backend. Statements of the hot path (complete) are built once, when a
backend module loads. Both drivers load BLOB and bytea columns as bytes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from .base import (
    MessageSummary,
    Outcome,
    QueueItem,
    QueueStats,
    ResourceConflict,
    ResourceWrite,
    StoredResource,
)

# `plexus messages list --status`: routed messages show the state of their deliveries;
# 'received' is one with no deliveries
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
# a message with a delivery still queued; pruning leaves these alone
_PENDING = ("NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.message_id = m.id "
           "AND d.status = 'queued')")

_MESSAGE_COLUMNS = ("id", "channel", "received_at", "status", "content_type", "correlation_id",
                   "business_key", "idempotency_key", "duplicate_of", "error", "metadata")

_RESOURCE_COLUMNS = ("r.resource_type, r.resource_id, r.version, r.content, r.message_id, "
                     "r.updated_at")


class Connection(Protocol):
    """What the shared reads use of a sqlite3 or psycopg connection."""

    def execute(self, sql: Any, params: Any, /) -> Any:
        """Run one statement; the cursor returned has fetchone and fetchall."""


# the delivery state of received messages by id: a backend's own aggregate query
DeriveStatus = Callable[[Connection, list[int]], dict[int, str]]


# -- listing and message detail ------------------------------------------------------
def list_messages(db: Connection, mark: str, derive: DeriveStatus, channel: str | None,
                  status: str | None, correlation_id: str | None, business_key: str | None,
                  limit: int, before_id: int | None) -> list[MessageSummary]:
    """`Store.list_messages`: newest first, filtered; a received message shows the state
    of its deliveries."""
    where: list[str] = []
    args: list[Any] = []
    for column, value in (("m.channel", channel), ("m.correlation_id", correlation_id),
                          ("m.business_key", business_key)):
        if value:
            where.append(f"{column} = {mark}")
            args.append(value)
    if before_id:
        where.append(f"m.id < {mark}")
        args.append(before_id)
    if status in _LIST_STATUS_SQL:
        where.append(_LIST_STATUS_SQL[status])
    elif status:
        where.append(f"m.status = {mark}")
        args.append(status)
    sql = ("SELECT m.id, m.channel, m.received_at, m.status, m.correlation_id, "
           "m.business_key, m.error FROM messages m")
    if where:
        sql += " WHERE " + " AND ".join(where)
    args.append(limit)
    rows = db.execute(sql + f" ORDER BY m.id DESC LIMIT {mark}", args).fetchall()
    derived = derive(db, [r[0] for r in rows if r[3] == "received"])
    return [MessageSummary(r[0], r[1], r[2], derived.get(r[0], r[3]), r[4], r[5], r[6])
            for r in rows]


def derived_statuses(rows: Iterable[Sequence[Any]]) -> dict[int, str]:
    """Message id -> queued, dead or sent, from (message id, queued, dead) count rows."""
    return {message_id: "queued" if queued else ("dead" if dead else "sent")
            for message_id, queued, dead in rows}


def get_message(db: Connection, mark: str, derive: DeriveStatus, stage_order: str,
                message_id: int) -> dict[str, Any] | None:
    """`Store.get_message`: the row, the stages in the order (a column) they were written,
    each delivery with its attempts."""
    args = (message_id,)
    row = db.execute(f"SELECT {', '.join(_MESSAGE_COLUMNS)} FROM messages WHERE id = {mark}",
                     args).fetchone()
    if row is None:
        return None
    message = dict(zip(_MESSAGE_COLUMNS, row, strict=True))
    message["metadata"] = json.loads(message["metadata"] or "{}")
    if message["status"] == "received":
        message["status"] = derive(db, [message_id]).get(message_id, "received")
    message["stages"] = [
        {"stage": s, "part": p, "content_type": ct, "content": c}
        for s, p, ct, c in db.execute(
            "SELECT stage, part, content_type, content FROM contents "
            f"WHERE message_id = {mark} ORDER BY {stage_order}", args).fetchall()]
    history: dict[int, list[dict[str, Any]]] = {}
    for delivery_id, a, at, o, e in db.execute(
            "SELECT a.delivery_id, a.attempt, a.at, a.outcome, a.error FROM attempts a "
            f"JOIN deliveries d ON d.id = a.delivery_id WHERE d.message_id = {mark} "
            "ORDER BY a.delivery_id, a.attempt", args).fetchall():
        history.setdefault(delivery_id, []).append(
            {"attempt": a, "at": at, "outcome": o, "error": e})
    message["deliveries"] = [
        {"delivery_id": d[0], "part": d[1], "destination": d[2], "status": d[3],
         "attempts": d[4], "next_attempt_at": d[5], "last_error": d[6],
         "updated_at": d[7], "history": history.get(d[0], [])}
        for d in db.execute(
            "SELECT id, part, destination, status, attempts, next_attempt_at, last_error, "
            f"updated_at FROM deliveries WHERE message_id = {mark} ORDER BY id",
            args).fetchall()]
    return message


# -- queues ----------------------------------------------------------------------------
# Each arm reads one partial index (pending rows, dead rows), so the work grows with the
# queues, not with history; a single `status IN (...)` scanned the whole table on both
# backends (PostgreSQL: a parallel seq scan, 36 ms at 300,000 rows, every refresh).
QUEUE_STATS_SQL = (
    "SELECT channel, destination, sum(depth), sum(dead), min(oldest) FROM ("
    "SELECT channel, destination, count(*) AS depth, 0 AS dead, min(created_at) AS oldest "
    "FROM deliveries WHERE status = 'queued' GROUP BY channel, destination UNION ALL "
    "SELECT channel, destination, 0, count(*), NULL FROM deliveries WHERE status = 'dead' "
    "GROUP BY channel, destination) AS queues GROUP BY channel, destination")


def queue_stats(rows: Iterable[Sequence[Any]]) -> list[QueueStats]:
    """(channel, destination, queued, dead, oldest) rows as queue stats."""
    return [QueueStats(c, d, int(q or 0), int(x or 0), o) for c, d, q, x, o in rows]


def queue_items(rows: Iterable[Sequence[Any]], channel: str, destination: str
                ) -> list[QueueItem]:
    """Claimed rows (id, message, part, attempts, correlation, type, content, received,
    metadata) as queue items; a part with no transformed stage is an empty text body."""
    return [QueueItem(r[0], r[1], r[2], channel, destination, r[3], r[4], r[5] or "text",
                      r[6] if r[6] is not None else b"", r[7], json.loads(r[8] or "{}"))
            for r in rows]


def requeue_query(mark: str, where: str, where_args: list[Any], destination: str | None,
                  now: float, reset: str = "") -> tuple[str, list[Any]]:
    """An UPDATE that queues deliveries again from now with no attempts; `reset` is more
    "column = value, " pairs a backend clears too."""
    sql = (f"UPDATE deliveries SET status = 'queued', next_attempt_at = {mark}, lease_until = 0, "
           f"{reset}attempts = 0, updated_at = {mark} WHERE {where}")
    args = [now, now, *where_args]
    if destination:
        sql += f" AND destination = {mark}"
        args.append(destination)
    return sql, args


@dataclass(frozen=True, slots=True)
class OutcomeSql:
    """The statements that write back attempt outcomes, in one backend's dialect."""

    release: str
    retry: tuple[str, str]   # by Outcome.counted: (not counted, counted)
    finish: tuple[str, str]  # sent, dead or filtered; by Outcome.counted
    attempt: str
    stage: str               # upsert of an encoded or response stage


def outcome_sql(mark: str, stage_upsert: str, reset: str = "") -> OutcomeSql:
    """Build a backend's OutcomeSql; `reset` is what else an ended lease clears."""
    def retry(attempts: str) -> str:
        return (f"UPDATE deliveries SET attempts = {attempts}, next_attempt_at = {mark}, "
                f"lease_until = 0, {reset}last_error = {mark}, updated_at = {mark} "
                f"WHERE id = {mark}")

    def finish(attempts: str) -> str:
        return (f"UPDATE deliveries SET status = {mark}, attempts = {attempts}, lease_until = 0, "
                f"{reset}last_error = coalesce({mark}, last_error), updated_at = {mark} "
                f"WHERE id = {mark}")

    return OutcomeSql(
        release=f"UPDATE deliveries SET {reset}lease_until = 0 WHERE id = {mark}",
        retry=(retry("attempts"), retry("attempts + 1")),
        finish=(finish("attempts"), finish("attempts + 1")),
        attempt=("INSERT INTO attempts (delivery_id, attempt, at, outcome, error) "
                 f"SELECT id, attempts, {mark}, {mark}, {mark} FROM deliveries WHERE id = {mark}"),
        stage=stage_upsert)


def write_outcomes(execute: Callable[..., Any], sql: OutcomeSql, outcomes: Iterable[Outcome],
                   now: float) -> None:
    """Record outcomes one by one: the delivery row, an attempt for an error, the encoded
    and response stages; a release only ends the lease (PostgreSQL batches its releases)."""
    retry, finish, attempt, stage_sql = sql.retry, sql.finish, sql.attempt, sql.stage
    for o in outcomes:
        if o.status == "release":
            execute(sql.release, (o.delivery_id,))
            continue
        if o.status == "retry":
            execute(retry[o.counted], (o.next_attempt_at or now, o.error, now, o.delivery_id))
        else:
            execute(finish[o.counted], (o.status, o.error, now, o.delivery_id))
        if o.error is not None:
            execute(attempt, (now, o.status, o.error, o.delivery_id))
        for stage in (o.encoded, o.response):
            if stage is not None:
                execute(stage_sql, (stage.stage, stage.content_type, stage.content,
                                    o.delivery_id))


# -- pruning ---------------------------------------------------------------------------
def prunable_sql(mark: str, unpruned: str = "") -> str:
    """Ids of a channel's messages received before a time with nothing queued, oldest
    first; `unpruned` ("AND <content not pruned> ") narrows it to those with content."""
    return (f"SELECT id FROM messages m WHERE channel = {mark} AND received_at < {mark} "
            f"{unpruned}AND {_PENDING} ORDER BY id LIMIT {mark}")


def prune_content_sql(match: str, pruned: str) -> tuple[str, str]:
    """Drop the contents of the messages whose id matches (`match`: "= ?" or "= ANY(%s)")
    and mark them pruned (`pruned`: the dialect's true)."""
    return (f"DELETE FROM contents WHERE message_id {match}",
            f"UPDATE messages SET content_pruned = {pruned} WHERE id {match}")


def purge_sql(match: str) -> tuple[str, ...]:
    """Delete the messages whose id matches, with their deliveries, attempts and contents."""
    return (f"DELETE FROM attempts WHERE delivery_id IN (SELECT id FROM deliveries "
            f"WHERE message_id {match})",
            f"DELETE FROM deliveries WHERE message_id {match}",
            f"DELETE FROM contents WHERE message_id {match}",
            f"DELETE FROM messages WHERE id {match}")


# -- resources -------------------------------------------------------------------------
def resource_sql(mark: str, by_message: bool, order: str = "") -> str:
    """A channel's resource by type and id, or (by_message) the first one written with a
    message; `order` is an ORDER BY clause where the backend needs one for "first"."""
    where = (f"r.message_id = {mark}" if by_message
             else f"r.resource_type = {mark} AND r.resource_id = {mark}")
    return (f"SELECT {_RESOURCE_COLUMNS} FROM resources r WHERE r.channel = {mark} "
            f"AND {where}{order} LIMIT 1")


def find_resources_sql(mark: str, key_match: str, group_by: str) -> str:
    """The resources of a channel holding every one of some identifier keys."""
    return (f"SELECT {_RESOURCE_COLUMNS} FROM resources r JOIN resource_keys k "
            "ON k.channel = r.channel AND k.resource_type = r.resource_type "
            f"AND k.resource_id = r.resource_id WHERE r.channel = {mark} AND k.key {key_match} "
            f"GROUP BY {group_by} HAVING count(DISTINCT k.key) = {mark} LIMIT {mark}")


def stored_resource(row: Sequence[Any]) -> StoredResource:
    """A resources row (the columns of the two builders above) as a StoredResource."""
    return StoredResource(*row)


def resource_conflict(w: ResourceWrite) -> ResourceConflict:
    """The error of a write based on a version that is no longer current."""
    return ResourceConflict(f"{w.resource_type}/{w.resource_id} changed: version "
                            f"{w.version - 1} is no longer current")
