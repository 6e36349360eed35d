"""The SQLite store's writes: ingest (many messages per statement), claims and outcomes.

The committer coalesces the ingests waiting in one group commit into one `ingest_many`
call: a handful of `executemany` statements for the whole batch instead of five statements
per message. Ids are assigned here from max(id) + 1, which is what SQLite would assign;
the write lock held by the transaction makes that safe.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator

from . import queries
from .base import IngestRecord, IngestResult, Outcome, QueueItem, ResourceWrite

OUTCOME = queries.outcome_sql(
    "?", "INSERT OR REPLACE INTO contents (message_id, stage, part, content_type, content) "
         "SELECT message_id, ?, part, ?, ? FROM deliveries WHERE id = ?")

_INSERT_MESSAGE = (
    "INSERT INTO messages (id, channel, received_at, status, content_type, correlation_id, "
    "business_key, idempotency_key, duplicate_of, error, metadata) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
_INSERT_CONTENT = ("INSERT INTO contents (message_id, stage, part, content_type, content) "
                   "VALUES (?, ?, ?, ?, ?)")
_INSERT_DELIVERY = (
    "INSERT INTO deliveries (id, message_id, part, channel, destination, status, attempts, "
    "next_attempt_at, lease_until, created_at, updated_at) "
    "VALUES (?, ?, ?, ?, ?, 'queued', 0, 0, ?, ?, ?)")
_ORIGINAL = ("received", "filtered")  # statuses a later copy is a duplicate of
_CHUNK = 500  # bound parameters per IN list


class _Originals:
    """Messages a new one may duplicate: (key, channel) -> [(id, received_at)] in id order."""

    def __init__(self, db: sqlite3.Connection, records: list[IngestRecord]) -> None:
        self.found: dict[tuple[str, str], list[tuple[int, float]]] = {}
        keyed = [r for r in records if r.idempotency_key and r.status != "error"]
        if not keyed:
            return
        since = min(r.received_at - r.duplicate_window for r in keyed)
        keys = sorted({r.idempotency_key for r in keyed if r.idempotency_key})
        for chunk in _chunks(keys):
            marks = ",".join("?" * len(chunk))
            for key, channel, message_id, at in db.execute(
                    "SELECT idempotency_key, channel, id, received_at FROM messages WHERE "
                    f"idempotency_key IN ({marks}) AND received_at >= ? AND status IN "
                    "('received', 'filtered') ORDER BY id", (*chunk, since)):
                self.found.setdefault((key, channel), []).append((message_id, at))

    def original_of(self, r: IngestRecord) -> int | None:
        """The first message within r's window that r duplicates."""
        if not r.idempotency_key or r.status == "error":
            return None
        since = r.received_at - r.duplicate_window
        for message_id, at in self.found.get((r.idempotency_key, r.channel), ()):
            if at >= since:
                return message_id
        return None

    def add(self, r: IngestRecord, message_id: int) -> None:
        """A message of this batch that later ones may duplicate."""
        if r.idempotency_key and r.status in _ORIGINAL:
            self.found.setdefault((r.idempotency_key, r.channel), []).append(
                (message_id, r.received_at))


def ingest_many(db: sqlite3.Connection, records: list[IngestRecord]) -> list[IngestResult]:
    """Insert messages, their stages and queue rows (duplicate checks too), in order."""
    message_id = db.execute("SELECT coalesce(max(id), 0) FROM messages").fetchone()[0]
    delivery_id = db.execute("SELECT coalesce(max(id), 0) FROM deliveries").fetchone()[0]
    originals = _Originals(db, records)
    messages, contents, deliveries, results = [], [], [], []
    for r in records:
        message_id += 1
        duplicate_of = originals.original_of(r)
        status = "duplicate" if duplicate_of is not None else r.status
        messages.append((
            message_id, r.channel, r.received_at, status, r.content_type, r.correlation_id,
            r.business_key, r.idempotency_key, duplicate_of, r.error,
            json.dumps(r.metadata, separators=(",", ":")) if r.metadata else None))
        handed_off: list[tuple[int, int, str]] = []
        if duplicate_of is None:
            originals.add(r, message_id)
            contents.extend((message_id, s.stage, s.part, s.content_type, s.content)
                            for s in r.stages)
            for part, dest in r.destinations:
                delivery_id += 1
                lease = r.handoff.get(dest)
                deliveries.append((delivery_id, message_id, part, r.channel, dest,
                                   r.received_at + lease if lease is not None else 0,
                                   r.received_at, r.received_at))
                if lease is not None:
                    handed_off.append((delivery_id, part, dest))
        else:
            contents.extend((message_id, s.stage, s.part, s.content_type, s.content)
                            for s in r.stages if s.stage == "raw")
        results.append(IngestResult(message_id, duplicate_of, handed_off))
    db.executemany(_INSERT_MESSAGE, messages)
    db.executemany(_INSERT_CONTENT, contents)
    if deliveries:
        db.executemany(_INSERT_DELIVERY, deliveries)
    for r, result in zip(records, results, strict=True):
        if r.resources and result.duplicate_of is None and r.status != "error":
            for resource in r.resources:
                write_resource(db, r.channel, result.message_id, r.received_at, resource)
    return results


