"""HL7 v2 codec throughput (messages/second) on corpus samples; prints numbers, asserts none.

Usage: python benchmarks/hl7_codec_throughput.py [--seconds 1.0]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from protocols.hl7v2.message import Hl7Message, split_batch  # noqa: E402

SAMPLES = {  # name -> file under tests/data/hl7v2
    "ADT^A01 v2.3, 12 segments": "adt_a01_v23_bom_fhirconv.hl7",
    "ADT^A04 v2.5, 6 segments": "batch_no_header_2msgs_pyhl7.hl7",
    "ORU^R01 LRI CBC, 33 segments": "oru_r01_lri_cbc_fhirconv.hl7",
    "DFT^P03 v2.8, 19 segments": "dft_p03_fhirconv_01.hl7",
}


def _load(name: str) -> str:
    """The first message of a corpus file, as CR-separated text."""
    text = (ROOT / "tests" / "data" / "hl7v2" / name).read_bytes().decode("utf-8")
    return split_batch(text)[0].encode()


def parse_only(text: str) -> None:
    """Parse."""
    Hl7Message.parse(text)


def parse_get(text: str) -> None:
    """Parse, read MSH-9 and MSH-10."""
    msg = Hl7Message.parse(text)
    _ = msg.message_type, msg.control_id


def parse_set_encode(text: str) -> None:
    """Parse, read MSH-9/MSH-10, set PID-5.1, encode."""
    msg = Hl7Message.parse(text)
    _ = msg.message_type, msg.control_id
    msg.set("PID-5.1", "TEST^PATIENT")
    msg.encode()


def rate(fn: Callable[[str], None], text: str, seconds: float) -> float:
    """Best of three timed runs, in messages per second."""
    batch = 1000
    best = 0.0
    for _ in range(3):
        count, start = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - start) < seconds / 3:
            for _ in range(batch):
                fn(text)
            count += batch
        best = max(best, count / elapsed)
    return best


def main() -> None:
    """Print a table of messages/second per sample and operation."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=1.5, help="time per measurement")
    args = parser.parse_args()
    ops = [("parse", parse_only), ("parse+get", parse_get),
           ("parse+get+set+encode", parse_set_encode)]
    print(f"{'sample':34s}" + "".join(f"{name:>24s}" for name, _ in ops))
    for label, name in SAMPLES.items():
        text = _load(name)
        rates = [rate(fn, text, args.seconds) for _, fn in ops]
        print(f"{label:34s}" + "".join(f"{r:>18,.0f} msg/s" for r in rates))


if __name__ == "__main__":
    main()
