"""HL7 v2 field access: paths (components, subcomponents, repetitions, occurrences) and the
MSH fast path the header properties and ACKs use."""

from __future__ import annotations

from pathlib import Path

import pytest

from protocols.hl7v2.message import Hl7Message
from protocols.hl7v2.paths import parse_path

DATA = Path(__file__).resolve().parent.parent / "data" / "hl7v2"


def read(name: str) -> str:
    return (DATA / name).read_bytes().decode("utf-8")


@pytest.fixture()
def rep() -> Hl7Message:
    return Hl7Message.parse(read("edge_repetitions_subcomponents_pyhl7.hl7"))


def test_paths_components_subcomponents_repetitions(rep: Hl7Message) -> None:
    assert rep.get("PID-1") == "Field1"
    assert rep.get("PID-1.1") == "Field1"
    assert rep.get("PID-2") == "Component1^Component2"
    assert rep.get("PID-2.2") == "Component2"
    assert rep.get("PID-3.2") == "Sub-Component1&Sub-Component2"
    assert rep.get("PID-3.2.1") == "Sub-Component1"
    assert rep.get("PID-3.2.2") == "Sub-Component2"
    assert rep.get("PID-3.1.1") == "Component1"
    assert rep.get("PID-3.2.3") == ""
    assert rep.get("PID-3.1.2") == ""
    assert rep.get("PID-3.4") == ""
    assert rep.get("PID-4") == "Repeat1"
    assert rep.get("PID-4(1)") == "Repeat1"
    assert rep.get("PID-4(2)") == "Repeat2"
    assert rep.get("PID-4(2).1") == "Repeat2"
    assert rep.get("PID-4(3)") == ""
    assert rep.get("PID-1(2)") == ""
    assert rep.get_raw("PID-4") == "Repeat1"
    assert rep.segments("PID")[0].field(4) == "Repeat1~Repeat2"


def test_msh_numbering(rep: Hl7Message) -> None:
    assert rep.get("MSH-1") == "|"
    assert rep.get("MSH-2") == "^~\\&"
    assert rep.get_raw("MSH-2") == "^~\\&"
    assert rep.get("MSH-2.2") == ""
    assert rep.get("MSH-3") == "GHH LAB"
    assert rep.get("MSH-9") == "ORU^R01"
    assert rep.get("MSH-9.2") == "R01"
    assert rep.get("MSH-10") == "CNTRL-3456"
    assert rep.get("MSH-20") == ""
    assert rep.get("MSH-20", "n/a") == "n/a"
    assert rep.get("ZZZ-1", "none") == "none"
    assert rep.get("PID[2]-1", "none") == "none"
    msh = rep.segments("MSH")[0]
    assert msh.id == "MSH"
    assert msh.field(1) == "|" and msh.field(2) == "^~\\&" and msh.field(3) == "GHH LAB"
    assert msh.fields[:4] == ["MSH", "|", "^~\\&", "GHH LAB"]


def test_segment_occurrence_and_properties() -> None:
    msg = Hl7Message.parse(read("oru_r01_lri_cbc_fhirconv.hl7"))
    assert msg.get("OBX-5") == "4.41"
    assert msg.get("OBX[1]-5") == "4.41"
    assert msg.get("OBX[2]-5") == "12.5"
    assert msg.get("OBX[2]-3.1") == "718-7"
    assert msg.get("OBX[3]-6.2") == "percent"
    assert len(msg.segments("OBX")) == msg.segment_ids.count("OBX") > 3
    assert [s.id for s in msg.segments()] == msg.segment_ids
    assert msg.message_type == "ORU^R01" and msg.trigger_event == "R01"
    hapi = Hl7Message.parse(read("adt_a03_v25_hapi.hl7"))
    assert hapi.get("PID-3(2).1") == "ZZZZZZ83M64Z148R"
    assert hapi.get("PID-3(3).7") == "20070103"
    assert hapi.get("PID-3(4).5") == "TEAM"
    olis = Hl7Message.parse(read("erp_r09_olis_query_response_hapi.hl7"))
    assert olis.charset == "8859/1"
    assert olis.sending_application == "^OLIS^X500"
    assert olis.receiving_application == "^2.16.840.1.113883.3.59.3:0947^ISO"
    assert (olis.receiving_facility, olis.processing_id, olis.version) == ("", "T", "2.3.1")


