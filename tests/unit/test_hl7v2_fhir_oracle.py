"""HL7 v2 -> FHIR against the Microsoft FHIR-Converter oracle (tests/data/hl7v2_to_fhir).

Every pair converts without error and gives a Bundle that validates with fhir.resources (R4B
models, which accept R4 JSON). Pairs in FULL_MATCH must have no difference at all (see
tests/fhir_compare.py for what is compared); every other pair may not get worse than its
recorded BUDGET. The summary test prints the state of every pair.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class

from tests.fhir_compare import Comparison, compare_bundles
from transforms.fhir_convert import Options, convert

DATA = Path(__file__).resolve().parents[1] / "data" / "hl7v2_to_fhir"
PAIRS = sorted(p.name[: -len(".expected.json")] for p in DATA.glob("*.expected.json"))

# The oracle bundles were produced on machines in different time zones: these were converted
# with FHIR-Converter's "local" time-zone handling on a +05:30 machine (every timestamp shifted
# to +05:30); the others keep each timestamp's own offset.
LOCAL_TIME_PAIRS = {
    "adt_a01_02", "adt_a03_02", "adt_a08_02", "adt_a09_01", "adt_a40_01", "adt_a60_02",
    "bar_p01_01", "bar_p02_01", "bar_p12_01", "mdm_t01_01", "oml_o21_mdhhs_1", "orm_o01_03",
    "oru_r01_lri_cbc", "oul_r22_02", "rde_o11_02", "rds_o13_02", "siu_s12_02", "vxu_v04_nist",
}

FULL_MATCH = [
    "adt_a01_02", "adt_a01_v23", "adt_a01_v251_small", "adt_a03_02", "adt_a04_v23",
    "adt_a04_v23_redox_tz", "adt_a08_02", "adt_a09_01", "adt_a40_01", "adt_a60_02",
    "dft_p03_01", "dft_p03_02", "dft_p11_01", "dft_p11_02",
    "oru_r01_lab_1", "oru_r01_lri_cbc", "oru_r01_minimal",
    "rde_o11_02",
]

# Remaining differences per pair that does not match fully yet: the number may only go down.
BUDGET = {
    "bar_p01_01": 25,
    "bar_p02_01": 3,
    "bar_p12_01": 20,
    "mdm_t01_01": 23,
    "omg_o19_02": 168,
    "oml_o21_mdhhs_1": 26,
    "orm_o01_03": 52,
    "oul_r22_02": 139,
    "rds_o13_02": 27,
    "ref_i12_01": 55,
    "siu_s12_02": 33,
    "vxu_v04_iz_admin_child": 15,
    "vxu_v04_nist": 19,
}

EXTRA_MESSAGES = ["mdm_t02_hl7v2tofhir_ig"]
"""Pairs whose oracle is not FHIR-Converter JSON (an HL7 IG sample, XML): converted and
validated only."""


def _options(name: str) -> Options:
    """The options the oracle for `name` corresponds to (no SupplyDelivery: FHIR-Converter has
    no such mapping)."""
    zone = "+05:30" if name in LOCAL_TIME_PAIRS else "preserve"
    return Options(timezone=zone, supply_delivery=False)


@lru_cache(maxsize=64)
def _converted(name: str) -> str:
    """The converted Bundle of a pair as JSON text (cached: conversions are deterministic)."""
    text = (DATA / f"{name}.hl7").read_text(encoding="utf-8-sig")
    return json.dumps(convert(text, _options(name)))


def _compare(name: str) -> Comparison:
    """Oracle comparison for one pair."""
    expected = json.loads((DATA / f"{name}.expected.json").read_text(encoding="utf-8"))
    return compare_bundles(expected, json.loads(_converted(name)))


def test_every_pair_is_classified() -> None:
    """Each oracle pair is either required to match fully or has a budget."""
    assert len(PAIRS) == 31
    assert sorted([*FULL_MATCH, *BUDGET]) == PAIRS


@pytest.mark.parametrize("name", [*PAIRS, *EXTRA_MESSAGES])
def test_bundle_is_valid_fhir(name: str) -> None:
    """The converted Bundle is a valid R4 batch Bundle with one PUT per resource."""
    bundle: dict[str, Any] = json.loads(_converted(name))
    get_fhir_model_class("Bundle").model_validate(bundle)
    assert bundle["type"] == "batch"
    for entry in bundle["entry"]:
        resource = entry["resource"]
        assert entry["request"] == {"method": "PUT",
                                    "url": f"{resource['resourceType']}/{resource['id']}"}


@pytest.mark.parametrize("name", FULL_MATCH)
def test_full_match(name: str) -> None:
    """These pairs match the oracle on every compared fact."""
    result = _compare(name)
    assert result.differences == [], "\n".join(result.differences[:40])


@pytest.mark.parametrize("name", sorted(BUDGET))
def test_within_budget(name: str) -> None:
    """The other pairs convert and do not drift further from the oracle."""
    result = _compare(name)
    assert len(result.differences) <= BUDGET[name], "\n".join(result.differences[:40])


def test_conversion_is_stable() -> None:
    """Converting the same message twice gives the same Bundle (deterministic ids)."""
    text = (DATA / "dft_p03_01.hl7").read_text(encoding="utf-8-sig")
    assert convert(text, _options("dft_p03_01")) == convert(text, _options("dft_p03_01"))


def test_summary(capsys: pytest.CaptureFixture[str]) -> None:
    """Print pairs matching fully and the remaining differences per pair."""
    lines, full = [], 0
    for name in PAIRS:
        result = _compare(name)
        count = len(result.differences)
        full += count == 0
        lines.append(f"  {name:<26} {'match' if count == 0 else f'{count} differences':>16}"
                     f"  ({result.actual_resources}/{result.expected_resources} resources)")
    with capsys.disabled():
        print(f"\nHL7 v2 -> FHIR oracle: {full}/{len(PAIRS)} pairs match fully")
        print("\n".join(lines))
    assert full >= len(FULL_MATCH)
