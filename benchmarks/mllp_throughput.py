"""MLLP throughput: start `plexus run`, drive it over N connections, print the figures.

    python benchmarks/mllp_throughput.py --connections 8 --messages 20000

Prints ACK msg/s, end-to-end delivered msg/s, p50/p99 ACK latency and the engine's peak RSS.
Each connection sends one message and waits for its ACK, as an EHR interface does. The channel
sets MSH-4 and writes every message to a file destination (fsync'd, atomic).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.e2e.engine_process import EngineProcess, free_port  # noqa: E402

CHANNEL = """\
name: bench
source: {{type: mllp, host: 127.0.0.1, port: {port}}}
transforms:
  - use: transforms.hl7v2:set_field
    with: {{path: MSH-4, value: PLEXUS}}
destinations:
  - name: archive
    type: file
    directory: {out}
    filename: "{{correlation_id}}.hl7"
    fsync: {fsync}
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


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=1)
    parser.add_argument("--messages", type=int, default=10000)
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--store", choices=["sqlite"], default="sqlite")
    parser.add_argument("--no-file-fsync", action="store_true",
                        help="diagnosis only: do not fsync delivered files")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="plexus-bench-") as tmp:
        work = Path(tmp)
        port = free_port()
        out = work / "out"
        engine = EngineProcess(work, {"bench": CHANNEL.format(port=port, out=out,
                                                       fsync=not args.no_file_fsync)},
                               log_level="warning")
        with engine:
            asyncio.run(_drive(port, min(args.connections, 4), args.warmup, prefix="W"))
            engine.wait_for(lambda: engine.metric("plexus_messages_sent_total", channel="bench",
                                                  destination="archive") >= args.warmup,
                            timeout=120, what="warm-up delivery")
            base = engine.metric("plexus_messages_sent_total", channel="bench",
                                 destination="archive")
            total = (args.messages // args.connections) * args.connections
            started = time.perf_counter()
            elapsed, latencies = asyncio.run(_drive(port, args.connections, total))
            while engine.metric("plexus_messages_sent_total", channel="bench",
                                destination="archive") < base + total:
                time.sleep(0.05)
            delivered_elapsed = time.perf_counter() - started
            rss = _peak_rss_mb(engine.proc.pid)  # type: ignore[union-attr]
            stages = {stage: engine.metric("plexus_stage_duration_seconds_sum", channel="bench",
                                           stage=stage)
                      / max(1.0, engine.metric("plexus_stage_duration_seconds_count",
                                               channel="bench", stage=stage)) * 1000
                      for stage in ("receive", "deliver")}
        files = sum(1 for _ in os.scandir(out))
    latencies.sort()
    p50 = statistics.median(latencies) * 1000
    p99 = latencies[int(len(latencies) * 0.99) - 1] * 1000
    print(f"connections={args.connections} messages={total} store={args.store}")
    print(f"ack_rate={total / elapsed:,.0f} msg/s")
    print(f"delivered_rate={total / delivered_elapsed:,.0f} msg/s (end to end, file destination)")
    print(f"ack_latency_p50={p50:.2f} ms ack_latency_p99={p99:.2f} ms")
    print(f"peak_rss={rss:.1f} MB files_written={files}")
    print("mean stage time: " + " ".join(f"{k}={v:.2f} ms" for k, v in stages.items()))


if __name__ == "__main__":
    main()
