"""TA1 interchange acknowledgments and the never-acknowledge-an-acknowledgment rule."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from engine.errors import ParseError
from protocols.x12 import Interchange, parse
from protocols.x12.envelope import validate_envelope
from protocols.x12.ta1 import (
    build_ta1,
    build_ta1_for_report,
    build_ta1_unreadable,
    is_acknowledgment,
    needs_ta1,
)

DATA = Path(__file__).resolve().parent.parent / "data" / "x12"
NOW = datetime(2024, 3, 5, 14, 7)
ACKS = [
    "999_accept_5010_pyx12.x12", "999_multiple_5010_pyx12.x12",
    "authored/997_ack_for_850_partial_authored.edi", "authored/ta1_reject_authored.edi",
    "cddl_oopfactory/999_implementation_ack_5010.edi", "cddl_oopfactory/ta1_interchange_ack_1.edi",
    "cddl_oopfactory/ta1_interchange_ack_gt_elem.edi",
    *sorted(p.relative_to(DATA).as_posix() for p in DATA.rglob("*.expected_99*.x12")),
]


def load(name: str) -> Interchange:
    """First interchange of a test data file."""
    return parse((DATA / name).read_bytes())[0]


def test_ta1_content_and_swapped_ids() -> None:
    """ISA from the inbound receiver to the inbound sender; TA1 echoes ISA13/09/10."""
    inbound = load("pyx12_validation/simple_837p.x12")
    text = build_ta1(inbound, "000", True, 42, NOW)
    ta1 = parse(text)[0]
    assert (ta1.sender_qualifier, ta1.sender_id) == ("ZZ", "BBBBBBBBB")
    assert (ta1.receiver_qualifier, ta1.receiver_id) == ("ZZ", "AAAAAAAA")
    assert ta1.isa.elements[8:10] == ["240305", "1407"]
    assert ta1.control_number == "000000042"
    assert ta1.isa.element(14) == "0"  # nobody acknowledges a TA1
    assert (ta1.usage, ta1.version, ta1.delimiters.component) == ("P", "00401", ":")
    assert [s.elements for s in ta1.ta1_segments] == [["000001168", "041105", "1526", "A", "000"]]
    assert ta1.trailer is not None and ta1.trailer.elements == ["0", "000000042"]
    assert not ta1.groups and len(ta1.raw_isa) == 105
    assert validate_envelope(ta1).ok and is_acknowledgment(ta1)
    assert text.splitlines()[1] == "TA1*000001168*041105*1526*A*000~"


@pytest.mark.parametrize(("accepted", "code"), [(True, "A"), ("E", "E"), (False, "R")])
def test_acknowledgment_codes(accepted: bool | str, code: str) -> None:
    """TA104 is A, E or R."""
    ic = load("850_po_4010_x12types.edi")
    ta1 = parse(build_ta1(ic, "001", accepted, 1, NOW))[0]  # type: ignore[arg-type]
    assert ta1.ta1_segments[0].elements[3:] == [code, "001"]


def test_bad_arguments() -> None:
    """Unknown note codes and acknowledgment codes are refused."""
    ic = load("850_po_4010_x12types.edi")
    with pytest.raises(ValueError, match="note code"):
        build_ta1(ic, "999", True, 1, NOW)
    with pytest.raises(ValueError, match="accepted"):
        build_ta1(ic, "000", "X", 1, NOW)  # type: ignore[arg-type]


def test_sender_receiver_override_and_usage() -> None:
    """Our ids and theirs can be given; usage follows the inbound ISA15 unless set."""
    ic = load("850_po_4010_x12types.edi")
    ta1 = parse(build_ta1(ic, "000", True, 9, NOW, sender=("01", "PLEXUS"),
                          receiver=("ZZ", "PARTNER"), usage="T"))[0]
    assert (ta1.sender_qualifier, ta1.sender_id, ta1.receiver_id, ta1.usage) == \
        ("01", "PLEXUS", "PARTNER", "T")
    assert parse(build_ta1(ic, "000", True, 9, NOW))[0].usage == "T"  # inbound ISA15 is T


def test_uses_inbound_delimiters_and_version() -> None:
    """Unusual inbound delimiters are kept; a 5010 TA1 carries the repetition separator."""
    tilde = load("cddl_oopfactory/846_inventory_inquiry_tilde_elem.edi")
    text = build_ta1_for_report(validate_envelope(tilde), 5, NOW)
    assert text.startswith("ISA~00~") and "}\r\nTA1~000001979~040811~0014~R~016}\r\n" in text
    five = parse(build_ta1(load("837p_5010_x12types.edi"), "000", True, 5, NOW))[0]
    assert (five.version, five.isa.element(11), five.delimiters.repetition) == ("00501", "^", "^")
    bad_version = load("cddl_oopfactory/810_invoice_cr_terminator_short_isa.edi")
    assert parse(build_ta1(bad_version, "017", False, 5, NOW))[0].version == "00401"
    assert is_acknowledgment(parse(build_ta1(load("cddl_oopfactory/ta1_interchange_ack_gt_elem"
                                                  ".edi"), "000", True, 5, NOW))[0])


def test_short_control_number_is_zero_filled() -> None:
    """TA101 is 9 digits even when the inbound ISA13 was not."""
    ic = load("authored/malformed_850_isa_too_short_authored.edi")
    report = validate_envelope(ic)
    ta1 = parse(build_ta1_for_report(report, 3, NOW))[0]
    assert ta1.ta1_segments[0].elements == ["000000001", "240116", "1200", "R", "022"]
    assert (ta1.sender_id, ta1.receiver_id) == ("GOODHEALTH", "GMD")


PYX12_TA1 = ["835id", "837miss", "ele", "fail_no_iea", "simple_837p", "trailer_errors"]


@pytest.mark.parametrize("case", PYX12_TA1)
def test_ta1_segment_matches_pyx12(case: str) -> None:
    """Our TA1 segment is the one pyx12 put in its expected acknowledgment."""
    inbound = load(f"pyx12_validation/{case}.x12")
    report = validate_envelope(inbound)
    assert needs_ta1(report)  # all of them ask for one (ISA14 = 1)
    ours = parse(build_ta1_for_report(report, 1, NOW))[0].ta1_segments[0]
    theirs = load(f"pyx12_validation/{case}.expected_997.x12").ta1_segments[0]
    assert ours.elements == theirs.elements


def test_needs_ta1() -> None:
    """A TA1 when asked (ISA14 = 1) or when the envelope is bad; never for acks."""
    assert needs_ta1(validate_envelope(load("cddl_oopfactory/810_invoice_1.edi")))  # ISA14 1
    assert not needs_ta1(validate_envelope(load("850_po_4010_x12types.edi")))  # ISA14 0, clean
    assert needs_ta1(validate_envelope(load("authored/malformed_850_missing_se_ge_authored.edi")))
    assert not needs_ta1(validate_envelope(load("cddl_oopfactory/ta1_interchange_ack_gt_elem"
                                                ".edi")))
    ack_asking = load("pyx12_validation/835id.expected_997.x12")
    ack_asking.isa.elements[13] = "1"
    assert not needs_ta1(validate_envelope(ack_asking))


@pytest.mark.parametrize("name", ACKS)
def test_is_acknowledgment_on_corpus_acks(name: str) -> None:
    """997, 999 and TA1 interchanges are acknowledgments."""
    assert is_acknowledgment(load(name))


@pytest.mark.parametrize("name", ["850_po_4010_x12types.edi", "pyx12_validation/835id.x12",
                                  "cddl_oopfactory/855_po_ack_two_sets.edi",
                                  "pyx12_validation/837miss.x12"])
def test_is_not_acknowledgment(name: str) -> None:
    """Business documents (855 is a PO acknowledgment, but a document) are not."""
    assert not is_acknowledgment(load(name))


def test_mixed_and_empty_interchanges() -> None:
    """An FA group next to a business group is not only an ack; an empty interchange is not."""
    ic = load("pyx12_validation/multiple_trn.x12")
    ic.groups[0].header.elements[0] = "FA"
    assert not is_acknowledgment(ic)
    ic.groups = []
    assert not is_acknowledgment(ic)


@pytest.mark.parametrize(("data", "note"), [
    (b"ISA*00*          *00*          *ZZ*SENDER         *ZZ*RECEIVER       *2401", "023"),
    (b"ISA*00*          *00*          *ZZ*SENDER         *ZZ*RECEIVER       *240116*1200*U*"
     b"00401*000000077*0*P*A~GS", "027"),
    (b"ISA*00*          *00*          *ZZ*SENDER         *ZZ*RECEIVER       *240116*1200*U*"
     b"00401*000000077*0*P*>Q", "004"),
])
def test_ta1_for_unreadable_isa(data: bytes, note: str) -> None:
    """A rejecting TA1 with the ids salvaged from the broken header, swapped."""
    with pytest.raises(ParseError) as info:
        parse(data)
    text = build_ta1_unreadable(data, info.value, 11, NOW)
    assert text is not None
    ta1 = parse(text)[0]
    assert (ta1.sender_id, ta1.receiver_id) == ("RECEIVER", "SENDER")
    elements = ta1.ta1_segments[0].elements
    assert elements[3:] == ["R", note]
    if note != "023":
        assert elements[:3] == ["000000077", "240116", "1200"]
    assert validate_envelope(ta1).ok


def test_ta1_for_unreadable_isa_without_ids_or_not_x12() -> None:
    """With nothing to salvage the ids default; data that is not X12 gets no TA1."""
    with pytest.raises(ParseError) as info:
        parse(b"ISA")
    text = build_ta1_unreadable(b"ISA", info.value, 1, NOW, sender=("ZZ", "PLEXUS"))
    assert text is not None
    ta1 = parse(text)[0]
    assert (ta1.sender_id, ta1.receiver_id) == ("PLEXUS", "UNKNOWN")
    with pytest.raises(ParseError) as info:
        parse(b"<html>")
    assert build_ta1_unreadable(b"<html>", info.value, 1, NOW) is None


def test_default_clock() -> None:
    """Without `now` the current time is used (not asserted)."""
    text = build_ta1(load("850_po_4010_x12types.edi"))
    assert parse(text)[0].ta1_segments[0].elements[3:] == ["A", "000"]
