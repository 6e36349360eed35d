"""X12 reader: decoding, delimiter detection, tolerant parsing and the data model."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.errors import ParseError
from protocols.x12 import Delimiters, IsaHeaderError, Segment, decode, detect, parse

DATA = Path(__file__).resolve().parent.parent / "data" / "x12"
ALL_FILES = sorted(p.relative_to(DATA).as_posix() for p in DATA.rglob("*")
                   if p.suffix in (".edi", ".x12"))

ISA_850 = ("ISA*00*          *00*          *ZZ*GOODHEALTH     *ZZ*GMDSUPPLY      *240116*1200*"
           "U*00401*000000501*0*P*>~")
BODY_850 = ("GS*PO*GOODHEALTH*GMDSUPPLY*20240116*1200*501*X*004010~ST*850*0001~"
            "BEG*00*SA*PO-1**20240116~PO1*1*10*EA*4.25**VC*GMD-1~CTT*1~SE*5*0001~GE*1*501~"
            "IEA*1*000000501~")


def load(name: str) -> bytes:
    """Bytes of a test data file."""
    return (DATA / name).read_bytes()


def test_the_corpus_copy_is_present() -> None:
    """Every X12 corpus file was copied (97 data files) with its provenance line."""
    assert len(ALL_FILES) == 96
    sources = (DATA / "SOURCES.md").read_text(encoding="utf-8")
    for name in ALL_FILES:
        assert f"`{name}`" in sources


@pytest.mark.parametrize("name", ALL_FILES)
def test_every_corpus_file_parses(name: str) -> None:
    """No corpus file makes the reader raise: every one has a readable ISA header."""
    interchanges = parse(load(name))
    assert interchanges
    for ic in interchanges:
        assert ic.isa.id == "ISA"
        assert len(ic.isa.elements) == 16
        assert ic.raw_isa.startswith("ISA")
        for seg in ic.segments():
            assert seg.id and seg.id == seg.id.strip()


# file -> [(groups, sets per group, TA1 segments, IEA present)] per interchange
STRUCTURE = {
    "850_po_two_sets_nodex12.edi": [(1, [1], 0, True), (1, [1], 0, True)],
    "999_multiple_5010_pyx12.x12": [(2, [2, 2], 0, True)],
    "cddl_oopfactory/810_invoice_multi_4030.edi": [(1, [2], 0, True)],
    "cddl_oopfactory/855_po_ack_two_sets.edi": [(1, [2], 0, True)],
    "cddl_oopfactory/ta1_interchange_ack_1.edi": [(0, [], 2, True)],
    "cddl_oopfactory/ta1_interchange_ack_gt_elem.edi": [(0, [], 1, True)],
    "authored/ta1_reject_authored.edi": [(0, [], 1, True)],
    "pyx12_validation/mult_isa.x12": [(5, [3, 1, 1, 1, 1], 0, True), (3, [3, 1, 1], 0, True)],
    "pyx12_validation/multiple_trn.x12": [(3, [3, 1, 1], 0, True)],
    "pyx12_validation/835id.expected_997.x12": [(1, [1], 1, True)],  # TA1 after the GE
    "pyx12_validation/837miss.x12": [(1, [1], 0, False)],
    "pyx12_validation/fail_no_iea.x12": [(1, [1], 0, False)],
    "cddl_oopfactory/edge_837p_utf16le.edi": [(1, [1], 0, False)],  # truncated upstream
    "edge_850_tilde_component_sep_edinet.edi": [(1, [2], 0, True)],
}


@pytest.mark.parametrize("name", sorted(STRUCTURE))
def test_envelope_structure(name: str) -> None:
    """Interchanges, groups per interchange, sets per group and TA1s are found."""
    got = [(len(ic.groups), [len(g.sets) for g in ic.groups], len(ic.ta1_segments),
            ic.trailer is not None) for ic in parse(load(name))]
    assert got == STRUCTURE[name]


# file -> (element, component, repetition, terminator, suffix)
DELIMITERS = {
    "850_po_4010_x12types.edi": ("*", ">", None, "~", "\n"),
    "271_single_line_no_newlines_edinet.edi": ("*", ":", "^", "~", ""),
    "850_po_lf_terminator_nodex12.edi": ("*", ">", None, "\n", ""),
    "856_asn_4060_nodex12.edi": ("*", ">", "-", "~", "\n"),  # ISA11 '-' with 00406
    "999_accept_5010_pyx12.x12": ("*", ":", "!", "~", "\n"),
    "cddl_oopfactory/850_po_pipe_terminator.edi": ("*", "~", None, "|", "\r\n"),
    "cddl_oopfactory/852_product_activity_caret_terminator.edi": ("*", ">", None, "^", "\r\n"),
    "cddl_oopfactory/846_inventory_inquiry_tilde_elem.edi": ("~", ">", None, "}", "\r\n"),
    "cddl_oopfactory/856_asn_tilde_elem_star_terminator.edi": ("~", "`", None, "*", "\r\n"),
    "cddl_oopfactory/856_asn_nonascii_terminator.edi": ("*", ":", None, "\u2026", "\r\n"),
    "cddl_oopfactory/856_asn_4.edi": ("*", "|", None, "~", "\r\n"),
    "cddl_oopfactory/832_price_catalog_hibcc_medsurg_1.edi": ("^", ">", None, "~", "\r\n"),
    "cddl_oopfactory/ta1_interchange_ack_gt_elem.edi": (">", "+", "^", "\r", "\n"),
    "cddl_oopfactory/edge_270_gs_0x1d_terminator.edi": ("*", ":", None, "\x1d", "\r\n"),
    "cddl_oopfactory/810_invoice_cr_terminator_short_isa.edi": ("*", ">", None, "\r", "\n"),
    "cddl_oopfactory/855_po_ack_cr_terminator.edi": ("*", ">", None, "\r", "\n"),
    "cddl_oopfactory/edge_837p_cr_terminator.edi": ("*", ":", "^", "\r", "\n"),
    "cddl_oopfactory/820_remittance_4060.edi": ("*", ">", "|", "~", "\r\n"),
    "cddl_oopfactory/malformed_837p_missing_entity_code.edi": ("*", ">", "|", "~", "\r\n"),
    # ISA11 '^' equals ISA16 '^': ambiguous, so no repetition separator (envelope says 016)
    "cddl_oopfactory/837i_5010_tr3_example.edi": ("*", "^", None, "~", "\r\n"),
    "cddl_oopfactory/edge_837p_utf16le.edi": ("*", ":", "^", "~", ""),
    "edge_834_backslash_component_sep_pyx12.x12": ("*", "\\", "^", "~", ""),  # "~ \n" follows
    "edge_850_tilde_component_sep_edinet.edi": ("*", "~", None, "\n", ""),
    "pyx12_validation/834_eol_in_element.x12": ("*", ":", None, "~", "\n"),  # 00501, ISA11 U
    # ISA not fixed width: the separators are still found by counting elements
    "edge_810_invoice_bom_tab_indented_edinet.edi": ("*", ">", None, "~", "\n"),
    "authored/malformed_850_isa_too_short_authored.edi": ("*", ">", None, "~", ""),
    "cddl_oopfactory/860_po_change_malformed_isa.edi": ("*", ">", None, "~", "\r\n"),
}


@pytest.mark.parametrize("name", sorted(DELIMITERS))
def test_delimiter_detection(name: str) -> None:
    """detect() and parse() find the declared separators of unusual files."""
    expected = Delimiters(*DELIMITERS[name])
    assert detect(load(name)) == expected
    assert parse(load(name))[0].delimiters == expected


def test_decode_utf8_bom_utf16_and_latin1() -> None:
    """BOMs are dropped, UTF-16 is recognised with or without BOM, bad UTF-8 falls back."""
    text = ISA_850 + BODY_850
    assert decode(b"\xef\xbb\xbf" + text.encode()) == text
    assert decode(text.encode("utf-16-le")) == text
    assert decode(text.encode("utf-16-be")) == text
    assert decode(b"\xff\xfe" + text.encode("utf-16-le")) == text
    assert decode(b"\xfe\xff" + text.encode("utf-16-be")) == text
    assert decode(text.encode("utf-16-le") + b"I") == text  # odd trailing byte dropped
    assert decode(b"N1*ST*CAF\xc9~") == "N1*ST*CAF\xc9~"  # not UTF-8 -> latin-1
    assert decode("N1*ST*CAF\xc9~".encode()) == "N1*ST*CAF\xc9~"
    for data in (text.encode("utf-16-le"), text.encode("utf-16-be"), text.encode()):
        assert parse(data)[0].groups[0].sets[0].segments[0].element(3) == "PO-1"


def test_utf16le_corpus_file() -> None:
    """The UTF-16LE 837P (no BOM) decodes; it is truncated upstream after NM1*41."""
    ic = parse(load("cddl_oopfactory/edge_837p_utf16le.edi"))[0]
    assert ic.sender_id == "t393447" and ic.isa.element(4) == "CYCTRANS  "
    assert ic.version == "00501"
    ts = ic.groups[0].sets[0]
    assert [s.id for s in ts.segments] == ["BHT", "NM1"]
    assert ts.trailer is None and ic.groups[0].trailer is None and ic.trailer is None


def test_nbsp_padded_isa_is_padding() -> None:
    """U+00A0 padding counts as one character: the ISA is 106 long; ids strip it."""
    ic = parse(load("edge_850_nbsp_padded_isa_edinet.edi"))[0]
    assert len(ic.raw_isa) == 105
    assert "\xa0" in ic.isa.element(2) and len(ic.isa.element(2)) == 10
    assert (ic.sender_qualifier, ic.sender_id) == ("01", "000123456")
    assert (ic.receiver_qualifier, ic.receiver_id) == ("ZZ", "PARTNERID")
    assert ic.groups[0].sets[0].segments[0].id == "BEG"


def test_tab_and_space_indentation_is_not_data() -> None:
    """Tab/space indentation and line breaks between segments are dropped."""
    ic = parse(load("edge_810_invoice_bom_tab_indented_edinet.edi"))[0]
    ts = ic.groups[0].sets[0]
    assert ts.header.elements == ["810", "0001"]
    assert ts.segments[0].id == "BIG" and ts.trailer is not None
    assert int(ts.trailer.element(1)) == len(ts.segments) + 2
    mixed = parse(load("malformed_850_bal_custom_segments_edinet.edi"))[0]
    assert [s.id for s in mixed.groups[0].sets[0].segments] == ["BAL"] * 4


def test_control_character_terminator() -> None:
    """0x1D as the segment terminator, followed by CRLF and indentation."""
    ic = parse(load("cddl_oopfactory/edge_270_gs_0x1d_terminator.edi"))[0]
    assert ic.groups[0].header.element(8) == "005010X279"
    assert ic.trailer is not None and ic.trailer.elements == ["1", "000000031"]


def test_whitespace_inside_elements_is_data() -> None:
    """A line break inside an element and trailing spaces in ST02 are kept (pyx12 flags them)."""
    eol = parse(load("pyx12_validation/834_eol_in_element.x12"))[0]
    n3 = next(s for s in eol.groups[0].sets[0].segments if s.id == "N3")
    assert n3.element(1) == "777 ELM ST\nAPT 55"
    ele = parse(load("pyx12_validation/ele.x12"))[0]
    assert ele.groups[0].sets[0].control_number == "300145997 "
    assert ele.groups[0].header.element(2) == "0AAA "


def test_repetition_components_and_no_release_character() -> None:
    """5010 repetitions and components split; '?' is not an escape in X12."""
    ic = parse(load("authored/edge_850_repetition_and_release_chars_5010_authored.edi"))[0]
    segs = {s.id: s for s in ic.groups[0].sets[0].segments}
    assert segs["N1"].repetitions(2) == ["GOOD HEALTH HOSPITAL", "GOOD HEALTH MAIN"]
    assert segs["PO1"].components(7) == ["GMD-88291", "A"]
    assert segs["REF"].elements == ["ZZ", "NOTE WITH ?", " ASTERISK"]


def test_segment_helpers() -> None:
    """element() is 1-based and forgiving; components/repetitions of empty are []."""
    d = Delimiters("*", ":", "^", "~")
    seg = Segment("SV1", ["HC:99213:25", "", "A^B"], d)
    assert seg.element(1) == "HC:99213:25"
    assert seg.element(0) == seg.element(4) == seg.element(-1) == ""
    assert seg.components(1) == ["HC", "99213", "25"]
    assert seg.components(2) == [] and seg.repetitions(9) == []
    assert seg.repetitions(3) == ["A", "B"]
    assert Segment("X", ["A^B"], Delimiters(repetition=None)).repetitions(1) == ["A^B"]
    assert seg.text() == "SV1*HC:99213:25**A^B"
    assert seg == Segment("SV1", ["HC:99213:25", "", "A^B"])  # delimiters are not compared


def test_model_properties() -> None:
    """Interchange, group and set properties read the envelope elements."""
    ic = parse(ISA_850.replace("*0*P*", "*1*T*") + BODY_850)[0]
    assert (ic.sender_qualifier, ic.sender_id) == ("ZZ", "GOODHEALTH")
    assert (ic.receiver_qualifier, ic.receiver_id) == ("ZZ", "GMDSUPPLY")
    assert (ic.control_number, ic.version, ic.usage, ic.ack_requested) == \
        ("000000501", "00401", "T", True)
    group = ic.groups[0]
    assert (group.functional_id, group.version, group.control_number) == ("PO", "004010", "501")
    ts = group.sets[0]
    assert (ts.set_id, ts.control_number, ts.position) == ("850", "0001", 2)
    assert [s.id for s in ic.segments()] == ["ISA", "GS", "ST", "BEG", "PO1", "CTT", "SE", "GE",
                                             "IEA"]


def test_positions_for_ak3() -> None:
    """The set's position and segments[i] -> AK3 position i + 2 (ST is 1)."""
    ic = parse(load("cddl_oopfactory/malformed_837p_missing_entity_code.edi"))[0]
    ts = ic.groups[0].sets[0]
    assert ts.position == 2
    bad = [i for i, s in enumerate(ts.segments) if s.id == "NM1" and not s.element(1)]
    assert len(bad) == 1
    assert bad[0] + 2 == 23  # line 25 of the file, ST on line 3
    assert ts.segments[bad[0]].elements[:3] == ["", "1", "XXXX"]
    second = parse(load("850_po_two_sets_nodex12.edi"))[1].groups[0].sets[0]
    assert second.position == 2  # positions restart in each interchange


