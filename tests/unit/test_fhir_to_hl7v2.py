"""FHIR ChargeItem -> HL7 v2.5.1 DFT^P03, and the DFT -> FHIR -> DFT round trip."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from engine.errors import ValidationError
from engine.message import Message
from engine.steps import StepContext
from protocols.hl7v2.message import Hl7Message
from transforms.fhir import chargeitem_to_dft, hl7v2_to_fhir
from transforms.fhir_convert import chargeitems_to_dft, convert

DATA = Path(__file__).resolve().parents[1] / "data"
AUTHORED_DFT = DATA / "hl7v2" / "authored" / "dft_p03_supply_charges_v251_authored.hl7"
WHEN = datetime(2024, 2, 1, 8, 30, tzinfo=UTC)
CPT = "http://www.ama-assn.org/go/cpt"


def _bundle(*resources: dict[str, Any]) -> dict[str, Any]:
    """A batch Bundle of resources (fullUrl = urn:uuid:<id>)."""
    return {"resourceType": "Bundle", "type": "collection",
            "entry": [{"fullUrl": f"urn:uuid:{r['id']}", "resource": r} for r in resources]}


PATIENT = {"resourceType": "Patient", "id": "p1",
           "identifier": [{"system": "http://example.com/v2-to-fhir-converter/Identifier/MRN",
                           "value": "MRN-1",
                           "type": {"coding": [{"code": "MR"}]}}],
           "name": [{"family": "Doe", "given": ["Jane", "Q"]}], "gender": "female",
           "birthDate": "1980-05-06"}
ENCOUNTER = {"resourceType": "Encounter", "id": "e1", "status": "in-progress",
             "class": {"code": "EMER"},
             "identifier": [{"value": "V-9", "type": {"coding": [{"code": "VN"}]}}]}
DEVICE = {"resourceType": "Device", "id": "d1",
          "identifier": [{"system": "urn:oid:1.2.3", "value": "ITEM-77"}],
          "deviceName": [{"name": "Suture kit", "type": "user-friendly-name"}],
          "type": {"coding": [{"system": "https://www.cms.gov/Medicare/Coding/"
                                         "HCPCSReleaseCodeSets", "code": "A4550"}]}}
DOCTOR = {"resourceType": "Practitioner", "id": "pr1",
          "identifier": [{"system": "urn:oid:2.16.840.1.113883.4.6", "value": "1234567890"}],
          "name": [{"family": "Who", "given": ["Doc"]}]}


def _charge(charge_id: str = "c1", **extra: Any) -> dict[str, Any]:
    """A ChargeItem for PATIENT / ENCOUNTER."""
    item = {"resourceType": "ChargeItem", "id": charge_id, "status": "billable",
            "identifier": [{"value": f"T-{charge_id}"}],
            "code": {"coding": [{"system": "http://example.com/v2-to-fhir-converter/"
                                           "CodeSystem/CDM", "code": "SUP-1",
                                 "display": "Suture kit"}]},
            "subject": {"reference": "Patient/p1"}, "context": {"reference": "Encounter/e1"},
            "occurrenceDateTime": "2024-01-31T14:05:00+01:00", "enteredDate": "2024-02-01",
            "quantity": {"value": 2},
            "priceOverride": {"value": 30.5, "currency": "USD"},
            "performer": [{"actor": {"reference": "Practitioner/pr1"}}]}
    item.update(extra)
    return item


def _dft(document: dict[str, Any]) -> Hl7Message:
    """Convert and parse back."""
    text = chargeitems_to_dft(document, sending_facility="HOSP", control_id="C1",
                              timestamp=WHEN)
    return Hl7Message.parse(text)


def test_chargeitem_bundle_to_dft() -> None:
    """MSH/EVN/PID/PV1 and one FT1 per ChargeItem with the charge's details."""
    msg = _dft(_bundle(PATIENT, ENCOUNTER, DOCTOR, _charge("c1"), _charge("c2")))
    assert msg.segment_ids == ["MSH", "EVN", "PID", "PV1", "FT1", "FT1"]
    assert msg.message_type == "DFT^P03" and msg.get("MSH-9.3") == "DFT_P03"
    assert msg.version == "2.5.1" and msg.control_id == "C1"
    assert msg.get("MSH-7") == "20240201083000+0000"
    assert msg.get("PID-3.1") == "MRN-1" and msg.get("PID-3.4") == "MRN"
    assert msg.get("PID-3.5") == "MR"
    assert msg.get("PID-5.1") == "Doe" and msg.get("PID-5.2") == "Jane"
    assert msg.get("PID-7") == "19800506" and msg.get("PID-8") == "F"
    assert msg.get("PV1-2") == "E" and msg.get("PV1-19.1") == "V-9"
    assert msg.get("FT1-1") == "1" and msg.get("FT1[2]-1") == "2"
    assert msg.get("FT1-2") == "T-c1" and msg.get("FT1[2]-2") == "T-c2"
    assert msg.get("FT1-4") == "20240131140500+0100"
    assert msg.get("FT1-5") == "20240201"
    assert msg.get("FT1-6") == "CG"
    assert (msg.get("FT1-7.1"), msg.get("FT1-7.2"), msg.get("FT1-7.3")) == \
        ("SUP-1", "Suture kit", "CDM")
    assert msg.get("FT1-10") == "2"
    assert (msg.get("FT1-11.1.1"), msg.get("FT1-11.1.2")) == ("30.5", "USD")
    assert msg.get("FT1-12.1.1") == "15.25"
    assert (msg.get("FT1-20.1"), msg.get("FT1-20.2"), msg.get("FT1-20.9")) == \
        ("1234567890", "Who", "2.16.840.1.113883.4.6")


