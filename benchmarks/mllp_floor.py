"""The floor of the stack: what the bare guarantees cost on this machine, without Plexus.

    python benchmarks/mllp_floor.py --connections 8 --messages 20000
    python benchmarks/mllp_floor.py --connections 1 --messages 5000 --receive-only
    python benchmarks/mllp_floor.py --connections 8 --messages 20000 --processes 2

A Twisted MLLP server does only what issue 3 requires of every message, and nothing else:
frame it, read MSH-10, insert it into SQLite (WAL, synchronous=FULL) in a group commit, ACK
after COMMIT, write it to its own file atomically (temp file, flush, rename, directory
fsync; Plexus's BatchWriter, unlimited files in flight) and record it as sent in the next
commit. No parsing, channel, transform, index, per-stage content, metrics or logging.

It is driven by the load generator of mllp_throughput.py and prints the same figures, so the
two compare directly: the floor's rates are the ceiling, on this machine, for an engine on
Python, Twisted and SQLite that keeps these guarantees this way; the gap to
mllp_throughput.py is what Plexus's own features cost.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.engine_run import cpu_seconds, p50_p99_ms, peak_rss_mb  # noqa: E402
from benchmarks.mllp_throughput import _drive  # noqa: E402
from tests.e2e.engine_process import free_port  # noqa: E402

START, END = b"\x0b", b"\x1c\x0d"
ACK = (b"\x0bMSH|^~\\&|PLEXUS|PLEXUS|EHR|GOODHEALTH|20240101000000||ACK|%s|P|2.5.1\r"
       b"MSA|AA|%s\r\x1c\x0d")


def serve(port: int, directory: str, deliver: bool) -> None:
    """Run the bare server until killed."""
    from twisted.internet import protocol, reactor

    from protocols.file.batch_writer import BatchWriter

    db = sqlite3.connect(os.path.join(directory, "floor.db"), isolation_level=None)
    for pragma in ("page_size=2048", "journal_mode=WAL", "synchronous=FULL",
                   "temp_store=MEMORY"):
        db.execute(f"PRAGMA {pragma}")
    db.execute("CREATE TABLE m (id INTEGER PRIMARY KEY, cid BLOB, body BLOB, "
               "sent INTEGER NOT NULL DEFAULT 0)")
    out = os.path.join(directory, "out")
    writer = BatchWriter(reactor, out, fsync=True, overwrite=True, create_directory=True)
    state: dict[str, Any] = {"pending": [], "sent": [], "call": None, "next_id": 0}

    def schedule() -> None:
        if state["call"] is None:
            state["call"] = reactor.callLater(0, flush)

    def delivered(_: Any, message_id: int) -> None:
        state["sent"].append((message_id,))
        schedule()

    def flush() -> None:
        state["call"] = None
        batch, state["pending"] = state["pending"], []
        sent, state["sent"] = state["sent"], []
        rows = []
        for _, cid, body in batch:
            state["next_id"] += 1
            rows.append((state["next_id"], cid, body))
        db.execute("BEGIN IMMEDIATE")
        db.executemany("INSERT INTO m (id, cid, body) VALUES (?, ?, ?)", rows)
        db.executemany("UPDATE m SET sent = 1 WHERE id = ?", sent)
        db.execute("COMMIT")
        for (transport, cid, body), (message_id, _, _) in zip(batch, rows, strict=True):
            transport.write(ACK % (cid, cid))
            if deliver:
                writer.write(cid.decode() + ".hl7", body).addCallback(delivered, message_id)

    class Mllp(protocol.Protocol):
        buffer = b""

        def dataReceived(self, data: bytes) -> None:
            self.buffer += data
            while True:
                start = self.buffer.find(START)
                end = self.buffer.find(END, start + 1)
                if start < 0 or end < 0:
                    return
                body, self.buffer = self.buffer[start + 1:end], self.buffer[end + 2:]
                cid = body.split(b"\r", 1)[0].split(b"|")[9]
                state["pending"].append((self.transport, cid, body))
                schedule()

    # SO_REUSEPORT: with --processes N the kernel spreads the connections over N servers
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(128)
    listener.setblocking(False)
    reactor.adoptStreamPort(listener.fileno(), socket.AF_INET,
                            protocol.Factory.forProtocol(Mllp))
    print("ready", flush=True)
    reactor.run()


def _count(root: Path) -> int:
    """Files delivered so far by every server under root."""
    return sum(1 for out in root.glob("server-*/out") for e in os.scandir(out)
               if not e.name.startswith("."))


def _start(port: int, directory: Path, receive_only: bool) -> subprocess.Popen[str]:
    directory.mkdir()
    argv = [sys.executable, __file__, "--serve", str(port), "--dir", str(directory)]
    server = subprocess.Popen(argv + (["--receive-only"] if receive_only else []),
                              stdout=subprocess.PIPE, text=True)
    assert server.stdout is not None and server.stdout.readline().strip() == "ready"
    return server


def _cpu(servers: list[subprocess.Popen[str]]) -> tuple[float, float]:
    times = [cpu_seconds(s.pid) for s in servers]
    return sum(u for u, _ in times), sum(s for _, s in times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=1)
    parser.add_argument("--messages", type=int, default=10000)
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--receive-only", action="store_true",
                        help="store and ACK, deliver nothing")
    parser.add_argument("--processes", type=int, default=1,
                        help="servers sharing the port, each with its own database and "
                             "directory (the kernel spreads the connections)")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.dir, not args.receive_only)
        return
    with tempfile.TemporaryDirectory(prefix="plexus-floor-") as tmp:
        port, root = free_port(), Path(tmp)
        servers: list[subprocess.Popen[str]] = []
        try:
            for n in range(args.processes):
                servers.append(_start(port, root / f"server-{n}", args.receive_only))
            asyncio.run(_drive(port, min(args.connections, 4), args.warmup, "W"))
            while not args.receive_only and _count(root) < args.warmup:
                time.sleep(0.05)
            total = args.messages // args.connections * args.connections
            cpu0, load0 = _cpu(servers), os.times()
            started = time.perf_counter()
            elapsed, latencies = asyncio.run(_drive(port, args.connections, total, "B"))
            while not args.receive_only and _count(root) < args.warmup + total:
                time.sleep(0.05)
            delivered = time.perf_counter() - started
            cpu1, load1 = _cpu(servers), os.times()
            rss = max(peak_rss_mb(s.pid) for s in servers)
        finally:
            for server in servers:
                server.kill()
                server.wait()
    p50, p99 = p50_p99_ms(latencies)
    user, system = (cpu1[0] - cpu0[0]) / total, (cpu1[1] - cpu0[1]) / total
    load = (load1.user + load1.system - load0.user - load0.system) / total
    print(f"floor connections={args.connections} messages={total} "
          f"processes={args.processes}")
    print(f"ack_rate={total / elapsed:,.0f} msg/s")
    if not args.receive_only:
        print(f"delivered_rate={total / delivered:,.0f} msg/s (end to end, file per message)")
    print(f"ack_latency_p50={p50:.2f} ms ack_latency_p99={p99:.2f} ms peak_rss={rss:.1f} MB")
    print(f"server_cpu={(user + system) * 1e6:.0f} us per message (user {user * 1e6:.0f} + "
          f"system {system * 1e6:.0f}); load generator {load * 1e6:.0f} us per message")


if __name__ == "__main__":
    main()
