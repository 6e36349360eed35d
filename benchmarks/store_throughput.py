"""Store alone: N concurrent clients ingest, a worker claims and completes; prints ingests/s.

    python benchmarks/store_throughput.py --store postgres --clients 8 --seconds 5

Each client ingests one message at a time (as an MLLP connection waits for its ACK); one
worker claims batches of 50 and marks them sent, as a destination would. Prints ingests/s,
p50/p99 commit latency, transactions and ops per transaction. PostgreSQL uses PLEXUS_DSN
(default: the local test database) in a schema of its own, dropped afterwards.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from twisted.internet import defer, reactor  # noqa: E402

from engine.store.base import IngestRecord, Outcome, Stage, Store  # noqa: E402

PAYLOAD = b"MSH|^~\\&|EHR|GOODHEALTH|PLEXUS|GOODHEALTH|20240116101500||ADT^A01|1|P|2.5.1\r" * 6


def _record(n: int) -> IngestRecord:
    return IngestRecord(channel="bench", received_at=time.time(), status="received",
                        content_type="hl7v2", correlation_id=f"c{n}",
                        stages=[Stage("raw", PAYLOAD, "hl7v2"),
                                Stage("transformed", PAYLOAD, "hl7v2")],
                        destinations=[(0, "out")], idempotency_key=f"EHR|GH|{n}",
                        duplicate_window=3600.0)


async def _client(store: Store, first: int, until: float, latencies: list[float]) -> None:
    n = first
    while time.perf_counter() < until:
        started = time.perf_counter()
        await store.ingest(_record(n))
        latencies.append(time.perf_counter() - started)
        n += 1


async def _worker(store: Store, until: float) -> None:
    while time.perf_counter() < until:
        items = await store.claim("bench", "out", 50, False, 60.0)
        if items:
            await store.complete([Outcome(i.delivery_id, "sent") for i in items])
        else:
            d: defer.Deferred[None] = defer.Deferred()
            reactor.callLater(0.01, d.callback, None)  # type: ignore[attr-defined]
            await d


def _open(kind: str, tmp: str) -> tuple[Store, Any]:
    if kind == "sqlite":
        from engine.store.sqlite import SqliteStore
        return SqliteStore(os.path.join(tmp, "bench.db"), reactor), None
    from engine.store.postgres import PostgresStore, connect
    dsn = os.environ.get("PLEXUS_DSN", "host=127.0.0.1 port=5432 dbname=test user=postgres")
    schema = f"plexus_store_bench_{os.getpid()}"

    def drop() -> None:
        with connect(dsn, "public") as db:
            db.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    return PostgresStore(dsn, schema, reactor), drop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="plexus-store-bench-") as tmp:
        store, cleanup = _open(args.store, tmp)
        store.open()
        latencies: list[float] = []

        async def run() -> float:
            until = time.perf_counter() + args.seconds
            started = time.perf_counter()
            await defer.gatherResults([
                defer.Deferred.fromCoroutine(_client(store, c * 10_000_000, until, latencies))
                for c in range(args.clients)] + [
                defer.Deferred.fromCoroutine(_worker(store, until))])
            return time.perf_counter() - started

        result: list[float] = []
        d = defer.Deferred.fromCoroutine(run())
        d.addCallback(result.append)
        d.addErrback(lambda f: print(f.getTraceback()))
        d.addBoth(lambda _: reactor.stop())  # type: ignore[attr-defined]
        reactor.run()  # type: ignore[attr-defined]
        writer = store._committer  # type: ignore[attr-defined]
        batches, ops = writer.batches, writer.ops
        store.close()
        if cleanup:
            cleanup()
    latencies.sort()
    print(f"store={args.store} clients={args.clients}")
    print(f"ingests={len(latencies) / result[0]:,.0f}/s "
          f"commit_latency_p50={statistics.median(latencies) * 1000:.2f} ms "
          f"p99={latencies[int(len(latencies) * 0.99) - 1] * 1000:.2f} ms")
    print(f"transactions={batches:,} ops={ops:,} ops_per_transaction={ops / max(1, batches):.1f}")


if __name__ == "__main__":
    main()
