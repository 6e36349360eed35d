"""X12 codec throughput: parses/s, envelope validations/s and parse+validate+TA1/s.

Samples: an 850 with 50 PO1 lines built with the writer, and the largest X12 file under
tests/data/x12. Prints numbers, asserts none.

Usage: python benchmarks/x12_codec_throughput.py [--seconds 1.0]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from protocols.x12 import parse  # noqa: E402
from protocols.x12.envelope import validate_envelope  # noqa: E402
from protocols.x12.ta1 import build_ta1_for_report  # noqa: E402
from protocols.x12.writer import (  # noqa: E402
    build_group,
    build_interchange,
    build_transaction_set,
    encode,
    make_segment,
)

DATA = ROOT / "tests" / "data" / "x12"
WHEN = datetime(2024, 1, 16, 12, 0)


def purchase_order(lines: int = 50) -> bytes:
    """An 850 interchange with `lines` PO1/PID pairs, as bytes."""
    body = [make_segment("BEG", "00", "SA", "PO-77120", None, "20240116"),
            make_segment("REF", "DP", "038"),
            make_segment("DTM", "002", "20240120"),
            make_segment("N1", "ST", "GOOD HEALTH HOSPITAL", "92", "CENTRAL"),
            make_segment("N3", "100 MAIN STREET"),
            make_segment("N4", "SPRINGFIELD", "IL", "62701")]
    for n in range(1, lines + 1):
        body.append(make_segment("PO1", str(n), "10", "EA", "4.25", None, "VC", f"GMD-{n:05d}",
                                 "IN", f"{100000 + n}"))
        body.append(make_segment("PID", "F", None, None, None, f"SURGICAL GLOVES SIZE {n}"))
    body.append(make_segment("CTT", str(lines)))
    ts = build_transaction_set("850", 1, body)
    group = build_group("PO", "GOODHEALTH", "GMDSUPPLY", 501, [ts], when=WHEN)
    ic = build_interchange(("ZZ", "GOODHEALTH"), ("ZZ", "GMDSUPPLY"), [group], 501, when=WHEN)
    return encode(ic).encode("ascii")


def largest_corpus_file() -> tuple[str, bytes]:
    """Name and bytes of the largest .edi/.x12 file in tests/data/x12."""
    files = [p for p in DATA.rglob("*") if p.suffix in (".edi", ".x12")]
    biggest = max(files, key=lambda p: p.stat().st_size)
    return str(biggest.relative_to(DATA)), biggest.read_bytes()


def rate(fn: Callable[[], object], seconds: float) -> float:
    """Calls per second of `fn` over about `seconds`."""
    fn()
    count, start = 0, time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(20):
            fn()
        count += 20
        now = time.perf_counter()
        if now >= deadline:
            return count / (now - start)


def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=1.0)
    args = parser.parse_args()
    name, big = largest_corpus_file()
    samples = {"850, 50 PO1 lines (built)": purchase_order(), f"corpus {name}": big}
    print(f"{'sample':58} {'segments':>8} {'parse/s':>10} {'validate/s':>11} {'p+v+TA1/s':>10}")
    for label, data in samples.items():
        ic = parse(data)[0]
        segments = sum(1 for _ in ic.segments())

        def full(data: bytes = data) -> None:
            """Parse, validate the envelope, build the TA1."""
            for item in parse(data):
                build_ta1_for_report(validate_envelope(item), 1, WHEN)

        p = rate(lambda data=data: parse(data), args.seconds)
        v = rate(lambda ic=ic: validate_envelope(ic), args.seconds)
        f = rate(full, args.seconds)
        print(f"{label:58} {segments:8d} {p:10,.0f} {v:11,.0f} {f:10,.0f}")


if __name__ == "__main__":
    main()