def test_nonstandard_delimiters() -> None:
    msg = Hl7Message.parse(read("edge_adt_a24_nonstandard_delimiters_hapi.hl7"))
    seps = msg.separators
    assert (seps.field, seps.component, seps.repetition) == ("^", "~", "|")
    assert msg.message_type == "ADT^A24"
    assert msg.control_id == "2003582144"
    assert msg.get("MSH-3") == "SENDING"
    assert msg.get("PID-3.1") == "11111"
    assert msg.get("PID-3.4.3") == "0363"
    assert msg.get("PID-3.6.2") == "200M"
    assert msg.get("PID[2]-3.1") == "22222"
    assert msg.get("PID-5.2") == "JOHN"
    msg.set("PID[2]-5.1", "A^B|C")
    assert msg.get_raw("PID[2]-5.1") == "A\\F\\B\\R\\C"
    assert Hl7Message.parse(msg.encode()).get("PID[2]-5.1") == "A^B|C"


@pytest.mark.parametrize("path", [
    "", "PID", "PID-", "PID-0", "pid-3", "PID-3.0", "PID-3..1", "OBX[0]-5", "PID-3(0)",
    "PID-3.1.2.3", "PID-x", "PI-3", "PID-3(1", "PID-99999999", "PID.3",
])
def test_invalid_paths_raise_value_error(rep: Hl7Message, path: str) -> None:
    with pytest.raises(ValueError):
        rep.get(path)
    with pytest.raises(ValueError):
        rep.set(path, "x")


def test_parse_path_is_cached() -> None:
    parse_path.cache_clear()
    first = parse_path("OBX[2]-5(3).4.1")
    assert first == ("OBX", 2, 5, 3, 4, 1)
    assert parse_path("OBX[2]-5(3).4.1") is first
    assert parse_path.cache_info().hits >= 1
    assert parse_path("PID-3") == ("PID", 1, 3, None, None, None)


# ------------------------------------------------------------------- header fast path
@pytest.mark.parametrize("header", [
    "MSH|^~\\&|EHR^FAC^L|GOOD&HEALTH|PLEXUS|GH|20240116||ADT^A01^ADT_A01|C\\F\\1|P^T|2.5.1^X"
    "|||AL~NE|ER||UNICODE UTF-8~8859/1",
    "MSH|^~\\&|||||||ADT|C1|P|2.3",   # empty fields, no trigger, nothing after MSH-12
    "MSH|^~\\&|A~B|F",                # short header: the later fields are absent
    "MSH#:|*$#A*B|F:G###ORM*O01#X$Y#D#2.4",  # other delimiters
])
def test_msh_fast_path_reads_what_paths_read(header: str) -> None:
    msg = Hl7Message.parse(header + "\r")
    for field in range(3, 21):
        for component in range(0, 4):
            path = f"MSH-{field}" + (f".{component}" if component else "")
            assert msg.msh_raw(field, component) == msg.get_raw(path), path
    properties = {"message_code": "MSH-9.1", "trigger_event": "MSH-9.2",
                  "control_id": "MSH-10", "processing_id": "MSH-11.1",
                  "version": "MSH-12.1", "accept_ack_type": "MSH-15",
                  "application_ack_type": "MSH-16", "charset": "MSH-18"}
    for name, path in properties.items():
        assert getattr(msg, name) == msg.get(path), name
    for name, path in {"sending_application": "MSH-3", "sending_facility": "MSH-4",
                       "receiving_application": "MSH-5",
                       "receiving_facility": "MSH-6"}.items():
        assert getattr(msg, name) == msg.get_raw(path), name


def test_msh_fast_path_sees_a_set_at_once() -> None:
    msg = Hl7Message.parse("MSH|^~\\&|EHR|GH|PLEXUS|GH|20240116||ADT^A01|C1|P|2.5.1\r")
    assert msg.control_id == "C1"
    msg.set("MSH-10", "C|2")
    msg.set("MSH-9.2", "A08")
    assert (msg.control_id, msg.msh_raw(10), msg.trigger_event) == ("C|2", "C\\F\\2", "A08")
