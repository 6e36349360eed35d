"""FHIR create throughput: start `plexus run`, POST ChargeItems over N keep-alive connections.

    python benchmarks/fhir_throughput.py --connections 16 --requests 20000
    python benchmarks/fhir_throughput.py --store postgres --connections 16

The channel serves ChargeItem with bearer-token auth and writes every resource to a file
destination (fsync'd). Each request is a full create: JSON parse, R4B model + business-rule
validation, one durable commit (group commit) before the 201, Location and ETag back.
The client is one asyncio loop on raw sockets with pre-built requests; its CPU time is
printed next to the engine's so a client-bound run shows. With --store postgres the engine
uses PLEXUS_DSN (default: the local test database) in a schema of its own, dropped afterwards.

Prints creates/s, p50/p99 latency, delivered/s end to end, CPU of engine and client, and the
engine's peak RSS. --profile FILE samples the engine with py-spy (pip install py-spy) during
the measured run, GIL holders only: .svg is a flame graph, .json speedscope, else raw stacks.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.engine_run import drop_schema, p50_p99_ms, peak_rss_mb  # noqa: E402
from tests.e2e.engine_process import EngineProcess, free_port  # noqa: E402

TOKEN = "bench-0123456789abcdef-token"
CHANNEL = """\
name: bench-fhir
source:
  type: fhir
  host: 127.0.0.1
  port: {port}
  base_path: /fhir
  resources: [ChargeItem]
  auth: {{tokens: [{{token: "{token}", access: write}}]}}
destinations:
  - {{name: billing, type: file, directory: "{out}", filename: "{{correlation_id}}.json",
     fsync: {fsync}}}
"""


def charge_item(n: int) -> bytes:
    """A supply ChargeItem (about 700 bytes) with its own identifier."""
    return json.dumps({
        "resourceType": "ChargeItem",
        "identifier": [{"system": "urn:oid:2.16.840.1.113883.19.5.9", "value": f"CHG-{n:08d}"}],
        "status": "billable",
        "code": {"coding": [{"system": "urn:oid:2.16.840.1.113883.19.5.2", "code": "SUP100234",
                             "display": "Supply charge - syringe 10 mL"}]},
        "subject": {"reference": "Patient/example"},
        "context": {"reference": "Encounter/example"},
        "occurrenceDateTime": "2024-01-16T10:15:00Z",
        "performingOrganization": {"reference": "Organization/hl7"},
        "quantity": {"value": 3},
        "priceOverride": {"value": 1.25, "currency": "USD"},
        "enteredDate": "2024-01-16T10:20:00Z",
        "productReference": {"reference": "Device/example"},
        "note": [{"text": "benchmark charge"}],
    }).encode()


def request_bytes(port: int, n: int, prefer: str) -> bytes:
    """One complete HTTP/1.1 POST /fhir/ChargeItem request."""
    body = charge_item(n)
    head = (f"POST /fhir/ChargeItem HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: application/fhir+json\r\nAccept: application/fhir+json\r\n"
            f"Authorization: Bearer {TOKEN}\r\nPrefer: return={prefer}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n")
    return head.encode() + body


async def _read_response(reader: asyncio.StreamReader) -> int:
    """Read one response (Content-Length or chunked); return its status."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    lower = head.lower()
    if b"transfer-encoding: chunked" in lower:
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    else:
        at = lower.find(b"content-length:")
        if at >= 0:
            length = int(lower[at + 15:lower.index(b"\r\n", at)])
            await reader.readexactly(length)
    return status


