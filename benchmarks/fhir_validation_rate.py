"""FHIR validation rate: parse_body + validate_resource, and a 30-entry transaction plan.

Prints numbers, asserts none. Usage: python benchmarks/fhir_validation_rate.py [--seconds 2.0]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from protocols.fhir.bundle import plan_bundle  # noqa: E402
from protocols.fhir.content import parse_body  # noqa: E402
from protocols.fhir.validation import resource_model, validate_resource  # noqa: E402

DATA = ROOT / "tests" / "data" / "fhir"
SERVED = {"ChargeItem", "Device", "SupplyRequest", "SupplyDelivery", "Invoice", "Claim"}


def transaction(groups: int = 10) -> bytes:
    """A transaction of `groups` x (Device + SupplyRequest + ChargeItem), linked by urn:uuid."""
    base = json.loads((DATA / "authored" / "transaction_bundle_supply_chain_authored.json")
                      .read_bytes())
    text = json.dumps(base["entry"])
    entries = []
    for g in range(groups):
        copy = text
        for old in {e["fullUrl"] for e in base["entry"]}:
            copy = copy.replace(old, old[:-4] + f"{g:04d}")
        entries += json.loads(copy.replace("|100234", f"|1{g:05d}"))
    return json.dumps({"resourceType": "Bundle", "type": "transaction",
                       "entry": entries}).encode()


def rate(work: Callable[[], Any], seconds: float) -> tuple[float, float]:
    """(operations per second, mean ms per operation) over about `seconds`."""
    work()  # warm up: model classes and tables are built on first use
    count, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        work()
        count += 1
    return count / elapsed, elapsed / count * 1000


def main() -> None:
    """Run each measurement and print one line per case."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=2.0)
    seconds = parser.parse_args().seconds
    charge_raw = (DATA / "r4_chargeitem-example.json").read_bytes()
    charge = parse_body(charge_raw)
    model = resource_model("ChargeItem")
    bundle_raw = transaction()
    bundle_entries = len(json.loads(bundle_raw)["entry"])
    cases: list[tuple[str, Callable[[], Any]]] = [
        ("ChargeItem example: parse_body + validate_resource",
         lambda: validate_resource(parse_body(charge_raw), SERVED)),
        ("ChargeItem example: R4B model_validate alone",
         lambda: model.model_validate(charge)),
        (f"{bundle_entries}-entry transaction: parse_body + plan_bundle",
         lambda: plan_bundle(parse_body(bundle_raw), SERVED)),
    ]
    print(f"python {sys.version.split()[0]}, {seconds:.1f} s per case")
    for name, work in cases:
        per_second, ms = rate(work, seconds)
        print(f"{name:58s} {per_second:9.1f} /s  {ms:7.3f} ms each")


if __name__ == "__main__":
    main()
