"""X12 inbound throughput on one core: parse + envelope + set validation + 997 + canonical.

Samples: an 850 with 50 PO1 lines built with the writer (validated against our own 004010
definitions, mapped to canonical JSON by transforms.x12:to_canonical, as a channel would), and
for comparison the corpus 837P (005010X222A1) validated through our pyx12 bridge (maps loaded
once) and by pyx12's own x12n_document (reloads its maps on every call). Single-threaded;
`--cpu N` pins the process to one CPU. Prints numbers (docs/s), asserts none; the target for
the full 850 path is 1,000 docs/s.

Usage: python3 benchmarks/x12_throughput.py [--seconds 2.0] [--cpu N]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from x12_codec_throughput import DATA, WHEN, purchase_order, rate  # noqa: E402

from engine.message import Message  # noqa: E402
from engine.steps import StepContext  # noqa: E402
from protocols.x12 import parse  # noqa: E402
from protocols.x12.ack import ack_summary, build_ack  # noqa: E402
from protocols.x12.envelope import validate_envelope  # noqa: E402
from protocols.x12.hipaa import pyx12_ack  # noqa: E402
from protocols.x12.validate import validate_set  # noqa: E402
from transforms.x12 import to_canonical  # noqa: E402

TARGET = 1000.0  # 850s per second, full path


def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--cpu", type=int, default=None, help="pin to this CPU")
    args = parser.parse_args()
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    po = purchase_order()
    ic0 = parse(po)[0]
    ts0 = ic0.groups[0].sets[0]
    context = StepContext("x12-benchmark")

    def full_850() -> None:
        ic = parse(po)[0]
        summary = ack_summary(ic)
        build_ack(ic, summary=summary, interchange_number=7, group_number=7, now=WHEN)
        assert summary.deliver, "the sample 850 must be accepted"
        to_canonical(Message(po, "x12"), context)

    def x12_850() -> None:
        ic = parse(po)[0]
        build_ack(ic, interchange_number=7, group_number=7, now=WHEN)

    rows = [
        ("850 x50 lines: parse", lambda: parse(po)),
        ("850 x50 lines: envelope", lambda: validate_envelope(ic0)),
        ("850 x50 lines: validate_set", lambda: validate_set(ts0, "004010")),
        ("850 x50 lines: parse + envelope + sets + 997", x12_850),
        ("850 x50 lines: canonical (to_canonical)",
         lambda: to_canonical(Message(po, "x12"), context)),
        ("850 x50 lines: FULL parse+validate+997+canonical", full_850),
    ]
    p837 = DATA / "837p_5010_x12types.edi"
    raw = p837.read_bytes()
    ic837 = parse(raw)[0]
    ts837, v837 = ic837.groups[0].sets[0], ic837.groups[0].version
    validate_set(ts837, v837)  # load pyx12's maps once, outside the timing

    def full_837() -> None:
        ic = parse(raw)[0]
        build_ack(ic, interchange_number=7, group_number=7, now=WHEN)

    rows += [
        ("837P (corpus): validate_set via pyx12 bridge", lambda: validate_set(ts837, v837)),
        ("837P (corpus): parse + envelope + bridge + 999", full_837),
        ("837P (corpus): pyx12 x12n_document (own 999)", lambda: pyx12_ack(raw)),
    ]
    print(f"{'operation (one core)':52} {'docs/s':>12} {'ms each':>9}")
    results = {}
    for name, fn in rows:
        seconds = args.seconds if "x12n_document" not in name else max(args.seconds, 3.0)
        per_s = rate(fn, seconds)
        results[name] = per_s
        print(f"{name:52} {per_s:12,.1f} {1000 / per_s:9.3f}", flush=True)
    full = results["850 x50 lines: FULL parse+validate+997+canonical"]
    verdict = "met" if full >= TARGET else "NOT met"
    print(f"target {TARGET:,.0f} 850s/s on the full path: {verdict} ({full:,.0f}/s)")


if __name__ == "__main__":
    main()
