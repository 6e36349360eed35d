"""Claim-query latency on PostgreSQL with a large history of sent deliveries.

    python benchmarks/pg_claim_latency.py --sent 1000000

Fills a fresh schema with N messages and marks all but a small backlog sent (bulk SQL: a
queue as it looks after months of traffic, before autovacuum has caught up), then times the
store's claim statement (claim 50 rows, give them back) before and after VACUUM. Prints
p50/p99 and the pending index size.
Uses PLEXUS_DSN (default: the local test database); the schema is dropped afterwards.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.store import pg_sql  # noqa: E402
from engine.store.base import Outcome  # noqa: E402
from engine.store.postgres import connect, upgrade  # noqa: E402


def _fill(db: object, sent: int, queued: int) -> None:
    for start in range(0, sent + queued, 200_000):
        end = min(start + 200_000, sent + queued)
        db.execute(  # type: ignore[attr-defined]
            "INSERT INTO messages (id, channel, received_at, status, content_type, "
            "correlation_id) SELECT g, 'bench', extract(epoch from now()), 'received', "
            "'hl7v2', 'c' || g FROM generate_series(%s, %s) g", (start + 1, end))
        db.execute(  # type: ignore[attr-defined]
            "INSERT INTO contents (message_id, stage, part, content_type, content) "
            "SELECT g, 'transformed', 0, 'hl7v2', 'MSH|x'::bytea "
            "FROM generate_series(%s, %s) g", (start + 1, end))
        db.execute(  # type: ignore[attr-defined]
            "INSERT INTO deliveries (message_id, part, channel, destination, status, "
            "attempts, next_attempt_at, lease_until, created_at, updated_at) "
            "SELECT g, 0, 'bench', 'out', 'queued', 0, 0, 0, 0, 0 "
            "FROM generate_series(%s, %s) g", (start + 1, end))
    # sent the way the engine sends: queued rows updated to sent, leaving dead versions
    # behind in the table and the pending index until vacuum catches up
    for start in range(0, sent, 50_000):
        db.execute(  # type: ignore[attr-defined]
            "UPDATE deliveries SET status = 'sent', attempts = 1 WHERE id > %s AND id <= %s",
            (start, min(start + 50_000, sent)))
    db.execute("SELECT setval(pg_get_serial_sequence('messages', 'id'), %s)",  # type: ignore
               (sent + queued,))


def _time_claims(db: object, rounds: int) -> list[float]:
    cur = db.cursor()  # type: ignore[attr-defined]
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        cur.execute("BEGIN")
        items = pg_sql.claim(cur, "bench", "out", 50, False, 60.0, "bench")
        cur.execute("COMMIT")
        times.append(time.perf_counter() - started)
        cur.execute("BEGIN")
        pg_sql.complete(cur, [Outcome(i.delivery_id, "release", counted=False) for i in items])
        cur.execute("COMMIT")
    return times


def _report(label: str, times: list[float]) -> None:
    times.sort()
    print(f"{label}: claim of 50 p50={statistics.median(times) * 1000:.2f} ms "
          f"p99={times[int(len(times) * 0.99) - 1] * 1000:.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sent", type=int, default=1_000_000)
    parser.add_argument("--queued", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=500)
    args = parser.parse_args()
    dsn = os.environ.get("PLEXUS_DSN", "host=127.0.0.1 port=5432 dbname=test user=postgres")
    schema = f"plexus_claim_bench_{os.getpid()}"
    upgrade(dsn, schema)
    try:
        with connect(dsn, schema) as db:
            started = time.perf_counter()
            _fill(db, args.sent, args.queued)
            print(f"filled {args.sent:,} sent + {args.queued:,} queued deliveries in "
                  f"{time.perf_counter() - started:.1f} s")
            _report("before vacuum", _time_claims(db, args.rounds))
            db.execute("VACUUM ANALYZE deliveries")
            _report("after vacuum", _time_claims(db, args.rounds))
            size = db.execute("SELECT pg_size_pretty(pg_relation_size('deliveries_pending')), "
                              "pg_size_pretty(pg_relation_size('deliveries'))").fetchone()
            print(f"pending index {size[0]}, deliveries table {size[1]}")
    finally:
        with connect(dsn, "public") as db:
            db.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


if __name__ == "__main__":
    main()