async def _connection(port: int, requests: list[bytes], latencies: list[float]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for payload in requests:
        started = time.perf_counter()
        writer.write(payload)
        status = await _read_response(reader)
        latencies.append(time.perf_counter() - started)
        if status != 201:
            raise RuntimeError(f"HTTP {status}")
    writer.close()
    await writer.wait_closed()


async def _drive(port: int, connections: int, batches: list[list[bytes]]
                 ) -> tuple[float, float, list[float]]:
    """(wall seconds, client CPU seconds, latencies) for one run over the connections."""
    latencies: list[float] = []
    cpu, started = time.process_time(), time.perf_counter()
    await asyncio.gather(*[_connection(port, batches[c], latencies) for c in range(connections)])
    return time.perf_counter() - started, time.process_time() - cpu, latencies


def _cpu_seconds(pid: int) -> float:
    """utime + stime of a process, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _sent(engine: EngineProcess) -> float:
    return engine.metric("plexus_messages_sent_total", channel="bench-fhir",
                         destination="billing")


def _batches(port: int, connections: int, per: int, start: int, prefer: str
             ) -> list[list[bytes]]:
    return [[request_bytes(port, start + c * per + i, prefer) for i in range(per)]
            for c in range(connections)]


def _py_spy(pid: int, path: str) -> subprocess.Popen[bytes]:
    """py-spy sampling the engine's GIL holder (all threads) until SIGINT."""
    fmt = {".svg": "flamegraph", ".json": "speedscope"}.get(Path(path).suffix, "raw")
    spy = subprocess.Popen(["py-spy", "record", "--gil", "--threads", "--rate", "200",
                            "--format", fmt, "--output", path, "--pid", str(pid)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)  # attached before the run starts
    return spy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--warmup", type=int, default=1000)
    parser.add_argument("--store", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--prefer", choices=["minimal", "representation"],
                        default="representation", help="the Prefer: return= of each create")
    parser.add_argument("--commit-thread", action="store_true",
                        help="sqlite: commit in a writer thread (store.commit_thread)")
    parser.add_argument("--profile", metavar="FILE", help="py-spy the engine into FILE")
    parser.add_argument("--no-file-fsync", action="store_true",
                        help="diagnosis only: do not fsync delivered files")
    args = parser.parse_args()

    schema = f"plexus_bench_{os.getpid()}"
    dsn = os.environ.get("PLEXUS_DSN", "host=127.0.0.1 port=5432 dbname=test user=postgres")
    settings = (f'store: {{backend: postgres, dsn: "{dsn}", schema: {schema}}}\n'
                if args.store == "postgres" else
                "store: {commit_thread: true}\n" if args.commit_thread else "")
    per = args.requests // args.connections
    total = per * args.connections
    with tempfile.TemporaryDirectory(prefix="plexus-bench-") as tmp:
        work = Path(tmp)
        port = free_port()
        engine = EngineProcess(work / "node", {"bench": CHANNEL.format(
            port=port, token=TOKEN, out=work / "out", fsync=not args.no_file_fsync)},
            log_level="warning", settings=settings)
        warmup = _batches(port, min(4, args.connections), args.warmup // 4, 10**7, args.prefer)
        batches = _batches(port, args.connections, per, 0, args.prefer)
        spy = None
        try:
            engine.start()
            pid = engine.proc.pid  # type: ignore[union-attr]
            asyncio.run(_drive(port, len(warmup), warmup))
            engine.wait_for(lambda: _sent(engine) >= sum(map(len, warmup)), timeout=120,
                            what="warm-up delivery")
            base, engine_cpu = _sent(engine), _cpu_seconds(pid)
            spy = _py_spy(pid, args.profile) if args.profile else None
            started = time.perf_counter()
            elapsed, client_cpu, latencies = asyncio.run(
                _drive(port, args.connections, batches))
            engine_cpu = _cpu_seconds(pid) - engine_cpu
            if spy is not None:
                spy.send_signal(signal.SIGINT)
                spy.wait(60)
            engine.wait_for(lambda: _sent(engine) >= base + total, timeout=600,
                            what="delivery")
            delivered_elapsed = time.perf_counter() - started
            rss = peak_rss_mb(pid)
        finally:
            if spy is not None and spy.poll() is None:
                spy.kill()
            engine.__exit__(None)
            if args.store == "postgres":
                drop_schema(dsn, schema)
        files = sum(1 for _ in os.scandir(work / "out"))
    p50, p99 = p50_p99_ms(latencies)
    print(f"connections={args.connections} requests={total} store={args.store}"
          f"{' (commit thread)' if args.commit_thread else ''} prefer={args.prefer}")
    print(f"creates={total / elapsed:,.0f}/s (201 after the durable commit)")
    print(f"delivered={total / delivered_elapsed:,.0f}/s (end to end, file destination)")
    print(f"latency_p50={p50:.2f} ms latency_p99={p99:.2f} ms")
    print(f"engine_cpu={engine_cpu / elapsed:.0%} of a core, "
          f"{engine_cpu / total * 1e6:.0f} us per create; "
          f"client_cpu={client_cpu / elapsed:.0%} of a core")
    print(f"load_average={os.getloadavg()[0]:.1f} on {os.cpu_count()} cores "
          "(other work on the machine lowers every figure)")
    print(f"peak_rss={rss:.1f} MB files_written={files}"
          + (f" profile={args.profile} (sampling slows the engine)" if args.profile else ""))


if __name__ == "__main__":
    main()
