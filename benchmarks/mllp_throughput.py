"""MLLP throughput: start `plexus run`, drive it over N connections, print the figures.

    python benchmarks/mllp_throughput.py --connections 8 --messages 20000
    python benchmarks/mllp_throughput.py --store postgres --nodes 2 --connections 8

With --store postgres the engine uses PLEXUS_DSN (default: the local test database) in a
schema of its own, dropped afterwards; --nodes 2 starts two engines on that schema and
splits the connections between them.

Prints ACK msg/s, end-to-end delivered msg/s, p50/p99 ACK latency, the engine's peak RSS and
its CPU time per message (steadier than the rates on a shared machine).
Each connection sends one message and waits for its ACK, as an EHR interface does. The channel
sets MSH-4 and writes every message to a file destination (fsync'd, atomic).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.engine_run import (  # noqa: E402
    cpu_seconds,
    drop_schema,
    file_create_us,
    p50_p99_ms,
    peak_rss_mb,
)
from tests.e2e.engine_process import EngineProcess, free_port  # noqa: E402

# --receive-only: every message is stored as filtered (ACK AA) and nothing is delivered
RECEIVE_ONLY = """filters:
  - use: transforms.hl7v2:message_type_in
    with: {types: ["ZZZ^Z99"]}
"""
CHANNEL = """\
name: bench
source: {{type: mllp, host: 127.0.0.1, port: {port}}}
{filters}transforms:
  - use: transforms.hl7v2:set_field
    with: {{path: MSH-4, value: PLEXUS}}
destinations:
  - name: archive
    type: file
    directory: {out}
    filename: "{{correlation_id}}.hl7"
    fsync: {fsync}
    max_in_flight: {in_flight}
