"""The PostgreSQL store's write statements: one round trip per ingest and per claim.

Lease times use the database clock (`_NOW`), so nodes with drifting clocks still agree on
when a lease has run out.
"""

from __future__ import annotations

import json
import time
from typing import Any

from . import queries
from .base import IngestRecord, IngestResult, Outcome, QueueItem, ResourceWrite

_NOW = "extract(epoch from clock_timestamp())"
# a lease that ends clears its owner too (SET clause of a requeue or an outcome)
CLEAR_OWNER = "lease_owner = NULL, "

_OUTCOME = queries.outcome_sql(
    "%s", "INSERT INTO contents (message_id, stage, part, content_type, content) "
          "SELECT message_id, %s, part, %s, %s FROM deliveries WHERE id = %s "
          "ON CONFLICT (message_id, stage, part) DO UPDATE SET "
          "content_type = excluded.content_type, content = excluded.content",
    reset=CLEAR_OWNER)

# a whole group commit's messages go in one statement: every column is an array, stages
# and queue rows carry the index of their message; a batch that fails (the same key twice
# in it, say) is retried message by message by the committer
INGEST = f"""
WITH t AS (SELECT * FROM unnest(%(idx)s::int[], %(channel)s::text[],
             %(received_at)s::float8[], %(status)s::text[], %(content_type)s::text[],
             %(correlation_id)s::text[], %(business_key)s::text[], %(key)s::text[],
             %(checked)s::bool[], %(window)s::float8[], %(error)s::text[],
             %(metadata)s::text[])
           AS t(idx, channel, received_at, status, content_type, correlation_id,
                business_key, key, checked, dup_window, error, metadata)),
  n AS (SELECT t.*, nextval('messages_id_seq') AS id
        FROM (SELECT * FROM t ORDER BY idx) t),
  -- ON CONFLICT waits for another node's uncommitted insert of the same key, then sees
  -- it: a row still inside the window keeps its message id, marking the new one duplicate
  k AS (INSERT INTO idempotency AS i (channel, key, message_id, received_at, dup_window)
        SELECT channel, key, id, received_at, dup_window FROM n WHERE checked
        ON CONFLICT (channel, key) DO UPDATE SET
          message_id = CASE WHEN i.received_at < excluded.received_at - excluded.dup_window
                            THEN excluded.message_id ELSE i.message_id END,
          received_at = CASE WHEN i.received_at < excluded.received_at - excluded.dup_window
                             THEN excluded.received_at ELSE i.received_at END,
          dup_window = excluded.dup_window
        RETURNING channel, key, message_id),
  m AS (INSERT INTO messages (id, channel, received_at, status, content_type, correlation_id,
                              business_key, idempotency_key, duplicate_of, error, metadata)
        SELECT n.id, n.channel, n.received_at,
               CASE WHEN k.message_id IS NULL OR k.message_id = n.id THEN n.status
                    ELSE 'duplicate' END,
               n.content_type, n.correlation_id, n.business_key, n.key,
               NULLIF(k.message_id, n.id), n.error, n.metadata
        FROM n LEFT JOIN k ON n.checked AND k.channel = n.channel AND k.key = n.key
        ORDER BY n.idx
        RETURNING id, duplicate_of),
  c AS (INSERT INTO contents (message_id, stage, part, content_type, content)
        SELECT m.id, s.stage, s.part, s.ct, s.content
        FROM unnest(%(s_idx)s::int[], %(stages)s::text[], %(parts)s::int[], %(cts)s::text[],
                    %(contents)s::bytea[]) WITH ORDINALITY AS s(idx, stage, part, ct, content, o)
        JOIN n ON n.idx = s.idx JOIN m ON m.id = n.id
        WHERE m.duplicate_of IS NULL OR s.stage = 'raw'
        ORDER BY s.o),
  d AS (INSERT INTO deliveries (message_id, part, channel, destination, status, attempts,
                                next_attempt_at, lease_until, lease_owner, created_at,
                                updated_at)
        SELECT m.id, x.part, n.channel, x.dest, 'queued', 0, 0,
               CASE WHEN x.lease > 0 THEN {_NOW} + x.lease ELSE 0 END,
               CASE WHEN x.lease > 0 THEN %(node)s END, n.received_at, n.received_at
        FROM unnest(%(d_idx)s::int[], %(dparts)s::int[], %(ddests)s::text[],
                    %(dleases)s::float8[]) WITH ORDINALITY AS x(idx, part, dest, lease, o)
        JOIN n ON n.idx = x.idx JOIN m ON m.id = n.id
        WHERE m.duplicate_of IS NULL
        ORDER BY x.o  -- queue order is arrival order: ordered destinations rely on it
        RETURNING id, message_id, part, destination, lease_until)
SELECT n.idx, m.id, m.duplicate_of, d.id, d.part, d.destination, d.lease_until
FROM n JOIN m ON m.id = n.id LEFT JOIN d ON d.message_id = m.id
ORDER BY n.idx, d.id"""


