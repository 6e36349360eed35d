"""HL7 v2 acknowledgments: modes, codes, MSH swapping, ERR layouts, salvage from bad input."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import pytest

from engine.errors import ParseError
from protocols.hl7v2.ack import ERROR_CODES, ack_code, ack_mode, build_ack, is_ack
from protocols.hl7v2.message import Hl7Message
from protocols.hl7v2.paths import error_location

DATA = Path(__file__).resolve().parent.parent / "data" / "hl7v2"
NOW = datetime(2024, 1, 15, 8, 1, 5)


def read(name: str) -> str:
    return (DATA / name).read_bytes().decode("utf-8")


def load(name: str) -> Hl7Message:
    return Hl7Message.parse(read(name))


def ack_of(original: Hl7Message | None, code: str, **kwargs: object) -> Hl7Message:
    text = build_ack(original, code, now=NOW, **kwargs)  # type: ignore[arg-type]
    assert text.endswith("\r") and "\n" not in text
    ack = Hl7Message.parse(text)
    assert ack.encode() == text  # what we build is already canonical
    ack.validate_header()
    assert is_ack(ack)
    return ack


# ----------------------------------------------------------------------- is_ack / mode
@pytest.mark.parametrize("name", [
    "authored/ack_aa_original_mode_v251_authored.hl7",
    "authored/ack_ae_with_err_v251_authored.hl7",
    "authored/ack_ar_v23_authored.hl7",
    "authored/ack_ca_commit_enhanced_mode_authored.hl7",
    "authored/ors_o06_stock_requisition_ack_v26_authored.hl7",  # ORS^O06 carries an MSA
])
def test_acknowledgments_are_recognised(name: str) -> None:
    assert is_ack(load(name))


@pytest.mark.parametrize("name", ["adt_a04_v23_fhirconv.hl7",
                                  "authored/oms_o05_stock_requisition_v26_authored.hl7"])
def test_ordinary_messages_are_not_acks(name: str) -> None:
    assert not is_ack(load(name))


def test_is_ack_by_message_code_alone() -> None:
    assert is_ack(Hl7Message.parse("MSH|^~\\&|A|B|||||ack|1|P|2.5\r"))


def test_ack_mode_and_codes() -> None:
    original = load("adt_a04_v23_fhirconv.hl7")
    enhanced = load("authored/oms_o05_stock_requisition_v26_authored.hl7")  # MSH-15/16 = AL
    only_16 = Hl7Message.parse("MSH|^~\\&|A|B|||||ADT^A01|1|P|2.5||||AL\r")
    assert ack_mode(original) == "original"
    assert ack_mode(enhanced) == "enhanced"
    assert ack_mode(only_16) == "enhanced"
    assert ack_mode(None) == "original"
    expected = {"accept": ("AA", "CA"), "error": ("AE", "CE"), "reject": ("AR", "CR")}
    for outcome, (orig_code, commit_code) in expected.items():
        assert ack_code(outcome, original) == orig_code  # type: ignore[arg-type]
        assert ack_code(outcome, None) == orig_code  # type: ignore[arg-type]
        assert ack_code(outcome, enhanced) == commit_code  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        ack_code("maybe", original)  # type: ignore[arg-type]


# ------------------------------------------------------------------------- build_ack
def test_original_mode_aa_matches_the_corpus_shape() -> None:
    original = load("authored/oms_o05_stock_requisition_v26_authored.hl7")
    text = build_ack(original, "AA", control_id="ACK000219", now=NOW)
    assert text == ("MSH|^~\\&|MMIS|GOODHEALTH|EHR|GOODHEALTH|20240115080105||ACK^O05^ACK|"
                    "ACK000219|P|2.6\rMSA|AA|MSG00219\r")
    example = load("authored/ack_aa_original_mode_v251_authored.hl7")
    ack = Hl7Message.parse(text)
    for path in ("MSH-3", "MSH-4", "MSH-5", "MSH-6", "MSH-9", "MSH-11", "MSA-1", "MSA-2"):
        assert ack.get(path) == example.get(path), path


def test_enhanced_mode_commit_accept() -> None:
    original = load("authored/oms_o05_stock_requisition_v26_authored.hl7")
    ack = ack_of(original, ack_code("accept", original))
    assert ack.segment_ids == ["MSH", "MSA"]
    assert (ack.get("MSA-1"), ack.get("MSA-2")) == ("CA", "MSG00219")
    rejected = ack_of(original, ack_code("reject", original), text="not now", error_code="206")
    assert rejected.get("MSA-1") == "CR"
    assert rejected.get("ERR-3.1") == "206"
    assert rejected.get("ERR-3.2") == "Application record locked"


def test_ae_with_err_v251() -> None:
    original = load("authored/dft_p03_supply_charges_v251_authored.hl7")
    ack = ack_of(original, "AE", text="Unknown item code", error_location="FT1-7.1",
                 error_code="103")
    example = load("authored/ack_ae_with_err_v251_authored.hl7")
    assert ack.segment_ids == example.segment_ids == ["MSH", "MSA", "ERR"]
    assert ack.version == "2.5.1"
    assert ack.get("MSA-1") == "AE"
    assert ack.get("MSA-2") == original.control_id
    assert ack.get("MSA-3") == "Unknown item code"
    assert ack.get_raw("ERR-2") == "FT1^1^7^1^1"  # ERL: segment^seq^field^rep^component
    assert example.get_raw("ERR-2") == "RQD^1^2^1^1"  # same layout in the corpus example
    assert ack.get("ERR-3") == "103^Table value not found^HL70357"
    assert ack.get("ERR-3.3") == example.get("ERR-3.3") == "HL70357"
    assert ack.get("ERR-4") == example.get("ERR-4") == "E"
    assert ack.get("ERR-8") == "Unknown item code"
    assert ack.get("ERR-1") == ""


def test_ae_defaults_to_207_without_location() -> None:
    original = load("authored/dft_p03_supply_charges_v251_authored.hl7")
    ack = ack_of(original, "AE", text="database down")
    assert ack.get("ERR-2") == ""
    assert ack.get("ERR-3.1") == "207"
    assert ack.get("ERR-3.2") == ERROR_CODES["207"] == "Application internal error"


def test_ae_with_err_v23_uses_err1() -> None:
    original = load("adt_a04_v23_fhirconv.hl7")
    ack = ack_of(original, "AE", text="PID-3 is empty", error_location="PID-3.1",
                 error_code="101")
    assert ack.version == "2.3"
    assert ack.get("MSH-9") == "ACK^A04"  # no message structure component before v2.3.1
    assert ack.get("MSA-3") == "PID-3 is empty"
    assert ack.get_raw("ERR-1") == "PID^1^3^101&Required field missing&HL70357"
    assert ack.get("ERR-1.4.1") == "101"
    assert ack.get("ERR-1.4.2") == "Required field missing"
    assert ack.get("ERR-2") == "" and ack.get("ERR-3") == ""
    bare = ack_of(original, "AR", text="x")
    assert bare.get_raw("ERR-1") == "^^^207&Application internal error&HL70357"


def test_msh_routing_fields_are_swapped_and_msa2_echoes() -> None:
    original = Hl7Message.parse(
        "MSH|^~\\&|SAPP^1.2.3^ISO|SFAC|RAPP|RFAC^9.9^ISO|20240101||ORM^O01^ORM_O01|"
        "ID\\T\\42|T|2.4||||||UNICODE UTF-8\rPID|1\r")
    ack = ack_of(original, "AA", control_id="C-1")
    assert ack.get_raw("MSH-3") == "RAPP"
    assert ack.get_raw("MSH-4") == "RFAC^9.9^ISO"
    assert ack.get_raw("MSH-5") == "SAPP^1.2.3^ISO"
    assert ack.get_raw("MSH-6") == "SFAC"
    assert ack.get("MSH-7") == "20240115080105"
    assert ack.message_type == "ACK^O01" and ack.get("MSH-9.3") == "ACK"
    assert ack.control_id == "C-1"
    assert ack.processing_id == "T"
    assert ack.version == "2.4"
    assert ack.charset == "UNICODE UTF-8"
    assert ack.get_raw("MSA-2") == "ID\\T\\42" and ack.get("MSA-2") == "ID&42"


def test_nonstandard_delimiters_are_reused() -> None:
    original = load("edge_adt_a24_nonstandard_delimiters_hapi.hl7")
    text = build_ack(original, "AE", text="a^b|c", error_location="PID-3.1", now=NOW)
    assert text.startswith("MSH^~|\\&^RECEIVING^200^SENDING^200M^20240115080105^^ACK~A24~ACK^")
    ack = Hl7Message.parse(text)
    assert ack.get("MSA-2") == "2003582144"
    assert ack.get("MSA-3") == "a^b|c"
    assert ack.get_raw("MSA-3") == "a\\F\\b\\R\\c"
    assert ack.get_raw("ERR-1") == "PID~1~3~207&Application internal error&HL70357"  # v2.4


def test_version_27_has_no_msa3_and_keeps_truncation_character() -> None:
    original = Hl7Message.parse("MSH|^~\\&#|A|B|C|D|||OML^O21^OML_O21|X9|P|2.7\r")
    ack = ack_of(original, "AE", text="bad specimen", error_location="SPM-4")
    assert ack.separators.encoding_characters == "^~\\&#"
    assert ack.get("MSA-3") == ""
    assert ack.get("ERR-8") == "bad specimen"
    assert ack.get_raw("ERR-2") == "SPM^1^4"


def test_control_ids_are_fresh_and_timestamps_formatted() -> None:
    original = load("adt_a04_v23_fhirconv.hl7")
    first = Hl7Message.parse(build_ack(original, "AA"))
    second = Hl7Message.parse(build_ack(original, "AA"))
    assert first.control_id != second.control_id
    assert 0 < len(first.control_id) <= 20
    assert first.control_id != original.control_id
    assert re.fullmatch(r"\d{14}", first.get("MSH-7"))


def test_text_is_escaped_flattened_and_kept_short() -> None:
    original = load("authored/dft_p03_supply_charges_v251_authored.hl7")
    ack = ack_of(original, "AE", text="bad | value ^ here\r\nnext & ~ \\ line " + "x" * 300)
    assert ack.segment_ids == ["MSH", "MSA", "ERR"]
    msa3 = ack.get("MSA-3")
    assert msa3.startswith("bad | value ^ here next & ~ \\ line x")
    assert len(msa3) <= 80 and msa3.endswith("...")
    assert len(ack.get("ERR-8")) <= 250
    assert "\\F\\" in ack.get_raw("MSA-3")


def test_no_trigger_gives_bare_ack_type() -> None:
    original = Hl7Message.parse("MSH|^~\\&|A|B|C|D|||QRY|Q1|P|2.5.1\r")
    ack = ack_of(original, "AA")
    assert ack.get("MSH-9") == "ACK"


def test_invalid_code_is_refused() -> None:
    with pytest.raises(ValueError):
        build_ack(None, "OK")


# -------------------------------------------------------------------- salvage (AR)
def test_ar_from_unparseable_text_salvages_the_header() -> None:
    raw = read("authored/malformed_bad_encoding_chars_authored.hl7")
    with pytest.raises(ParseError) as info:
        Hl7Message.parse(raw)
    ack = ack_of(None, "AR", text=info.value.message, error_location=info.value.location,
                 error_code="102", raw_fallback=raw)
    assert ack.get("MSA-1") == "AR"
    assert ack.get("MSA-2") == "MSG00262"
    assert (ack.get("MSH-3"), ack.get("MSH-4"), ack.get("MSH-5"), ack.get("MSH-6")) == (
        "MMIS", "GOODHEALTH", "EHR", "GOODHEALTH")
    assert ack.version == "2.5"
    assert ack.get("MSH-9") == "ACK^A04^ACK"
    assert ack.get_raw("ERR-2") == "MSH^1^2"
    assert ack.get("ERR-3.1") == "102"
    assert ack.separators.encoding_characters == "^~\\&"


def test_ar_when_only_later_segments_are_broken() -> None:
    raw = read("fuzz/fuzz_binary_segment_ids_nhapi.hl7").replace("\ufffd", "")
    with pytest.raises(ParseError):
        Hl7Message.parse(raw)
    ack = ack_of(None, "AR", text="garbage segment", raw_fallback=raw)
    assert ack.version == "2.7"  # taken from the intact MSH line
    assert ack.get("MSA-3") == ""  # withdrawn in v2.7
    assert ack.get("ERR-8") == "garbage segment"


@pytest.mark.parametrize("raw", [
    None, "", "\x00\x02garbage", "PID|1|2", "MSHH0\r", "MSH|^~&|A\\B|F^ac\x01||||||||99.9",
    "MSH|0|0|0|0|0|0|0|20^?|0|0|2.7", read("fuzz/fuzz_splice_000123_nhapi.hl7"),
])
def test_ar_from_garbage_is_still_a_valid_ack(raw: str | None) -> None:
    ack = ack_of(None, "AR", text="cannot parse\r\nat all", error_code="100",
                 raw_fallback=raw)
    assert ack.get("MSA-1") == "AR"
    assert "cannot parse at all" in (ack.get("MSA-3"), ack.get("ERR-8"))
    assert ack.version in ("2.4", "2.5.1", "2.7")
    assert "100" in (ack.get("ERR-3.1"), ack.get("ERR-1.4.1"))


def test_salvaged_values_are_escaped() -> None:
    raw = "MSH|^~&|APP\\X^1.2|FAC&X|RCV|RF~2|||ADT^A01|C\\1|P|2.3.1\rPID|1"
    ack = ack_of(None, "AR", raw_fallback=raw)
    assert ack.get("MSH-5") == "APP\\X^1.2"
    assert ack.get("MSH-5.1") == "APP\\X"
    assert ack.get("MSH-6") == "FAC&X"
    assert ack.get("MSH-4") == "RF~2"
    assert ack.get("MSA-2") == "C\\1"
    assert ack.get("MSH-9") == "ACK^A01^ACK"


# -------------------------------------------------------------------- error locations
@pytest.mark.parametrize(("location", "erl"), [
    ("PID-3.1", "PID^1^3^1^1"), ("PID-3", "PID^1^3"), ("OBX[2]-5", "OBX^2^5"),
    ("PID-3(2).1", "PID^1^3^2^1"), ("PID-3(2)", "PID^1^3^2"), ("PID-3.1.2", "PID^1^3^1^1^2"),
    ("MSH", "MSH^1"), ("OBX[3]", "OBX^3"), ("segment 4", ""), (None, ""), ("", ""),
])
def test_error_location(location: str | None, erl: str) -> None:
    assert error_location(location) == erl