"""

MESSAGE = (
    "MSH|^~\\&|EHR|GOODHEALTH|PLEXUS|GOODHEALTH|20240116101500||ADT^A01^ADT_A01|{cid}|P|2.5.1\r"
    "EVN|A01|20240116101500\r"
    "PID|1||TEST0001^^^GOODHEALTH^MR||TESTPATIENT^SYNTHETIC||19700101|U|||"
    "1 TEST STREET^^ANYTOWN^ZZ^00000\r"
    "PV1|1|I|WARD^101^1^GOODHEALTH||||1234^TESTDOC^ATTENDING|||MED||||1|||1234^TESTDOC|IN|"
    "V0000001^^^GOODHEALTH^VN\r"
    "AL1|1|DA|PCN^Penicillin^L|SV|Hives\r"
    "DG1|1||I10^Essential hypertension^I10|||A\r"
)


async def _connection(port: int, prefix: str, count: int, latencies: list[float]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for i in range(count):
        payload = MESSAGE.format(cid=f"{prefix}-{i:07d}").encode()
        started = time.perf_counter()
        writer.write(b"\x0b" + payload + b"\x1c\x0d")
        reply = await reader.readuntil(b"\x1c\x0d")
        latencies.append(time.perf_counter() - started)
        if b"MSA|AA|" not in reply:
            raise RuntimeError(f"not AA: {reply[:200]!r}")
    writer.close()
    await writer.wait_closed()


async def _drive(port: int, connections: int, messages: int,
                 prefix: str = "B") -> tuple[float, list[float]]:
    latencies: list[float] = []
    per = messages // connections
    started = time.perf_counter()
    await asyncio.gather(*[_connection(port, f"{prefix}{c}", per, latencies)
                           for c in range(connections)])
    return time.perf_counter() - started, latencies


def _sent(engines: list[tuple[EngineProcess, int]]) -> float:
    return sum(e.metric("plexus_messages_sent_total", channel="bench", destination="archive")
               for e, _ in engines)


def _mean_ms(engine: EngineProcess, stage: str) -> float:
    total = engine.metric("plexus_stage_duration_seconds_sum", channel="bench", stage=stage)
    count = engine.metric("plexus_stage_duration_seconds_count", channel="bench", stage=stage)
    return total / max(1.0, count) * 1000


async def _drive_all(engines: list[tuple[EngineProcess, int]], connections: int,
                     messages: int, prefix: str) -> tuple[float, list[float]]:
    """Split the connections over the engines; one elapsed time for them all."""
    share = max(1, connections // len(engines))
    started = time.perf_counter()
    results = await asyncio.gather(*[
        _drive(port, share, messages // len(engines), prefix=f"{prefix}{n}")
        for n, (_, port) in enumerate(engines)])
    return time.perf_counter() - started, [x for _, lat in results for x in lat]


def _cpu(engines: list[tuple[EngineProcess, int]]) -> tuple[float, float]:
    """User and system CPU seconds of all engines."""
    times = [cpu_seconds(e.proc.pid) for e, _ in engines]  # type: ignore[union-attr]
    return sum(u for u, _ in times), sum(s for _, s in times)


def _measure(engines: list[tuple[EngineProcess, int]], args: argparse.Namespace
             ) -> tuple[float, list[float], float, int, tuple[float, float]]:
    """ACK time, ACK latencies, delivery time, messages and engine CPU (user, system) per
    message."""
    first = engines[0][0]
    asyncio.run(_drive_all(engines, min(args.connections, 4), args.warmup, "W"))
    if not args.receive_only:  # else every warm-up message is stored once it is ACKed
        first.wait_for(lambda: _sent(engines) >= args.warmup, timeout=120,
                       what="warm-up delivery")
    base = _sent(engines)
    cpu = _cpu(engines)
    per_conn = args.messages // args.connections
    total = per_conn * args.connections
    started = time.perf_counter()
    elapsed, latencies = asyncio.run(_drive_all(engines, args.connections, total, "B"))
    while not args.receive_only and _sent(engines) < base + total:
        time.sleep(0.05)
    delivered = time.perf_counter() - started
    user, system = _cpu(engines)
    return elapsed, latencies, delivered, total, ((user - cpu[0]) / total,
                                                  (system - cpu[1]) / total)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=1)
    parser.add_argument("--messages", type=int, default=10000)
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--store", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--nodes", type=int, default=1, help="engines (postgres only)")
    parser.add_argument("--writers", type=int, default=2,
                        help="postgres: writer connections (store.writers)")
    parser.add_argument("--commit-thread", action="store_true",
                        help="sqlite: group commits in a writer thread (store.commit_thread)")
    parser.add_argument("--no-file-fsync", action="store_true",
                        help="diagnosis only: do not fsync delivered files")
    parser.add_argument("--in-flight", type=int, default=8,
                        help="the file destination's max_in_flight (files written at once)")
    parser.add_argument("--receive-only", action="store_true",
                        help="diagnosis only: filter every message (stored, ACKed, not "
                             "delivered) to measure the receive path alone")
    args = parser.parse_args()

    if args.nodes > 1 and args.store != "postgres":
        parser.error("--nodes needs --store postgres")
    schema = f"plexus_bench_{os.getpid()}"
    dsn = os.environ.get("PLEXUS_DSN", "host=127.0.0.1 port=5432 dbname=test user=postgres")
    with tempfile.TemporaryDirectory(prefix="plexus-bench-") as tmp:
        work = Path(tmp)
        out = work / "out"
        engines: list[tuple[EngineProcess, int]] = []
        for n in range(args.nodes):
            port = free_port()
            (work / f"node{n}").mkdir()
            settings = (f'store: {{backend: postgres, dsn: "{dsn}", schema: {schema}, '
                        f'writers: {args.writers}}}\n'
                        if args.store == "postgres" else
                        f"store: {{commit_thread: {str(args.commit_thread).lower()}}}\n")
            engines.append((EngineProcess(
                work / f"node{n}", {"bench": CHANNEL.format(
                    port=port, out=out, fsync=not args.no_file_fsync, in_flight=args.in_flight,
                    filters=RECEIVE_ONLY if args.receive_only else "")},
                log_level="warning", settings=settings), port))
        try:
            for engine, _ in engines:
                engine.start()
            elapsed, latencies, delivered_elapsed, total, cpu = _measure(engines, args)
            rss = max(peak_rss_mb(e.proc.pid) for e, _ in engines)  # type: ignore[union-attr]
            stages = {stage: sum(_mean_ms(e, stage) for e, _ in engines) / len(engines)
                      for stage in ("receive", "deliver")}
            batches = sum(e.metric("plexus_store_commit_batch_size_count") for e, _ in engines)
            ops = sum(e.metric("plexus_store_commit_batch_size_sum") for e, _ in engines)
        finally:
            for engine, _ in engines:
                engine.__exit__(None)
            if args.store == "postgres":
                drop_schema(dsn, schema)
        files = sum(1 for e in os.scandir(out) if not e.name.startswith(".")) \
            if out.exists() else 0
        create = file_create_us(out) if out.exists() else None
    p50, p99 = p50_p99_ms(latencies)
    print(f"connections={args.connections} messages={total} store={args.store} "
          f"nodes={args.nodes}")
    print(f"ack_rate={total / elapsed:,.0f} msg/s")
    print(f"delivered_rate={total / delivered_elapsed:,.0f} msg/s (end to end, file destination)")
    print(f"ack_latency_p50={p50:.2f} ms ack_latency_p99={p99:.2f} ms")
    print(f"peak_rss={rss:.1f} MB files_written={files}")
    print(f"engine_cpu={sum(cpu) * 1e6:.0f} us per message (user {cpu[0] * 1e6:.0f} + system "
          f"{cpu[1] * 1e6:.0f}, all threads)")
    if create is not None:
        print(f"file_create={create[0]:.0f} us per empty file in the output directory after "
              f"the run (system CPU {create[1]:.0f} us): the file system's share of delivery")
    print("mean stage time: " + " ".join(f"{k}={v:.2f} ms" for k, v in stages.items()))
    print(f"store transactions={batches:,.0f} ops={ops:,.0f} "
          f"mean ops per transaction={ops / max(1.0, batches):.1f}")


if __name__ == "__main__":
    main()
