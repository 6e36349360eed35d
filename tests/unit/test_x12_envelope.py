"""X12 envelope validation: TA1 note codes, AK9 and AK5 codes, agreement with pyx12's acks."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest

from protocols.x12 import Interchange, Segment, parse
from protocols.x12.envelope import (
    TA1_NOTES,
    EnvelopeReport,
    validate_envelope,
    validate_interchanges,
)
from protocols.x12.writer import (
    build_group,
    build_interchange,
    build_transaction_set,
    encode,
    make_segment,
)

DATA = Path(__file__).resolve().parent.parent / "data" / "x12"
ALL_FILES = sorted(p.relative_to(DATA).as_posix() for p in DATA.rglob("*")
                   if p.suffix in (".edi", ".x12"))
WHEN = datetime(2024, 1, 16, 12, 0)

# file -> per interchange: (TA104, TA1 fault codes in report order, group/set codes or "ok").
# Every corpus file not listed here has a clean envelope: [("A", [], "ok")] per interchange.
EXPECTED = {
    # the same ISA13 twice in one file
    "850_po_two_sets_nodex12.edi": [("A", [], "ok"), ("R", ["025"], "ok")],
    # ISA not 106 wide (022), then each mis-sized field; SE says 6, the set holds 5
    "authored/malformed_850_isa_too_short_authored.edi": [
        ("R", ["022", "011", "013", "018", "018", "006", "008"], [([], [["4"]])])],
    # no SE (AK5 2), no GE (AK9 3), both still open at the IEA (024)
    "authored/malformed_850_missing_se_ge_authored.edi": [("R", ["024"], [(["3"], [["2"]])])],
    "cddl_oopfactory/810_invoice_cr_terminator_short_isa.edi": [("R", ["017"], "ok")],  # 00040
    "cddl_oopfactory/820_remittance_4010.edi": [("R", ["007"], "ok")],  # ISA07 "XX"
    # GS06 "44 (Group Control Number)" is not a number (6) and differs from GE02 "44" (4)
    "cddl_oopfactory/820_remittance_4060.edi": [("A", [], [(["6", "4"], [[]])])],
    "cddl_oopfactory/832_price_catalog_hibcc_medsurg_1.edi": [("R", ["017"], "ok")],
    "cddl_oopfactory/832_price_catalog_hibcc_medsurg_2.edi": [("R", ["017"], "ok")],
    "cddl_oopfactory/837i_5010_tr3_example.edi": [("R", ["016"], "ok")],  # ISA11 == ISA16
    "cddl_oopfactory/846_inventory_inquiry_tilde_elem.edi": [("R", ["016"], "ok")],  # ISA11 ' '
    # IEA02 "000000002~": the '~' is data because '^' terminates segments here
    "cddl_oopfactory/852_product_activity_caret_terminator.edi": [("R", ["018", "001"], "ok")],
    # ISA06 one character short; N1 lost its terminator, so SE01 is one too many
    "cddl_oopfactory/860_po_change_malformed_isa.edi": [("R", ["022", "006"], [([], [["4"]])])],
    "cddl_oopfactory/865_po_change_ack.edi": [("R", ["018", "001"], "ok")],  # IEA02 00001660
    "cddl_oopfactory/edge_837p_utf16le.edi": [("R", ["023"], [(["3"], [["2"]])])],  # truncated
    "edge_810_invoice_b_edinet.edi": [("R", ["022", "011", "013", "008"], "ok")],
    "edge_810_invoice_bom_tab_indented_edinet.edi": [("R", ["022", "011", "013", "008"], "ok")],
    "edge_810_invoice_c_edinet.edi": [("R", ["022", "011", "013", "008"], "ok")],
    "edge_810_invoice_d_edinet.edi": [("R", ["022", "011", "013", "008"], "ok")],
    "edge_832_price_catalog_indented_edinet.edi": [
        ("R", ["022", "011", "013", "006", "008"], [([], [["4"]])])],
    # NBSP padding accepted; IEA02 000000001 vs ISA13 000000055 only marks errors (E)
    "edge_850_nbsp_padded_isa_edinet.edi": [("E", ["001"], "ok")],
    "edge_850_po_a_edinet.edi": [("R", ["022", "008", "001"], "ok")],
    # ISA16 is '~' and LF terminates: every segment ends in a '~' that is data
    "edge_850_tilde_component_sep_edinet.edi": [("R", ["018", "001"], [(["4"], [[], ["23"]])])],
    "malformed_850_bal_custom_segments_edinet.edi": [
        ("R", ["022", "008", "001"], [([], [["4"]])])],
    "malformed_850_nonstandard_segments_aa_bb_edinet.edi": [
        ("R", ["022", "008", "001"], [([], [["4"]])])],
    "pyx12_validation/837miss.x12": [("R", ["023"], [(["3"], [["2"]])])],
    "pyx12_validation/bad_header_looping.x12": [("A", [], [([], [["4"]])])],
    "pyx12_validation/ele.x12": [("R", ["015"], [([], [["7", "3"]])])],
    "pyx12_validation/elements.x12": [("A", [], [([], [["4"]])])],
    "pyx12_validation/fail_no_iea.x12": [("R", ["023"], [([], [["4"]])])],
    "pyx12_validation/trailer_errors.x12": [
        ("R", ["018", "021", "001"], [(["4"], [["4"], []])])],
}


def load(name: str) -> list[Interchange]:
    """Parsed test data file."""
    return parse((DATA / name).read_bytes())


def summary(report: EnvelopeReport) -> tuple[str, list[str], object]:
    """(TA104, fault codes, group/set codes or "ok") of one report."""
    groups = [(g.codes, [s.codes for s in g.sets]) for g in report.groups]
    if all(not codes and not any(sets) for codes, sets in groups):
        return report.ta1_ack_code, [f.code for f in report.faults], "ok"
    return report.ta1_ack_code, [f.code for f in report.faults], groups


@pytest.mark.parametrize("name", ALL_FILES)
def test_every_corpus_file(name: str) -> None:
    """Each file gets exactly the envelope faults its content implies."""
    interchanges = load(name)
    got = [summary(r) for r in validate_interchanges(interchanges)]
    assert got == EXPECTED.get(name, [("A", [], "ok")] * len(interchanges))
    for report, brief in zip(validate_interchanges(interchanges), got, strict=True):
        assert report.ta1_note == (report.faults[0].code if report.faults else "000")
        assert all(f.code in TA1_NOTES for f in report.faults)
        assert report.ok == (brief == ("A", [], "ok"))
        assert report.rejected == (brief[0] == "R")


def test_isa_too_short_reports_control_structure_first() -> None:
    """The TA1 for a non-fixed-width ISA says 022 and rejects; field faults follow."""
    report = validate_envelope(load("authored/malformed_850_isa_too_short_authored.edi")[0])
    assert (report.ta1_ack_code, report.ta1_note) == ("R", "022")
    assert report.faults[0].location == "ISA" and "61 characters" in report.faults[0].message
    assert [f.location for f in report.faults[1:]] == ["ISA02", "ISA04", "ISA13", "IEA02",
                                                       "ISA06", "ISA08"]
    assert report.groups[0].sets[0].faults[0].message == \
        "SE01 says '6' segments, the set holds 5"


def test_nbsp_padding_is_a_warning() -> None:
    """NBSP padding is accepted with warnings, not faults."""
    report = validate_envelope(load("edge_850_nbsp_padded_isa_edinet.edi")[0])
    assert [f.location for f in report.faults] == ["IEA02"]
    assert any("ISA06" in w and "NBSP" in w for w in report.warnings)


def pyx12_ack(name: str) -> tuple[list[str] | None, list[tuple[list[str], list[list[str]]]]]:
    """TA1 elements and per-group (AK9 codes, [AK5/IK5 codes]) of a pyx12 expected ack."""
    ic = load(name)[0]
    ta1 = ic.ta1_segments[0].elements if ic.ta1_segments else None
    groups: list[tuple[list[str], list[list[str]]]] = []
    for ts in (s for g in ic.groups for s in g.sets):
        sets: list[list[str]] = []
        for seg in ts.segments:
            if seg.id in ("AK5", "IK5"):
                sets.append(seg.elements[1:])
            elif seg.id == "AK9":
                groups.append((seg.elements[4:], sets))
                sets = []
    return ta1, groups


PYX12_CASES = sorted(n.replace(".expected_997", "").replace(".expected_999", "")
                     for n in ALL_FILES if ".expected_99" in n)
SET_CODES = {"1", "2", "3", "4", "6", "7", "23"}  # AK5 codes that are about the envelope


@pytest.mark.parametrize("name", PYX12_CASES)
def test_agrees_with_pyx12_expected_acks(name: str) -> None:
    """TA1 note, AK9 codes and envelope-level AK5 codes match what pyx12 generated."""
    ack = next(n for n in ALL_FILES if n.startswith(name.replace(".x12", ".expected_")))
    ta1, pyx12_groups = pyx12_ack(ack)
    reports = validate_interchanges(load(name))
    if ta1 is not None:
        assert (reports[0].ta1_ack_code, reports[0].ta1_note) == (ta1[3], ta1[4])
        assert ta1[0] == reports[0].interchange.control_number
    ours = [(g.codes, [s.codes for s in g.sets]) for r in reports for g in r.groups]
    theirs = [(codes, [sorted(set(c) & SET_CODES) for c in sets]) for codes, sets in pyx12_groups]
    ours = [(codes, [sorted(c) for c in sets]) for codes, sets in ours]
    if name.endswith("ele.x12"):
        # Known disagreement: pyx12 adds AK905 = 1 because GS02/GS03 carry a trailing space
        # ("0AAA "); that is an element-level finding, not an envelope fault, so we omit it.
        assert theirs == [(["1"], [["3", "7"]])] and ours == [([], [["3", "7"]])]
        return
    assert ours == theirs


def good(version: str = "00401", sets: int = 1) -> Interchange:
    """A clean interchange to break in tests."""
    items = [build_transaction_set("850", n, [make_segment("BEG", "00", "SA", f"PO-{n}")])
             for n in range(1, sets + 1)]
    group = build_group("PO", "GOODHEALTH", "GMDSUPPLY", 7, items, when=WHEN)
    return build_interchange(("ZZ", "GOODHEALTH"), ("ZZ", "GMDSUPPLY"), [group], 7, when=WHEN,
                             version=version)


def isa(n: int, value: str) -> Callable[[Interchange], None]:
    """A mutation setting ISA field n."""
    def change(ic: Interchange) -> None:
        ic.isa.elements[n - 1] = value
    return change


def reparse(ic: Interchange) -> Interchange:
    """The interchange as a receiver would see it (raw ISA recomputed)."""
    text = ic.delimiters.element.join(["ISA", *ic.isa.elements]) + "~"
    body = "".join(s.text() + "~" for s in ic.segments() if s.id != "ISA")
    return parse(text + body)[0]


@pytest.mark.parametrize(("mutate", "codes", "ack"), [
    (isa(1, "99"), ["010"], "R"), (isa(2, "SHORT"), ["022", "011"], "R"),
    (isa(3, "02"), ["012"], "R"), (isa(4, "X"), ["022", "013"], "R"),
    (isa(5, "Q1"), ["005"], "R"), (isa(6, " " * 15), ["006"], "E"),
    (isa(7, "XX"), ["007"], "R"), (isa(8, " " * 15), ["008"], "E"),
    (isa(9, "241301"), ["014"], "R"), (isa(9, "230229"), ["014"], "R"),
    (isa(10, "2460"), ["015"], "R"), (isa(11, "^"), ["016"], "R"),
    (isa(12, "00040"), ["017"], "R"), (isa(12, "4010"), ["022", "017"], "R"),
    (isa(13, "00000000A"), ["018", "001"], "R"), (isa(14, "2"), ["019"], "E"),
    (isa(15, "X"), ["020"], "E"),
])
def test_isa_field_faults(mutate: Callable[[Interchange], None], codes: list[str],
                          ack: str) -> None:
    """Each ISA field maps to its TA1 note code and severity (a width change adds 022 first)."""
    ic = good()
    mutate(ic)
    report = validate_envelope(reparse(ic))
    assert ([f.code for f in report.faults], report.ta1_ack_code) == (codes, ack)
    assert report.ta1_note == codes[0]


def test_valid_dates_and_times() -> None:
    """Leap days and the GS05 time lengths are handled."""
    ic = good()
    ic.isa.elements[8] = "240229"
    ic.groups[0].header.elements[4] = "120000"
    assert validate_envelope(reparse(ic)).ok
    for value in ("1200001", "12000012"):
        ic.groups[0].header.elements[4] = value
        assert validate_envelope(reparse(ic)).ok
    ic.groups[0].header.elements[4] = "12000"
    assert [f.location for f in validate_envelope(reparse(ic)).faults] == ["GS05"]
    ic.groups[0].header.elements[4] = "1200"
    ic.groups[0].header.elements[3] = "20240230"
    assert validate_envelope(reparse(ic)).ta1_note == "024"
    ic.groups[0].header.elements[3] = "240116"
    ic.groups[0].header.elements[7] = "003060"  # YYMMDD group dates before 004010
    assert validate_envelope(reparse(ic)).ok


def test_isa11_repetition_separator_in_5010() -> None:
    """5010: a repetition separator that clashes is 016; 'U' is tolerated."""
    ic = good("00501")
    assert validate_envelope(ic).ok
    ic.isa.elements[10] = "U"
    report = validate_envelope(reparse(ic))
    assert report.ok and report.warnings == ["ISA11 'U' in version 00501: no repetition "
                                             "separator declared"]
    text = encode(good("00501")).replace("*^*00501*", "*:*00501*")
    assert validate_envelope(parse(text)[0]).ta1_note == "016"


def test_caller_restrictions() -> None:
    """Supported versions, receivers, functional ids, group versions and sets are optional."""
    ic = good()
    report = validate_envelope(ic, receivers={"GMDSUPPLY"}, versions={"00401"},
                               functional_ids={"PO"}, group_versions={"004010"},
                               set_ids={"850"})
    assert report.ok
    report = validate_envelope(ic, receivers={"OTHER"}, versions={"00501"},
                               functional_ids={"IN"}, group_versions={"005010"},
                               set_ids={"810"})
    assert [f.code for f in report.faults] == ["003", "009"]
    assert report.groups[0].codes == ["1", "2"]
    assert report.groups[0].sets[0].codes == ["1"]


def test_trailer_faults() -> None:
    """IEA, GE and SE counts and control numbers; duplicates."""
    ic = good(sets=2)
    assert ic.trailer is not None and ic.groups[0].trailer is not None
    ic.trailer.elements = ["3", "000000008"]
    ic.groups[0].trailer.elements = ["1", "8"]
    first, second = ic.groups[0].sets
    assert first.trailer is not None
    first.trailer.elements = ["9", "0002"]
    second.header.elements[1] = "0001"
    second.trailer = None
    report = validate_envelope(ic)
    assert [f.code for f in report.faults] == ["024", "021", "001"]
    assert report.ta1_ack_code == "R"
    group = report.groups[0]
    assert group.codes == ["4", "5"] and group.declared_sets == 1 and group.received_sets == 2
    assert [s.codes for s in group.sets] == [["3", "4"], ["23", "2"]]


def test_group_and_set_syntax() -> None:
    """GS06 syntax, duplicate GS06, missing GE, bad ST01 and ST02."""
    ic = good()
    group = ic.groups[0]
    ic.groups.append(build_group("PO", "A", "B", 7, [], when=WHEN))
    ic.groups[1].trailer = None
    ic.trailer = Segment("IEA", ["2", ic.control_number])
    group.sets[0].header.elements[:2] = ["85", "12"]
    assert group.sets[0].trailer is not None
    group.sets[0].trailer.elements[1] = "12"
    report = validate_envelope(ic)
    assert report.groups[0].sets[0].codes == ["6", "7"]
    assert report.groups[1].codes == ["6", "3"]
    assert report.ta1_note == "024"  # the second group is still open at the IEA
    group.header.elements[5] = "ABC"
    group.trailer = Segment("GE", ["1", "ABC"])
    assert validate_envelope(ic).groups[0].codes == ["6"]


def test_stray_segments_and_bad_gs() -> None:
    """Content outside any group, and a GS with too few elements, are 024."""
    ic = good()
    ic.stray_segments.append(Segment("REF", ["ZZ"]))
    report = validate_envelope(ic)
    assert (report.ta1_note, report.faults[0].location) == ("024", "REF")
    ic = good()
    ic.groups[0].header.elements = ic.groups[0].header.elements[:6]
    report = validate_envelope(ic)
    assert report.ta1_note == "024" and report.faults[0].location == "GS"


def test_reject_faults_come_first() -> None:
    """A TA1 reports the first rejecting fault even when an E fault was found before it."""
    ic = good()
    ic.isa.elements[5] = " " * 15   # 006, E
    ic.isa.elements[9] = "9999"     # 015, R
    report = validate_envelope(reparse(ic))
    assert [f.code for f in report.faults] == ["015", "006"]
    assert report.faults[0].rejects and not report.faults[1].rejects


def test_duplicate_interchange_control_numbers() -> None:
    """validate_interchanges flags a repeated ISA13 in one file; a shared set works too."""
    seen: set[str] = set()
    assert validate_envelope(good(), seen_control_numbers=seen).ok
    report = validate_envelope(good(), seen_control_numbers=seen)
    assert report.ta1_note == "025" and report.rejected
