"""FHIR XML: read into the JSON dict, written from JSON; hostile and broken XML refused."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from engine.errors import ParseError
from protocols.fhir.outcome import FhirError
from protocols.fhir.xml import parse_xml, to_xml

DATA = Path(__file__).resolve().parents[1] / "data" / "fhir"
EXAMPLES = sorted(p.name for p in DATA.glob("r4_*.json"))
LIMIT = 1024 * 1024


def normal(value: Any, key: str = "") -> Any:
    """Equal meaning, equal value: narrative XHTML canonicalised, instants as datetimes."""
    if isinstance(value, dict):
        return {k: normal(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [normal(v, key) for v in value]
    if key == "div" and isinstance(value, str):
        return etree.tostring(etree.fromstring(value), method="c14n")
    if isinstance(value, str) and len(value) > 20 and value[4:5] == "-" and "T" in value:
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
    return value


@pytest.mark.parametrize("name", EXAMPLES)
def test_every_corpus_example_survives_json_xml_json(name: str) -> None:
    original = json.loads((DATA / name).read_bytes())
    written = to_xml((DATA / name).read_bytes())
    assert written is not None and written.startswith(b"<?xml")
    assert normal(parse_xml(written, LIMIT)) == normal(original)


def test_xml_is_written_in_fhir_form() -> None:
    written = to_xml(b'{"resourceType":"Device","status":"active",'
                     b'"identifier":[{"system":"urn:x","value":"SN-1"}]}')
    assert written is not None
    assert b'<Device xmlns="http://hl7.org/fhir">' in written
    assert b'<identifier><system value="urn:x"/><value value="SN-1"/></identifier>' in written
    assert b'<status value="active"/>' in written


@pytest.mark.parametrize(("body", "message", "location"), [
    (b"<ChargeItem xmlns='http://hl7.org/fhir'><status value='billable'>",
     "invalid XML", "1:"),
    (b"<?xml version='1.0'?><!DOCTYPE x [<!ENTITY e SYSTEM 'file:///etc/passwd'>]>"
     b"<Patient xmlns='http://hl7.org/fhir'><gender value='&e;'/></Patient>",
     "DOCTYPE", "1:1"),
    (b"<?xml version='1.0'?><!DOCTYPE lolz [<!ENTITY lol 'lol'><!ENTITY lol2 "
     b"'&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;'>]>"
     b"<Patient xmlns='http://hl7.org/fhir'><gender value='&lol2;'/></Patient>",
     "DOCTYPE", "1:1"),
    (b"<Patient><active value='true'/></Patient>", "not in the FHIR namespace", "Patient"),
    (b"<Spaceship xmlns='http://hl7.org/fhir'/>", "unknown resource type", "Spaceship"),
    (b"   ", "empty", "1:1"),
])
def test_bad_xml_is_a_located_parse_error(body: bytes, message: str, location: str) -> None:
    with pytest.raises(ParseError) as info:
        parse_xml(body, LIMIT)
    assert message in str(info.value)
    assert (info.value.location or "").startswith(location)


def test_to_xml_gives_none_for_what_the_models_cannot_write() -> None:
    assert to_xml(b"not json") is None
    assert to_xml(b'{"resourceType":"Spaceship"}') is None


def test_invalid_content_is_answered_as_the_json_path_would() -> None:
    with pytest.raises(FhirError) as info:
        parse_xml(b"<ChargeItem xmlns='http://hl7.org/fhir'><status value='billable'/>"
                  b"</ChargeItem>", LIMIT)
    assert info.value.status == 422
    assert [(i.code, i.expression) for i in info.value.issues] == [
        ("required", ("ChargeItem.code",)), ("required", ("ChargeItem.subject",))]