def test_missing_trailers_are_recorded_not_raised() -> None:
    """Missing SE/GE leave trailer None; the IEA is still found."""
    ic = parse(load("authored/malformed_850_missing_se_ge_authored.edi"))[0]
    group = ic.groups[0]
    assert group.trailer is None and group.sets[0].trailer is None
    assert [s.id for s in group.sets[0].segments] == ["BEG", "PO1", "CTT"]
    assert ic.trailer is not None and ic.trailer.elements == ["1", "000000501"]


def test_missing_ge_then_new_group_and_set_without_se() -> None:
    """A GS or ST closes what is open; the missing trailers stay None."""
    text = ISA_850 + ("GS*PO*A*B*20240116*1200*1*X*004010~ST*850*0001~BEG*00~"
                      "ST*850*0002~BEG*00~SE*3*0002~GS*PO*A*B*20240116*1200*2*X*004010~"
                      "ST*850*0003~SE*2*0003~GE*1*2~IEA*2*000000501~")
    ic = parse(text)[0]
    first, second = ic.groups
    assert first.trailer is None and [t.trailer is None for t in first.sets] == [True, False]
    assert second.trailer is not None and len(second.sets) == 1
    assert not ic.stray_segments


def test_stray_segments() -> None:
    """Segments outside any group or set, or after the IEA, are kept as stray."""
    text = ISA_850 + ("SE*2*0001~GS*PO*A*B*20240116*1200*1*X*004010~REF*ZZ*1~GE*0*1~GE*0*1~"
                      "ST*850*0001~IEA*1*000000501~N1*ST*X~IEA*1*000000501~")
    ic = parse(text)[0]
    assert [s.id for s in ic.stray_segments] == ["SE", "REF", "GE", "ST", "N1", "IEA"]
    assert ic.trailer is not None and len(ic.groups) == 1


