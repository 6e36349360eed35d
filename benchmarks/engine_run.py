"""What the engine benchmarks share: peak RSS and CPU time of a process, latency percentiles,
and dropping the PostgreSQL schema a run used."""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path


def peak_rss_mb(pid: int) -> float:
    """Peak resident set size of a live process, in MB (VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> tuple[float, float]:
    """User and system CPU time a live process (all its threads) has used so far.

    CPU per message is steadier than a rate on a shared 2-core machine: another tenant
    slows the clock, not the work.
    """
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def file_create_us(directory: Path, count: int = 300) -> tuple[float, float]:
    """Wall and system-CPU microseconds to create one empty file in `directory`.

    Hidden probe files (.fs-probe-N), left in place: deleting them would make the next
    creates dearer on an ext4 without a journal, which skips recently deleted inodes.
    """
    before, started = os.times(), time.perf_counter()
    for n in range(count):
        os.close(os.open(directory / f".fs-probe-{n}", os.O_WRONLY | os.O_CREAT | os.O_EXCL))
    wall, after = time.perf_counter() - started, os.times()
    return wall / count * 1e6, (after.system - before.system) / count * 1e6


def p50_p99_ms(latencies: list[float]) -> tuple[float, float]:
    """Median and 99th percentile of latencies in seconds, as milliseconds."""
    ordered = sorted(latencies)
    return (statistics.median(ordered) * 1000,
            ordered[max(0, int(len(ordered) * 0.99) - 1)] * 1000)


def drop_schema(dsn: str, schema: str) -> None:
    """Drop a benchmark's PostgreSQL schema."""
    from engine.store.postgres import connect

    with connect(dsn, "public") as db:
        db.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