def ingest_many(cur: Any, records: list[IngestRecord], node: str) -> list[IngestResult]:
    """Insert messages, their stages and queue rows in one statement (duplicate checks too)."""
    args: dict[str, Any] = {key: [] for key in (
        "idx", "channel", "received_at", "status", "content_type", "correlation_id",
        "business_key", "key", "checked", "window", "error", "metadata", "s_idx", "stages",
        "parts", "cts", "contents", "d_idx", "dparts", "ddests", "dleases")}
    args["node"] = node
    for i, r in enumerate(records):
        for key, value in (
                ("idx", i), ("channel", r.channel), ("received_at", r.received_at),
                ("status", r.status), ("content_type", r.content_type),
                ("correlation_id", r.correlation_id), ("business_key", r.business_key),
                ("key", r.idempotency_key),
                ("checked", bool(r.idempotency_key) and r.status != "error"),
                ("window", r.duplicate_window), ("error", r.error),
                ("metadata", json.dumps(r.metadata, separators=(",", ":"))
                 if r.metadata else None)):
            args[key].append(value)
        for st in r.stages:
            args["s_idx"].append(i)
            args["stages"].append(st.stage)
            args["parts"].append(st.part)
            args["cts"].append(st.content_type)
            args["contents"].append(st.content)
        for part, dest in r.destinations:
            args["d_idx"].append(i)
            args["dparts"].append(part)
            args["ddests"].append(dest)
            args["dleases"].append(r.handoff.get(dest, 0.0))
    results = [IngestResult(0) for _ in records]
    for idx, message_id, duplicate_of, delivery_id, part, dest, lease_until in cur.execute(
            INGEST, args).fetchall():
        result = results[idx]
        result.message_id, result.duplicate_of = message_id, duplicate_of
        if delivery_id is not None and lease_until > 0:
            result.handed_off.append((delivery_id, part, dest))
    for r, result in zip(records, results, strict=True):
        if r.resources and result.duplicate_of is None and r.status != "error":
            for resource in r.resources:
                write_resource(cur, r.channel, result.message_id, r.received_at, resource)
    return results


def write_resource(cur: Any, channel: str, message_id: int, at: float,
                   w: ResourceWrite) -> None:
    """Create (version 1) or move a resource on by one version; ResourceConflict if stale."""
    args = {"channel": channel, "type": w.resource_type, "id": w.resource_id,
            "version": w.version, "message_id": message_id, "content": w.content, "at": at}
    if w.version == 1:
        cur.execute("INSERT INTO resources (channel, resource_type, resource_id, version, "
                    "message_id, content, updated_at) VALUES (%(channel)s, %(type)s, %(id)s, "
                    "1, %(message_id)s, %(content)s, %(at)s) ON CONFLICT DO NOTHING", args)
    else:
        cur.execute("UPDATE resources SET version = %(version)s, message_id = %(message_id)s, "
                    "content = %(content)s, updated_at = %(at)s WHERE channel = %(channel)s "
                    "AND resource_type = %(type)s AND resource_id = %(id)s "
                    "AND version = %(version)s - 1", args)
    if not cur.rowcount:
        raise queries.resource_conflict(w)
    if w.dropped_keys:
        cur.execute("DELETE FROM resource_keys WHERE channel = %s AND key = ANY(%s) "
                    "AND resource_type = %s AND resource_id = %s",
                    (channel, w.dropped_keys, w.resource_type, w.resource_id))
    if w.keys:
        cur.execute("INSERT INTO resource_keys (channel, key, resource_type, resource_id) "
                    "SELECT %s, unnest(%s::text[]), %s, %s ON CONFLICT DO NOTHING",
                    (channel, w.keys, w.resource_type, w.resource_id))


