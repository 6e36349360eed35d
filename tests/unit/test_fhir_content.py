"""FHIR request reading: negotiation, strict JSON bodies, If-None-Exist, ETags."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fhir.resources.R4B import get_fhir_model_class

from engine.errors import ParseError
from protocols.fhir.content import (
    criteria_keys,
    criteria_match,
    dump_json,
    format_of,
    identifier_keys,
    negotiate_request,
    negotiate_response,
    parse_body,
    parse_etag,
    parse_if_none_exist,
    parse_prefer,
    prefer_return,
)
from protocols.fhir.outcome import FhirError, as_fhir_error

DATA = Path(__file__).resolve().parent.parent / "data" / "fhir"


def _valid_outcome(err: FhirError) -> dict:
    outcome = err.outcome()
    get_fhir_model_class("OperationOutcome").model_validate(outcome)
    return outcome


@pytest.mark.parametrize("header", [
    "application/fhir+json", "application/json", "application/json+fhir", "text/json",
    "application/fhir+json; charset=utf-8", "Application/FHIR+JSON;charset=UTF-8",
    'application/fhir+json; charset="utf-8"; fhirVersion=4.0',
])
def test_request_json_types_accepted(header: str) -> None:
    assert negotiate_request(header, None) == "json"


@pytest.mark.parametrize("header", [
    "text/plain", "application/x-www-form-urlencoded", "application/fhir+json; charset=iso-8859-1",
    "application/fhir+xml; charset=utf-16", "multipart/form-data; boundary=x",
])
def test_request_other_types_are_415(header: str) -> None:
    with pytest.raises(FhirError) as info:
        negotiate_request(header, None)
    assert info.value.status == 415
    outcome = _valid_outcome(info.value)
    assert outcome["issue"][0]["code"] == "not-supported"
    assert "application/fhir+json" in outcome["issue"][0]["diagnostics"]


def test_request_without_content_type() -> None:
    with pytest.raises(FhirError) as info:
        negotiate_request(None, None)
    assert info.value.status == 415
    assert negotiate_request(None, "json") == "json"
    assert negotiate_request("", "application/fhir json") == "json"  # '+' decoded as space
    assert negotiate_request(None, "xml") == "xml"
    with pytest.raises(FhirError):
        negotiate_request(None, "html")


@pytest.mark.parametrize("header", ["application/fhir+xml", "application/xml", "text/xml",
                                    "application/fhir+xml; charset=UTF-8"])
def test_request_xml_types_accepted(header: str) -> None:
    assert negotiate_request(header, None) == "xml"


def test_format_param_values() -> None:
    assert format_of("json") == "json"
    assert format_of("application/fhir+json") == "json"
    assert format_of("application/json+fhir") == "json"
    assert format_of("xml") == "xml"
    assert format_of("text/xml") == "xml"
    assert format_of("html") == "html"
    assert format_of("bogus") is None


@pytest.mark.parametrize(("accept", "fmt", "expected"), [
    (None, None, "application/fhir+json"),
    ("", None, "application/fhir+json"),
    ("application/fhir+json", None, "application/fhir+json"),
    ("application/json", None, "application/json"),
    ("text/json", None, "application/json"),
    ("application/json+fhir", None, "application/fhir+json"),
    ("*/*", None, "application/fhir+json"),
    ("application/fhir+xml", None, "application/fhir+xml"),
    ("application/xml", None, "application/xml"),
    ("application/fhir+xml;q=0.4, application/fhir+json", None, "application/fhir+json"),
    ("application/fhir+json", "xml", "application/fhir+xml"),
    (None, "text/xml", "application/xml"),
    ("text/turtle", None, "application/fhir+json"),  # disregarded: a format we lack
    ("application/json;q=0.2, application/fhir+json", None, "application/fhir+json"),
    ("application/fhir+json;q=0.2, application/json", None, "application/json"),
    ("application/fhir+json;q=0, application/json;q=0.1", None, "application/json"),
    ("application/xml", "json", "application/fhir+json"),
    ("application/fhir+json", "application/json", "application/json"),
    (None, "application/fhir json", "application/fhir+json"),
])
def test_negotiate_response(accept: str | None, fmt: str | None, expected: str) -> None:
    assert negotiate_response(accept, fmt) == expected


@pytest.mark.parametrize("fmt", ["html", "ttl", "text/turtle", "nonsense"])
def test_response_format_param_we_cannot_produce_is_406(fmt: str) -> None:
    with pytest.raises(FhirError) as info:
        negotiate_response("application/fhir+json", fmt)
    assert info.value.status == 406
    _valid_outcome(info.value)


def test_prefer_header() -> None:
    assert parse_prefer("return=representation, handling=strict") == {
        "return": "representation", "handling": "strict"}
    assert parse_prefer('respond-async; wait=10') == {"respond-async": "", "wait": "10"}
    assert prefer_return(None) == "minimal"
    assert prefer_return("return=representation") == "representation"
    assert prefer_return("return=OperationOutcome") == "OperationOutcome"
    assert prefer_return("return=everything") == "minimal"


def test_parse_body_valid_resource() -> None:
    raw = (DATA / "r4_chargeitem-example.json").read_bytes()
    resource = parse_body(raw, "json")
    assert resource["resourceType"] == "ChargeItem"
    assert resource["quantity"] == {"value": 1}
    assert parse_body(b"\xef\xbb\xbf" + raw) == resource  # a UTF-8 BOM is tolerated


def test_truncated_json_is_a_parse_error_with_line_and_column() -> None:
    raw = (DATA / "authored" / "malformed_truncated_json_authored.json").read_bytes()
    with pytest.raises(ParseError) as info:
        parse_body(raw)
    line, col = (int(x) for x in info.value.location.split(":"))
    assert line == raw.count(b"\n", 0, len(raw.rstrip())) + 1
    assert col == len(raw.rstrip().splitlines()[-1]) + 1  # just past the last character
    assert f"line {line}, column {col}" in info.value.message
    err = as_fhir_error(info.value)
    assert err.status == 400
    issue = _valid_outcome(err)["issue"][0]
    assert issue["code"] == "structure"
    assert issue["location"] == [f"Line[{line}] Col[{col}]"]
    exts = {e["url"].rsplit("-", 1)[-1]: e["valueInteger"] for e in issue["extension"]}
    assert exts == {"line": line, "col": col}


def test_duplicate_keys_are_rejected_with_their_path() -> None:
    raw = (DATA / "authored" / "malformed_duplicate_keys_and_bad_types_authored.json").read_bytes()
    with pytest.raises(ParseError) as info:
        parse_body(raw)
    assert info.value.location == "ChargeItem.status"
    assert "duplicate JSON key 'status'" in info.value.message
    err = as_fhir_error(info.value)
    assert err.status == 400
    assert _valid_outcome(err)["issue"][0]["expression"] == ["ChargeItem.status"]


@pytest.mark.parametrize(("body", "where"), [
    (b'{"resourceType":"Device","deviceName":[{"name":"a"},{"name":"b","name":"c"}]}',
     "Device.deviceName[1].name"),
    (b'{"resourceType":"Device","meta":{"tag":[{"code":"x","code":"y"}]}}',
     "Device.meta.tag[0].code"),
    (b'{"resourceType":"Device","resourceType":"Device"}', "Device.resourceType"),
])
def test_nested_duplicate_keys(body: bytes, where: str) -> None:
    with pytest.raises(ParseError) as info:
        parse_body(body)
    assert info.value.location == where


@pytest.mark.parametrize(("body", "needle"), [
    (b"", "empty"),
    (b"   \n", "empty"),
    (b"[1, 2]", "JSON object"),
    (b'"ChargeItem"', "JSON object"),
    (b"null", "JSON object"),
    (b'{"id": "x"}', "resourceType"),
    (b'{"resourceType": 5}', "resourceType"),
    (b'{"resourceType": "Device", "x": NaN}', "NaN"),
    (b'{"resourceType": "Device", "x": Infinity}', "Infinity"),
    (b'{"resourceType": "Device",}', "invalid JSON"),
    (b'{"resourceType": "Device"} trailing', "invalid JSON"),
    (b'{"resourceType": "Dev\xff"}', "UTF-8"),
    (b"[" * 200_000 + b"]" * 200_000, "nested too deeply"),
])
def test_malformed_bodies(body: bytes, needle: str) -> None:
    with pytest.raises(ParseError) as info:
        parse_body(body)
    assert needle in info.value.message
    err = as_fhir_error(info.value)
    assert err.status == 400
    _valid_outcome(err)


def test_invalid_utf8_reports_line_and_column() -> None:
    with pytest.raises(ParseError) as info:
        parse_body(b'{\n  "resourceType": "Dev\xc3\x28"}')
    assert info.value.location == "2:23"


def test_size_limit_is_413() -> None:
    body = json.dumps({"resourceType": "Basic", "id": "x" * 50}).encode()
    assert parse_body(body, max_bytes=len(body))["id"] == "x" * 50
    with pytest.raises(FhirError) as info:
        parse_body(body, max_bytes=len(body) - 1)
    assert info.value.status == 413
    assert _valid_outcome(info.value)["issue"][0]["code"] == "too-long"


def test_xml_body_reads_as_the_json_dict() -> None:
    body = (b'<Patient xmlns="http://hl7.org/fhir"><active value="true"/>'
            b'<name><family value="Zo\xc3\xab"/></name></Patient>')
    assert parse_body(body, "xml") == {"resourceType": "Patient", "active": True,
                                       "name": [{"family": "Zo\u00eb"}]}
    with pytest.raises(FhirError) as info:
        parse_body(body, "xml", max_bytes=10)
    assert info.value.status == 413


def test_dump_json_is_compact_utf8() -> None:
    out = dump_json({"resourceType": "Patient", "name": [{"text": "Zoë"}]})
    assert out == '{"resourceType":"Patient","name":[{"text":"Zoë"}]}'.encode()


@pytest.mark.parametrize(("query", "expected"), [
    ("identifier=urn:oid:2.16.840.1.113883.19.5.1|100234",
     [("identifier", "urn:oid:2.16.840.1.113883.19.5.1|100234")]),
    ("identifier=100234", [("identifier", "100234")]),
    ("identifier=|100234", [("identifier", "|100234")]),
    ("_id=abc", [("_id", "abc")]),
    ("?identifier=a|b&_id=c", [("identifier", "a|b"), ("_id", "c")]),
    ("Device?identifier=a%7Cb", [("identifier", "a|b")]),
    ("identifier=http%3A%2F%2Fx.org%2Fids|A%20B", [("identifier", "http://x.org/ids|A B")]),
])
def test_parse_if_none_exist(query: str, expected: list[tuple[str, str]]) -> None:
    assert parse_if_none_exist(query, "Device") == expected


@pytest.mark.parametrize("query", [
    "", "?", "name=peter", "identifier", "identifier=", "identifier=a,b",
    "identifier:exact=x", "identifier=http://x|", "Patient?identifier=x",
])
def test_parse_if_none_exist_rejects(query: str) -> None:
    with pytest.raises(FhirError) as info:
        parse_if_none_exist(query, "Device")
    assert info.value.status == 400
    _valid_outcome(info.value)


def test_identifier_keys_and_criteria() -> None:
    device = {"resourceType": "Device", "id": "d1", "identifier": [
        {"system": "urn:oid:1.2", "value": "100234"}, {"value": "A|B"}, {"system": "s"}]}
    keys = identifier_keys(device)
    assert keys == ["Device|urn:oid:1.2|100234", "Device|100234", "Device||A\\|B",
                    "Device|A\\|B", "Device/d1"]
    assert criteria_keys("Device", [("identifier", "urn:oid:1.2|100234")]) == [
        "Device|urn:oid:1.2|100234"]
    assert criteria_keys("Device", [("identifier", "100234"), ("_id", "d1")]) == [
        "Device|100234", "Device/d1"]
    assert criteria_keys("Device", [("identifier", "|A\\|B")]) == ["Device||A\\|B"]
    for query, hit in [("identifier=urn:oid:1.2|100234", True), ("identifier=100234", True),
                       ("identifier=other|100234", False), ("identifier=|100234", False),
                       ("identifier=|A\\|B", True), ("_id=d1&identifier=100234", True),
                       ("_id=d2&identifier=100234", False)]:
        assert criteria_match(device, parse_if_none_exist(query)) is hit, query


@pytest.mark.parametrize(("value", "version"), [
    ('W/"3"', "3"), ('"3"', "3"), ("3", "3"), (' W/"a-1.2" ', "a-1.2")])
def test_parse_etag(value: str, version: str) -> None:
    assert parse_etag(value) == version


def test_parse_etag_rejects_garbage() -> None:
    with pytest.raises(FhirError) as info:
        parse_etag('W/"a b"', "Bundle.entry[0].request.ifMatch")
    assert info.value.status == 400
    assert info.value.issues[0].expression == ("Bundle.entry[0].request.ifMatch",)
