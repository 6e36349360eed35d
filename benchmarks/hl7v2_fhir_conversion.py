"""HL7 v2 -> FHIR R4 conversion rate (conversions/second); prints numbers, asserts none.

Measures ADT^A01 (small v2.5.1 and large v2.8 samples) and, for context, ORU^R01 and DFT^P03,
each as: convert to a Bundle dict, and convert + json.dumps (what the channel step does).
fhir.resources validation is reported separately (it is not on the conversion path).

Usage: python benchmarks/hl7v2_fhir_conversion.py [--seconds 2.0]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fhir.resources.R4B import get_fhir_model_class  # noqa: E402

from transforms.fhir_convert import convert  # noqa: E402

DATA = ROOT / "tests" / "data" / "hl7v2_to_fhir"
SAMPLES = {  # label -> file under tests/data/hl7v2_to_fhir
    "ADT^A01 v2.5.1, 5 segments": "adt_a01_v251_small.hl7",
    "ADT^A01 v2.8, 5 segments (47 resources)": "adt_a01_02.hl7",
    "ORU^R01 LRI CBC, 33 segments": "oru_r01_lri_cbc.hl7",
    "DFT^P03 v2.8, 20 segments": "dft_p03_01.hl7",
}


def rate(fn: Callable[[], object], seconds: float) -> float:
    """Best of three timed runs, in calls per second."""
    best = 0.0
    for _ in range(3):
        count, start = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - start) < seconds / 3:
            for _ in range(20):
                fn()
            count += 20
        best = max(best, count / elapsed)
    return best


def main() -> None:
    """Print conversions/second per sample."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=2.0, help="time per measurement")
    args = parser.parse_args()
    bundle_model = get_fhir_model_class("Bundle")
    print(f"{'sample':42s}{'convert':>18s}{'convert+json':>18s}{'validate':>18s}")
    for label, name in SAMPLES.items():
        text = (DATA / name).read_text(encoding="utf-8-sig")
        bundle = convert(text)
        rates = [rate(lambda t=text: convert(t), args.seconds),
                 rate(lambda t=text: json.dumps(convert(t)), args.seconds),
                 rate(lambda b=bundle: bundle_model.model_validate(b), args.seconds)]
        print(f"{label:42s}" + "".join(f"{r:>12,.0f} /s   " for r in rates))


if __name__ == "__main__":
    main()