_CLAIMED = """
SELECT u.id, u.message_id, u.part, u.attempts, m.correlation_id, c.content_type, c.content,
       m.received_at, m.metadata
FROM u JOIN messages m ON m.id = u.message_id
LEFT JOIN contents c ON c.message_id = u.message_id AND c.stage = 'transformed'
     AND c.part = u.part
ORDER BY u.id"""

CLAIM = f"""
WITH due AS (SELECT id FROM deliveries
             WHERE channel = %(channel)s AND destination = %(destination)s
               AND status = 'queued' AND next_attempt_at <= {_NOW}
               AND lease_until <= {_NOW}
             ORDER BY id LIMIT %(limit)s FOR UPDATE SKIP LOCKED),
  u AS (UPDATE deliveries d SET lease_until = {_NOW} + %(lease)s, lease_owner = %(node)s
        FROM due WHERE d.id = due.id RETURNING d.id, d.message_id, d.part, d.attempts)
{_CLAIMED}"""

# an ordered queue hands out only its due head and what follows it without a gap
CLAIM_ORDERED = f"""
WITH head AS (SELECT id, next_attempt_at <= {_NOW} AND lease_until <= {_NOW} AS free
              FROM deliveries
              WHERE channel = %(channel)s AND destination = %(destination)s
                AND status = 'queued'
              ORDER BY id LIMIT %(limit)s FOR UPDATE),
  due AS (SELECT id FROM head WHERE id < coalesce((SELECT min(id) FROM head WHERE NOT free),
                                                  9223372036854775807)),
  u AS (UPDATE deliveries d SET lease_until = {_NOW} + %(lease)s, lease_owner = %(node)s
        FROM due WHERE d.id = due.id RETURNING d.id, d.message_id, d.part, d.attempts)
{_CLAIMED}"""

# a node drains an ordered queue only while it holds (or takes over) the queue's lease
QUEUE_LEASE = f"""
INSERT INTO queue_leases AS q (channel, destination, owner, lease_until)
VALUES (%(channel)s, %(destination)s, %(node)s, {_NOW} + %(lease)s)
ON CONFLICT (channel, destination) DO UPDATE SET owner = excluded.owner,
    lease_until = excluded.lease_until
WHERE q.owner = excluded.owner OR q.lease_until <= {_NOW}
RETURNING owner"""


def claim(cur: Any, channel: str, destination: str, limit: int, ordered: bool,
          lease: float, node: str) -> list[QueueItem]:
    """Lease due rows with SKIP LOCKED; ordered queues first take the queue's lease."""
    args = {"channel": channel, "destination": destination, "limit": limit, "lease": lease,
            "node": node}
    if ordered:
        if cur.execute(QUEUE_LEASE, args).fetchone() is None:
            return []  # another node drains this queue
        rows = cur.execute(CLAIM_ORDERED, args).fetchall()
    else:
        rows = cur.execute(CLAIM, args).fetchall()
    # psycopg 3 loads bytea as bytes: the rows map as SQLite's do
    return queries.queue_items(rows, channel, destination)


def complete(cur: Any, outcomes: list[Outcome]) -> None:
    """Write back outcomes; plain sends of a batch share one statement."""
    now = time.time()
    plain = [o.delivery_id for o in outcomes
             if o.status == "sent" and o.counted and o.error is None
             and o.encoded is None and o.response is None]
    if plain:
        cur.execute("UPDATE deliveries SET status = 'sent', attempts = attempts + 1, "
                    "lease_until = 0, lease_owner = NULL, updated_at = %s "
                    "WHERE id = ANY(%s)", (now, plain))
    released = [o.delivery_id for o in outcomes if o.status == "release"]
    if released:
        cur.execute("UPDATE deliveries SET lease_until = 0, lease_owner = NULL "
                    "WHERE id = ANY(%s)", (released,))
    done = set(plain) | set(released)
    queries.write_outcomes(cur.execute, _OUTCOME,
                           [o for o in outcomes if o.delivery_id not in done], now)

