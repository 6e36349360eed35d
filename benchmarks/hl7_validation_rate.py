"""HL7 v2 structure validation rate (hl7apy via StructureValidator); prints numbers, asserts none.

Usage: python benchmarks/hl7_validation_rate.py [--seconds 2.0]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.errors import ValidationError  # noqa: E402
from protocols.hl7v2.message import split_batch  # noqa: E402
from protocols.hl7v2.validation import (  # noqa: E402
    StructureValidationConfig,
    StructureValidator,
)

DATA = ROOT / "tests" / "data" / "hl7v2"
PROFILE = ROOT / "tests" / "data" / "hl7v2_profiles" / "adt_a01_v25_minimal_profile_authored.xml"
SAMPLES = {  # name -> (file under tests/data/hl7v2, profile or None)
    "ADT^A01 v2.5.1, 5 segments": ("adt_a01_v251_small_bom_fhirconv.hl7", None),
    "ADT^A04 v2.5, 6 segments": ("batch_no_header_2msgs_pyhl7.hl7", None),
    "ADT^A01 v2.5 + Z, profile": ("authored/edge_z_segments_v25_authored.hl7", PROFILE),
    "OMD^O03 v2.5, 12 segments": ("omd_o03_diet_order_hapi.hl7", None),
    "OUL^R22 v2.8, 28 segs, invalid": ("oul_r22_fhirconv_01.hl7", None),
}


def _load(name: str) -> str:
    """The first message of a corpus file, as CR-separated text."""
    text = (DATA / name).read_bytes().decode("utf-8")
    return split_batch(text)[0].encode()


def rate(validator: StructureValidator, text: str, seconds: float) -> tuple[float, str]:
    """Best of three timed runs in messages per second, and the outcome."""
    outcome = "valid"
    best = 0.0
    for _ in range(3):
        count, start = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - start) < seconds / 3:
            try:
                validator.validate(text)
            except ValidationError as exc:
                outcome = f"{exc.location}: {exc.message}"[:60]
            count += 1
        best = max(best, count / elapsed)
    return best, outcome


def main() -> None:
    """Print messages/second per sample and validation level."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=2.0, help="time per measurement")
    args = parser.parse_args()
    print(f"{'sample':32s}{'strict':>14s}{'tolerant':>14s}  outcome (strict)")
    for label, (name, profile) in SAMPLES.items():
        text = _load(name)
        results = []
        for level in ("strict", "tolerant"):
            config = StructureValidationConfig(
                profile=str(profile) if profile else None, level=level)
            results.append(rate(StructureValidator(config), text, args.seconds))
        print(f"{label:32s}" + "".join(f"{r:>8,.0f} msg/s" for r, _ in results)
              + f"  {results[0][1]}")


if __name__ == "__main__":
    main()