def test_ta1_segments() -> None:
    """TA1 directly after the ISA, or outside groups, is an interchange acknowledgment."""
    ic = parse(load("cddl_oopfactory/ta1_interchange_ack_1.edi"))[0]
    assert [s.elements for s in ic.ta1_segments] == [["0659", "20110922", "0512", "A"],
                                                     ["0660", "20110922", "0512", "A"]]
    gt = parse(load("cddl_oopfactory/ta1_interchange_ack_gt_elem.edi"))[0]
    assert gt.ta1_segments[0].elements[:5] == ["900000001", "100624", "1430", "R", "006"]
    assert gt.trailer is not None and gt.trailer.elements == ["0", "000000001"]  # no terminator


def test_several_interchanges_with_different_delimiters() -> None:
    """Each interchange is read with its own delimiters, even when they change mid-file."""
    other = (ISA_850.replace("*", "|").replace("|>~", "|^!") + "\r\n" +
             BODY_850.replace("*", "|").replace("~", "!\r\n"))
    ics = parse("\n" + ISA_850 + BODY_850 + "\n" + other + ISA_850 + BODY_850)
    assert [(ic.delimiters.element, ic.delimiters.terminator) for ic in ics] == \
        [("*", "~"), ("|", "!"), ("*", "~")]
    assert all(len(ic.groups[0].sets[0].segments) == 3 for ic in ics)
    assert ics[1].delimiters.component == "^"
    # the ISA of the next interchange also ends an open set when the trailers are missing
    cut = ISA_850 + BODY_850.split("SE*")[0]
    ics = parse(cut + other)
    assert len(ics) == 2 and ics[0].groups[0].sets[0].trailer is None
    assert [s.id for s in ics[0].groups[0].sets[0].segments] == ["BEG", "PO1", "CTT"]


