"""Focused tests of the HL7 v2 -> FHIR converter: datatypes, time zones, escapes, empty fields,
repeated segments, message types, Z-segments, code tables, the channel step."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class

from engine.errors import TransformError
from engine.message import Message
from engine.steps import StepContext
from protocols.hl7v2.escaping import Separators
from transforms.fhir import hl7v2_to_fhir
from transforms.fhir_convert import Options, convert, plan_for
from transforms.fhir_convert import codes as code_tables
from transforms.fhir_convert.datatypes import codeable, cx, format_date, format_datetime, xtn
from transforms.fhir_convert.values import Node

AUTHORED_DFT = (Path(__file__).resolve().parents[1] / "data" / "hl7v2" / "authored"
                / "dft_p03_supply_charges_v251_authored.hl7")
SEPS = Separators()
MSH = "MSH|^~\\&|APP|FAC|RCV|RFAC|20240116101500+0100||{type}|CTRL{n}|P|2.5.1"


def _msg(msg_type: str, *segments: str, n: int = 1) -> str:
    """A small HL7 v2 message text."""
    return "\r".join([MSH.format(type=msg_type, n=n), *segments]) + "\r"


def _field(text: str) -> Node:
    """A field node from ER7 text."""
    return Node(text, SEPS, 0)


def _resources(bundle: dict[str, Any], rtype: str) -> list[dict[str, Any]]:
    """The resources of one type in a bundle."""
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == rtype]


def _valid(bundle: dict[str, Any]) -> dict[str, Any]:
    """Assert the bundle validates as FHIR R4 (R4B models) and return it."""
    get_fhir_model_class("Bundle").model_validate(bundle)
    return bundle


# --------------------------------------------------------------------------- dates and times
@pytest.mark.parametrize(("text", "mode", "expected"), [
    ("20240116", "preserve", "2024-01-16"),
    ("202401", "preserve", "2024-01"),
    ("2024", "preserve", "2024"),
    ("202401161015+0100", "preserve", "2024-01-16T10:15:00+01:00"),
    ("20240116101530.25-0500", "preserve", "2024-01-16T10:15:30.25-05:00"),
    ("202401161015+0100", "utc", "2024-01-16T09:15:00Z"),
    ("198908181126+0215", "+05:30", "1989-08-18T14:41:00+05:30"),
    ("20240116235500-0800", "+05:30", "2024-01-17T13:25:00+05:30"),
    ("20240116101500", "preserve", "2024-01-16T10:15:00Z"),
])
def test_timestamps(text: str, mode: str, expected: str) -> None:
    """TS/DTM -> dateTime: precision kept, offsets preserved or converted."""
    assert format_datetime(text, Options(timezone=mode)) == expected


def test_naive_time_uses_the_configured_offset() -> None:
    """A time without an offset is read in `naive_offset` (FHIR requires an offset)."""
    options = Options(naive_offset="-05:00")
    assert format_datetime("20240116101500", options) == "2024-01-16T10:15:00-05:00"
    options = Options(timezone="utc", naive_offset="+01:00")
    assert format_datetime("20240116101500", options) == "2024-01-16T09:15:00Z"


def test_invalid_timestamps() -> None:
    """Garbage gives no value instead of an exception; a bad offset option is an error."""
    assert format_datetime("yesterday", Options()) is None
    assert format_date("2024-01-16") is None
    with pytest.raises(ValueError, match="offset"):
        format_datetime("202401161015", Options(timezone="CET"))


# -------------------------------------------------------------------------------- datatypes
def test_cx_identifier_with_assigner() -> None:
    """CX -> Identifier: system from CX.4, type from CX.5 (table 0203), period, assigner."""
    bundle_ids: dict[str, Any] = {}
    from transforms.fhir_convert.bundle import BundleBuilder
    from transforms.fhir_convert.context import Ctx

    ctx = Ctx(BundleBuilder(), Options())
    ident = cx(_field("123^^^HOSP&1.2.3&ISO^MR^^20200101^20201231"), ctx)
    assert ident is not None
    assert ident["value"] == "123"
    assert ident["system"] == "urn:oid:1.2.3"
    assert ident["type"]["coding"][0] == {
        "code": "MR", "display": "Medical record number",
        "system": "http://terminology.hl7.org/CodeSystem/v2-0203"}
    assert ident["period"] == {"start": "2020-01-01", "end": "2020-12-31"}
    org = ctx.builder.get(ident["assigner"]["reference"])
    assert org is not None and org["resourceType"] == "Organization"
    assert {"value": "urn:oid:1.2.3", "system": "urn:ietf:rfc:3986"}.items() <= \
        org["identifier"][1].items()
    bundle_ids["plain"] = cx(_field("456^^^USSSA^SS"), ctx)
    assert bundle_ids["plain"]["system"].endswith("/Identifier/USSSA")
    assert "assigner" not in bundle_ids["plain"]  # an incomplete HD is no Organization


def test_codeable_concept_mapping_and_fallback() -> None:
    """CWE -> CodeableConcept: table-mapped codes, unmapped codes as sent, known systems."""
    from transforms.fhir_convert.bundle import BundleBuilder
    from transforms.fhir_convert.context import Ctx

    ctx = Ctx(BundleBuilder(), Options())
    mapped = codeable(_field("M^Married"), ctx, table="marital_status")
    assert mapped == {"coding": [{"code": "M", "display": "Married", "system":
                                  "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus"}]}
    raw = codeable(_field("XX^Unknown thing^L^123^Alt^LN^v1^^Original"), ctx)
    assert raw is not None
    assert raw["coding"] == [
        {"code": "XX", "display": "Unknown thing",
         "system": "http://example.com/v2-to-fhir-converter/CodeSystem/L", "version": "v1"},
        {"code": "123", "display": "Alt", "system": "http://loinc.org"}]
    assert raw["text"] == "Original"
    assert codeable(_field(""), ctx) is None


def test_contact_point() -> None:
    """XTN -> ContactPoint with equipment type and use mapped."""
    from transforms.fhir_convert.bundle import BundleBuilder
    from transforms.fhir_convert.context import Ctx

    ctx = Ctx(BundleBuilder(), Options())
    point = xtn(_field("^WPN^Internet^me@example.org"), ctx)
    assert point == {"value": "me@example.org", "system": "email", "use": "work",
                     "period": {"start": None, "end": None}, "rank": None}


# ------------------------------------------------------------------------- whole messages
def test_patient_visit_and_escapes() -> None:
    """ADT^A01: Patient, Encounter, Location; escaped delimiters arrive unescaped."""
    text = _msg("ADT^A01^ADT_A01",
                "EVN|A01|20240116101500+0100",
                "PID|1||P100^^^HOSP^MR||O\\S\\BRIEN^ANN\\T\\JO||19700101|F",
                "PV1|1|I|WARD^101^A^HOSP||||123^DOC^ALICE|||||||NHS A\\T\\E (x\\F\\y)")
    bundle = _valid(convert(text))
    patient = _resources(bundle, "Patient")[0]
    assert patient["name"][0]["family"] == "O^BRIEN"
    assert patient["name"][0]["given"] == ["ANN&JO"]
    assert patient["gender"] == "female" and patient["birthDate"] == "1970-01-01"
    encounter = _resources(bundle, "Encounter")[0]
    assert encounter["class"]["code"] == "IMP"
    assert encounter["hospitalization"]["admitSource"]["coding"][0]["code"] == "NHS A&E (x|y)"
    assert encounter["subject"]["reference"] == f"Patient/{patient['id']}"
    names = {loc["name"] for loc in _resources(bundle, "Location")}
    assert {"WARD", "101", "A", "HOSP"} <= names
    assert bundle["timestamp"] == "2024-01-16T10:15:00+01:00"
    assert bundle["identifier"] == {"value": "CTRL1"}


def test_missing_and_empty_fields() -> None:
    """Empty fields and components give no elements (no empty strings or objects)."""
    text = _msg("ADT^A08", "PID|||P1||||||||||||||||||||||||||||||||", "PV1||||||||||")
    bundle = _valid(convert(text))
    patient = _resources(bundle, "Patient")[0]
    assert set(patient) == {"resourceType", "id", "identifier"}
    encounter = _resources(bundle, "Encounter")[0]
    assert encounter["class"]["code"] == "UNK" and encounter["status"] == "unknown"
    assert '""' not in json.dumps(bundle)


def test_repeated_segments() -> None:
    """Repeated NK1, OBX, DG1 give one resource each; identical repeats merge."""
    text = _msg("ADT^A01",
                "PID|1||P1^^^H^MR||DOE^JO",
                "NK1|1|DOE^ANN|SPO", "NK1|2|DOE^BOB|CHD",
                "PV1|1|O",
                "OBX|1|NM|8867-4^Heart rate^LN||60|/min|||||F",
                "OBX|2|NM|8310-5^Body temperature^LN||37|Cel|||||F",
                "DG1|1||I10^Hypertension^I10||20240101|A",
                "DG1|2||I10^Hypertension^I10||20240101|A")
    bundle = _valid(convert(text))
    related = _resources(bundle, "RelatedPerson")
    assert sorted(r["relationship"][0]["coding"][0]["code"] for r in related) == ["CHILD", "SPS"]
    codes = sorted(o["code"]["coding"][0]["code"] for o in _resources(bundle, "Observation"))
    assert codes == ["8310-5", "8867-4"]
    assert len(_resources(bundle, "Condition")) == 1
    encounter = _resources(bundle, "Encounter")[0]
    assert encounter["diagnosis"][0]["use"]["coding"][0]["code"] == "AD"


def test_unknown_message_type_is_a_clear_error() -> None:
    """A message type without a plan raises TransformError naming the type."""
    with pytest.raises(TransformError, match=r"unsupported message type ZZZ\^Z99") as info:
        convert(_msg("ZZZ^Z99", "PID|1||P1"))
    assert info.value.location == "MSH-9"


def test_z_segments_are_ignored() -> None:
    """Z-segments (site-specific) do not change the result."""
    plain = convert(_msg("ADT^A01", "PID|1||P1^^^H^MR||DOE^JO", "PV1|1|O"))
    with_z = convert(_msg("ADT^A01", "PID|1||P1^^^H^MR||DOE^JO", "ZPI|1|anything|x^y",
                          "PV1|1|O", "ZVX|custom"))
    assert plain == with_z


def test_ids_are_deterministic_and_content_based() -> None:
    """Same message -> same ids; the Bundle id follows MSH-10, the Patient id its PID-3."""
    first = convert(_msg("ADT^A01", "PID|1||P1^^^H^MR||DOE^JO", n=1))
    again = convert(_msg("ADT^A01", "PID|1||P1^^^H^MR||DOE^JO", n=1))
    other = convert(_msg("ADT^A01", "PID|1||P1^^^H^MR||DOE^JO", n=2))
    assert first == again
    assert first["id"] != other["id"]
    assert _resources(first, "Patient")[0]["id"] == _resources(other, "Patient")[0]["id"]


def test_plans_exist_for_the_supported_types() -> None:
    """Plans cover the message types of the brief."""
    from protocols.hl7v2.message import Hl7Message

    for mtype in ("ADT^A01", "ADT^A03", "ADT^A04", "ADT^A08", "ADT^A09", "ADT^A40", "ADT^A60",
                  "ORU^R01", "DFT^P03", "DFT^P11", "RDE^O11", "BAR^P01", "VXU^V04"):
        assert plan_for(Hl7Message.parse(_msg(mtype)))


def test_supply_usage_gives_device_and_supply_delivery() -> None:
    """DFT^P03 supply charges: ChargeItem per CG FT1, the item as Device, SupplyDelivery."""
    text = AUTHORED_DFT.read_text(encoding="utf-8")
    bundle = _valid(convert(text))
    charges = _resources(bundle, "ChargeItem")
    assert len(charges) == 2  # the CR (credit) FT1 is not a charge
    first = charges[0]
    assert first["code"]["coding"][0]["code"] == "SUP100234"
    assert first["quantity"] == {"value": 3}
    assert first["occurrenceDateTime"] == "2024-01-16T10:10:00Z"
    device = next(d for d in _resources(bundle, "Device")
                  if f"Device/{d['id']}" == first["productReference"]["reference"])
    assert device["identifier"][0]["value"] == "SUP100234"
    deliveries = _resources(bundle, "SupplyDelivery")
    assert len(deliveries) == 2
    assert deliveries[0]["suppliedItem"]["itemReference"] == first["productReference"]
    assert deliveries[0]["suppliedItem"]["quantity"] == {"value": 3}
    plain = convert(text, Options(supply_delivery=False))
    assert not _resources(plain, "SupplyDelivery") and not _resources(plain, "Device")


def test_code_tables_are_editable_csv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An analyst's copy of the CSV code tables is used after reload()."""
    for csv_file in code_tables.DEFAULT_DIR.glob("*.csv"):
        (tmp_path / csv_file.name).write_text(csv_file.read_text(encoding="utf-8"),
                                              encoding="utf-8")
    with (tmp_path / "gender.csv").open("a", encoding="utf-8") as fh:
        fh.write("X,other,Other,http://hl7.org/fhir/administrative-gender\n")
    monkeypatch.setenv("PLEXUS_FHIR_CODE_TABLES", str(tmp_path))
    code_tables.reload()
    try:
        bundle = convert(_msg("ADT^A01", "PID|1||P1^^^H^MR||DOE^JO|||X"))
        assert _resources(bundle, "Patient")[0]["gender"] == "other"
    finally:
        monkeypatch.delenv("PLEXUS_FHIR_CODE_TABLES")
        code_tables.reload()


