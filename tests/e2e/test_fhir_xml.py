"""FHIR XML against a running engine: created and read in XML, refusals as XML outcomes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from lxml import etree

from protocols.fhir.xml import to_xml

from .engine_process import EngineProcess, free_port
from .fhir_client import CHANNEL, ENV, WRITE_TOKEN, Fhir, charge, listed_when, show

NS = {"f": "http://hl7.org/fhir"}
XML = "application/fhir+xml"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[EngineProcess, Fhir,
                                                                        Path]]:
    work = tmp_path_factory.mktemp("fhir-xml")
    port = free_port()
    channel = CHANNEL.format(port=port, max_body="1MiB", out=work / "out")
    with EngineProcess(work / "engine", {"charge": channel}, env=ENV,
                       log_level="warning") as proc:
        yield proc, Fhir(port, token=WRITE_TOKEN), work / "out"


def xml_of(resource: dict[str, object]) -> bytes:
    written = to_xml(json.dumps(resource).encode())
    assert written is not None
    return written


@pytest.mark.slow
def test_an_xml_create_is_stored_as_json_and_read_back_in_either_format(
        served: tuple[EngineProcess, Fhir, Path]) -> None:
    proc, fhir, out = served
    created = fhir.post("ChargeItem", xml_of(charge("XML-1")),
                        headers={"Content-Type": XML, "Accept": XML,
                                 "Prefer": "return=representation"})
    assert (created.status, created.headers["content-type"]) == (201, f"{XML}; charset=utf-8")
    root = etree.fromstring(created.body)
    assert root.tag == "{http://hl7.org/fhir}ChargeItem"
    rid = root.find("f:id", NS).get("value")
    assert root.find("f:identifier/f:value", NS).get("value") == "XML-1"
    assert root.find("f:meta/f:versionId", NS).get("value") == "1"
    as_json = fhir.get(f"ChargeItem/{rid}")
    assert as_json.headers["content-type"].startswith("application/fhir+json")
    assert as_json.json()["identifier"][0]["value"] == "XML-1"
    as_xml = fhir.get(f"ChargeItem/{rid}?_format=xml")
    assert as_xml.headers["content-type"] == f"{XML}; charset=utf-8"
    assert etree.fromstring(as_xml.body).find("f:id", NS).get("value") == rid
    rows = listed_when(proc, "charge-capture-fhir",
                       lambda rows: any(r["business_key"] == f"ChargeItem/{rid}"
                                        for r in rows))
    (row,) = [r for r in rows if r["business_key"] == f"ChargeItem/{rid}"]
    assert json.loads(show(proc, row["message_id"])["stages"][0]["content"])[
        "identifier"][0]["value"] == "XML-1"  # the channel sees FHIR JSON


@pytest.mark.slow
@pytest.mark.parametrize(("body", "status", "code", "expression"), [
    (b"<ChargeItem xmlns='http://hl7.org/fhir'><status value='billable'>", 400, "structure",
     None),
    (b"<?xml version='1.0'?><!DOCTYPE x [<!ENTITY e 'boom'>]>"
     b"<ChargeItem xmlns='http://hl7.org/fhir'/>", 400, "structure", None),
    (b"<ChargeItem xmlns='http://hl7.org/fhir'><status value='billable'/></ChargeItem>",
     422, "required", "ChargeItem.code"),  # as the same ChargeItem in JSON is answered
])
def test_bad_xml_gets_an_xml_operation_outcome(served: tuple[EngineProcess, Fhir, Path],
                                               body: bytes, status: int, code: str,
                                               expression: str | None) -> None:
    _, fhir, _ = served
    answer = fhir.post("ChargeItem", body, headers={"Content-Type": XML, "Accept": XML})
    assert (answer.status, answer.headers["content-type"]) == (status, f"{XML}; charset=utf-8")
    root = etree.fromstring(answer.body)
    assert root.tag == "{http://hl7.org/fhir}OperationOutcome"
    assert root.find("f:issue/f:code", NS).get("value") == code
    if expression:
        found = [e.get("value") for e in root.findall("f:issue/f:expression", NS)]
        assert expression in found


def test_a_json_error_for_a_json_client_of_an_xml_body(
        served: tuple[EngineProcess, Fhir, Path]) -> None:
    _, fhir, _ = served
    answer = fhir.post("ChargeItem", b"<nope/>", headers={"Content-Type": XML})
    assert answer.status == 400
    assert answer.issues()[0][0] == "structure"
    assert "FHIR namespace" in answer.diagnostics()