def test_many_interchanges_same_delimiters() -> None:
    """A file of many interchanges parses each one completely."""
    ics = parse((ISA_850 + BODY_850 + "\r\n") * 50)
    assert len(ics) == 50
    assert all(ic.trailer is not None and len(ic.groups[0].sets[0].segments) == 3 for ic in ics)


def test_trailing_junk_after_the_last_segment() -> None:
    """Whitespace, NUL and ^Z after the last terminator are ignored."""
    ic = parse(ISA_850 + BODY_850 + " \r\n\x00\x1a\xa0")[0]
    assert not ic.stray_segments and ic.trailer is not None


@pytest.mark.parametrize(("data", "location", "note"), [
    (b"", "ISA", None),
    (b"   \r\n", "ISA", None),
    (b"hello world", "ISA", None),
    (b"GS*PO*A*B~" + ISA_850.encode(), "ISA", None),
    (b"ISA", "ISA01", "023"),
    (b"ISAX00X          X", "ISA01", "026"),
    (ISA_850[:60].encode(), "ISA09", "023"),
    (ISA_850[:-2].encode(), "ISA16", "023"),
    (ISA_850.replace(">~", "A~").encode(), "ISA16", "027"),
    (ISA_850.replace(">~", ">B").encode() + b"GS", "ISA16", "004"),
    (ISA_850.replace(">~", ">*").encode() + b"GS", "ISA16", "004"),
    ((ISA_850 + BODY_850 + ISA_850[:40]).encode(), "ISA07", "023"),
])
def test_unreadable_headers_raise_parse_error(data: bytes, location: str,
                                              note: str | None) -> None:
    """Only a missing or unreadable ISA raises, with the element and the TA1 note code."""
    with pytest.raises(ParseError) as info:
        parse(data)
    assert info.value.location == location
    if note is not None:
        assert isinstance(info.value, IsaHeaderError)
        assert info.value.note_code == note