def test_code_tables_under_the_working_directory_win(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """An installed engine (no source checkout) reads configs/ where `plexus run` runs."""
    tables = tmp_path / "configs" / "code_tables" / "hl7v2_fhir"
    tables.mkdir(parents=True)
    for csv_file in code_tables.DEFAULT_DIR.glob("*.csv"):
        (tables / csv_file.name).write_text(csv_file.read_text(encoding="utf-8"),
                                            encoding="utf-8")
    with (tables / "gender.csv").open("a", encoding="utf-8") as fh:
        fh.write("X,other,Other,http://hl7.org/fhir/administrative-gender\n")
    monkeypatch.delenv("PLEXUS_FHIR_CODE_TABLES", raising=False)
    monkeypatch.chdir(tmp_path)
    code_tables.reload()
    try:
        assert code_tables.table_dir() == tables
        bundle = convert(_msg("ADT^A01", "PID|1||P1^^^H^MR||DOE^JO|||X"))
        assert _resources(bundle, "Patient")[0]["gender"] == "other"
    finally:
        monkeypatch.undo()
        code_tables.reload()


def test_channel_step() -> None:
    """transforms.fhir:hl7v2_to_fhir -> fhir+json content, correlation id kept."""
    message = Message(_msg("ADT^A04", "PID|1||P1^^^H^MR||DOE^JO", "PV1|1|E"), "hl7v2",
                      correlation_id="CTRL1")
    out = hl7v2_to_fhir(message, StepContext(channel="test"), timezone="utc")
    assert out.content_type == "fhir+json"
    assert out.correlation_id == "CTRL1"
    bundle = json.loads(out.content)
    assert bundle["resourceType"] == "Bundle" and bundle["timestamp"].endswith("Z")
    with pytest.raises(TransformError, match="offset"):
        hl7v2_to_fhir(message, StepContext(channel="test"), timezone="nowhere")