def _chunks(values: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start:start + _CHUNK]


def write_resource(db: sqlite3.Connection, channel: str, message_id: int, at: float,
                   w: ResourceWrite) -> None:
    """Create or update a served resource; a stale version raises ResourceConflict."""
    if w.version == 1:
        written = db.execute(
            "INSERT OR IGNORE INTO resources (channel, resource_type, resource_id, version, "
            "message_id, content, updated_at) VALUES (?, ?, ?, 1, ?, ?, ?)",
            (channel, w.resource_type, w.resource_id, message_id, w.content, at)).rowcount
    else:
        written = db.execute(
            "UPDATE resources SET version = ?, message_id = ?, content = ?, updated_at = ? "
            "WHERE channel = ? AND resource_type = ? AND resource_id = ? AND version = ?",
            (w.version, message_id, w.content, at, channel, w.resource_type, w.resource_id,
             w.version - 1)).rowcount
    if not written:
        raise queries.resource_conflict(w)
    if w.dropped_keys:
        db.executemany("DELETE FROM resource_keys WHERE channel = ? AND key = ? AND "
                       "resource_type = ? AND resource_id = ?",
                       [(channel, key, w.resource_type, w.resource_id)
                        for key in w.dropped_keys])
    db.executemany("INSERT OR IGNORE INTO resource_keys (channel, key, resource_type, "
                   "resource_id) VALUES (?, ?, ?, ?)",
                   [(channel, key, w.resource_type, w.resource_id) for key in w.keys])


def claim(db: sqlite3.Connection, channel: str, destination: str, limit: int, ordered: bool,
          lease_seconds: float) -> list[QueueItem]:
    """Lease due rows (ordered queues: only a due head and what follows it)."""
    now = time.time()
    if ordered:
        rows = db.execute(
            "SELECT id, next_attempt_at, lease_until FROM deliveries WHERE channel = ? AND "
            "destination = ? AND status = 'queued' ORDER BY id LIMIT ?",
            (channel, destination, limit)).fetchall()
        ids = []
        for delivery_id, next_at, lease_until in rows:
            if next_at > now or lease_until > now:
                break
            ids.append(delivery_id)
    else:
        ids = [r[0] for r in db.execute(
            "SELECT id FROM deliveries WHERE channel = ? AND destination = ? AND "
            "status = 'queued' AND next_attempt_at <= ? AND lease_until <= ? ORDER BY id LIMIT ?",
            (channel, destination, now, now, limit))]
    if not ids:
        return []
    marks = ",".join("?" * len(ids))
    db.execute(f"UPDATE deliveries SET lease_until = ? WHERE id IN ({marks})",
               [now + lease_seconds, *ids])
    rows = db.execute(
        "SELECT d.id, d.message_id, d.part, d.attempts, m.correlation_id, c.content_type, "
        "c.content, m.received_at, m.metadata FROM deliveries d "
        "JOIN messages m ON m.id = d.message_id "
        "LEFT JOIN contents c ON c.message_id = d.message_id AND c.stage = 'transformed' "
        "AND c.part = d.part "
        f"WHERE d.id IN ({marks}) ORDER BY d.id", ids).fetchall()
    return queries.queue_items(rows, channel, destination)


def complete(db: sqlite3.Connection, outcomes: list[Outcome]) -> None:
    """Write back outcomes; plain sends and releases of a batch share one statement each."""
    now = time.time()
    plain = [(now, o.delivery_id) for o in outcomes
             if o.status == "sent" and o.counted and o.error is None
             and o.encoded is None and o.response is None]
    if plain:
        db.executemany("UPDATE deliveries SET status = 'sent', attempts = attempts + 1, "
                       "lease_until = 0, updated_at = ? WHERE id = ?", plain)
    released = [(o.delivery_id,) for o in outcomes if o.status == "release"]
    if released:
        db.executemany(OUTCOME.release, released)
    if len(plain) + len(released) < len(outcomes):
        done = {i for _, i in plain} | {i for i, in released}
        queries.write_outcomes(db.execute, OUTCOME,
                               [o for o in outcomes if o.delivery_id not in done], now)