def test_second_interchange_error_names_it() -> None:
    """An unreadable later ISA says which interchange it is."""
    with pytest.raises(IsaHeaderError, match="interchange 2"):
        parse(ISA_850 + BODY_850 + ISA_850[:40])


def test_str_input_and_bom_in_str() -> None:
    """parse() takes text as well as bytes; a BOM character is skipped."""
    assert parse("\ufeff" + ISA_850 + BODY_850)[0].control_number == "000000501"
    assert parse(bytearray((ISA_850 + BODY_850).encode()))[0].version == "00401"


def test_change_of_terminator_in_the_last_interchange() -> None:
    """A last interchange without the first one's terminator is found and re-split."""
    lf = (ISA_850.replace(">~", ">\n") + BODY_850.replace("~", "\n"))
    ics = parse(ISA_850 + BODY_850 + "\r\n" + lf)
    assert [ic.delimiters.terminator for ic in ics] == ["~", "\n"]
    assert ics[1].trailer is not None and len(ics[1].groups[0].sets[0].segments) == 3


def test_truncated_set_with_padding_and_empty_segment_ids() -> None:
    """NUL padding at the end of a truncated file is not a segment; an empty id is kept."""
    ic = parse(ISA_850 + BODY_850.split("CTT")[0] + "*ORPHAN~CTT*1\x00\x00\x00")[0]
    segments = ic.groups[0].sets[0].segments
    assert [(s.id, s.elements) for s in segments[-2:]] == [("", ["ORPHAN"]), ("CTT", ["1"])]
    assert ic.groups[0].sets[0].trailer is None and ic.trailer is None