def test_single_chargeitem_with_logical_patient() -> None:
    """A bare ChargeItem whose subject is a logical reference (identifier only)."""
    item = _charge(subject={"identifier": {"system": "urn:oid:9.9", "value": "P-42"}})
    msg = _dft(item)
    assert msg.get("PID-3.1") == "P-42" and msg.get("PID-3.4") == "9.9"
    assert msg.get("FT1-7.1") == "SUP-1"


def test_supply_item_codes_for_v251() -> None:
    """No charge code: the product Device's id goes to FT1-7; its HCPCS type to FT1-25; a
    CPT code of the charge itself goes to FT1-25 next to the charge-master code."""
    no_code = _charge(productReference={"reference": "Device/d1"})
    del no_code["code"]
    msg = _dft(_bundle(PATIENT, ENCOUNTER, DEVICE, no_code))
    assert (msg.get("FT1-7.1"), msg.get("FT1-7.2"), msg.get("FT1-7.3")) == \
        ("ITEM-77", "Suture kit", "1.2.3")
    assert (msg.get("FT1-25.1"), msg.get("FT1-25.3")) == ("A4550", "HCPCS")
    with_cpt = _charge()
    with_cpt["code"]["coding"].append({"system": CPT, "code": "12001"})
    msg = _dft(_bundle(PATIENT, ENCOUNTER, with_cpt))
    assert msg.get("FT1-7.1") == "SUP-1"
    assert (msg.get("FT1-25.1"), msg.get("FT1-25.3")) == ("12001", "C4")


def test_values_with_delimiters_are_escaped() -> None:
    """| ^ & ~ \\ in values are escaped and read back unchanged."""
    tricky = "Kit | 3^4 & more ~ \\ done"
    item = _charge()
    item["code"]["coding"][0]["display"] = tricky
    patient = {**PATIENT, "name": [{"family": "O|Brien^Smith&Co", "given": ["A~B"]}]}
    text = chargeitems_to_dft(_bundle(patient, ENCOUNTER, item), timestamp=WHEN)
    assert "\\F\\" in text and "\\S\\" in text and "\\T\\" in text and "\\R\\" in text
    msg = Hl7Message.parse(text)
    assert msg.get("FT1-7.2") == tricky
    assert msg.get("PID-5.1") == "O|Brien^Smith&Co" and msg.get("PID-5.2") == "A~B"


@pytest.mark.parametrize("document", [
    {"resourceType": "Patient", "id": "p"},
    {"resourceType": "Bundle", "type": "batch", "entry": [{"resource": PATIENT}]},
])
def test_not_a_charge_is_rejected(document: dict[str, Any]) -> None:
    """Anything but a ChargeItem (or a Bundle with one) is a ValidationError."""
    with pytest.raises(ValidationError):
        chargeitems_to_dft(document)


def test_patient_without_identifier_is_rejected() -> None:
    """PID-3 is required: a patient without an identifier cannot be billed."""
    patient = {k: v for k, v in PATIENT.items() if k != "identifier"}
    with pytest.raises(ValidationError, match="identifier") as info:
        chargeitems_to_dft(_bundle(patient, _charge()))
    assert info.value.location == "ChargeItem.subject"


@pytest.mark.parametrize("source", [AUTHORED_DFT, DATA / "hl7v2_to_fhir" / "dft_p03_01.hl7"])
def test_round_trip_keeps_charge_details(source: Path) -> None:
    """DFT -> FHIR -> DFT keeps the charge code, quantity, transaction date and patient id."""
    original = Hl7Message.parse(source.read_text(encoding="utf-8-sig"))
    bundle = convert(original)
    again = Hl7Message.parse(chargeitems_to_dft(bundle, timestamp=WHEN))
    charges = [s for s in original.segments("FT1") if s.field(6).split("^")[0] == "CG"]
    assert len(again.segments("FT1")) == len(charges)
    for n, ft1 in enumerate(charges, start=1):
        segment = f"FT1[{n}]"
        assert again.get(f"{segment}-7.1") == ft1.field(7).split("^")[0]
        assert again.get(f"{segment}-10") == ft1.field(10)
        assert again.get(f"{segment}-4")[:8] == ft1.field(4)[:8]
    assert again.get("PID-3.1") == original.get("PID-3.1")


def test_channel_steps_round_trip() -> None:
    """hl7v2_to_fhir then chargeitem_to_dft as channel steps (content types, correlation)."""
    message = Message(AUTHORED_DFT.read_text(encoding="utf-8"), "hl7v2",
                      correlation_id="MSG00250")
    fhir = hl7v2_to_fhir(message, StepContext(channel="supply"))
    dft = chargeitem_to_dft(fhir, StepContext(channel="supply"), sending_facility="PLEXUS")
    assert dft.content_type == "hl7v2" and dft.correlation_id == "MSG00250"
    parsed = dft.hl7
    assert parsed.control_id == "MSG00250" and parsed.get("MSH-4") == "PLEXUS"
    assert parsed.get("FT1-7.1") == "SUP100234" and parsed.get("FT1-10") == "3"
    with pytest.raises(ValidationError):
        chargeitem_to_dft(message.replace(json.dumps([1, 2]), "json"), StepContext("x"))
