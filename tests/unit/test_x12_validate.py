"""Set validation (protocols/x12/validate.py) and the AK3/AK4/AK5 and IK3/IK4/CTX/IK5 it produces.

Bad inputs are made by editing one segment of a valid corpus set, then the exact validation
result and the exact 997/999 lines are asserted.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest

from protocols.x12 import Interchange, Segment, TransactionSet, parse
from protocols.x12 import hipaa as hipaa_bridge
from protocols.x12.ack import ack_summary, build_ack, choose_ack_kind
from protocols.x12.sets.codes import PRODUCT_ID
from protocols.x12.validate import is_hipaa_version, trailer_codes, validate_set
from protocols.x12.writer import build_group, build_interchange, encode

DATA = Path(__file__).resolve().parent.parent / "data" / "x12"
NOW = datetime(2024, 3, 5, 14, 7)
PO = "850_po_4010_x12types.edi"  # BEG, REF, ITD, 2 DTM, 2 N1 loops, 7 PO1 loops, CTT
REMITTANCE = "835_remittance_5010_pyx12.x12"  # 005010X221A1, CLP 2005555A at position 13

Edit = Callable[[list[Segment], Segment], None]
Brief = tuple[str, list[str], list[tuple[str, int, str, list[tuple]]]]


def load(name: str) -> Interchange:
    """First interchange of a test data file."""
    return parse((DATA / name).read_bytes())[0]


def seg(text: str, like: Segment) -> Segment:
    """A segment from '*'-separated text, with the delimiters of `like`."""
    sid, *elements = text.split("*")
    return Segment(sid, elements, like.delimiters)


def edited(name: str, edit: Edit) -> Interchange:
    """A copy of a corpus interchange with its first set edited and SE01 recounted."""
    ic = copy.deepcopy(load(name))
    ts = ic.groups[0].sets[0]
    edit(ts.segments, ts.header)
    assert ts.trailer is not None
    ts.trailer.elements[0] = str(len(ts.segments) + 2)
    return ic


def brief(ts: TransactionSet, version: str = "004010", lenient: bool = False) -> Brief:
    """(AK501, AK502 codes, [(AK301, AK302, AK304, [(AK401, component, AK403, AK402, AK404)])])."""
    result = validate_set(ts, version, lenient=lenient)
    return result.ack_code, result.codes, [
        (e.segment_id, e.position, e.code,
         [(x.position, x.component, x.code, x.reference, x.value) for x in e.elements])
        for e in result.errors]


def ack_lines(ic: Interchange, prefixes: tuple[str, ...] = ("AK3", "AK4", "AK5"),
              **options: object) -> list[str]:
    """The lines of build_ack(ic) that start with one of `prefixes`."""
    text = build_ack(ic, now=NOW, **options)  # type: ignore[arg-type]
    assert text is not None
    (ack,) = parse(text)
    return [s.text() for s in ack.segments() if s.text()[:3] in prefixes]


# -- valid supply-chain sets -----------------------------------------------------------------

VALID = [  # (file, set id, GS08): every set of the file validates clean against our tables
    ("850_po_4010_x12types.edi", "850", "004010"),
    ("cddl_oopfactory/850_po_pipe_terminator.edi", "850", "004010"),
    ("cddl_oopfactory/855_po_ack_cr_terminator.edi", "855", "004010"),
    ("cddl_oopfactory/855_po_ack_two_sets.edi", "855", "004010"),
    ("cddl_oopfactory/856_asn_tilde_elem_star_terminator.edi", "856", "004010"),
    ("cddl_oopfactory/856_asn_5.edi", "856", "004010VICS"),
    ("cddl_oopfactory/810_invoice_1.edi", "810", "004010"),
    ("edge_810_invoice_b_edinet.edi", "810", "004010"),
    ("cddl_oopfactory/820_remittance_4010.edi", "820", "004010"),
    ("820_remittance_5010_lf_edinet.edi", "820", "005010"),
    ("cddl_oopfactory/832_price_catalog_hibcc_medsurg_1.edi", "832", "004010"),
    ("cddl_oopfactory/846_inventory_inquiry_tilde_elem.edi", "846", "004010"),
    ("cddl_oopfactory/865_po_change_ack.edi", "865", "004010"),
]


@pytest.mark.parametrize(("name", "set_id", "version"), VALID)
def test_valid_supply_chain_sets_validate_clean(name: str, set_id: str, version: str) -> None:
    """A (no AK3, no AK502) from our own definitions, and a 997 saying so."""
    ic = load(name)
    group = ic.groups[0]
    assert group.version == version
    for ts in group.sets:
        assert ts.set_id == set_id
        result = validate_set(ts, version)
        assert (result.validator, result.ack_code, result.codes, result.errors) == (
            "plexus", "A", [], [])
    (ack,) = parse(build_ack(ic, now=NOW) or "")
    assert [s.elements for s in ack.segments() if s.id == "AK5"] == [["A"]] * len(group.sets)


def test_other_versions_use_the_004010_tables_and_say_so() -> None:
    """An 005010 group of a supply-chain set is checked against the 004010 definition."""
    ts = load("820_remittance_5010_lf_edinet.edi").groups[0].sets[0]
    result = validate_set(ts, "005010")
    assert result.ack_code == "A"
    assert "validated against the 004010 definition of 820 (group version '005010')" in (
        result.notes)


def test_open_code_lists_only_note_unknown_codes() -> None:
    """DTM01 106 is not in our (open) 374 list: accepted, with a note."""
    ts = load("850_po_4010_small_nodex12.edi").groups[0].sets[0]
    result = validate_set(ts, "004010")
    assert result.ack_code == "A"
    assert "DTM01 '106' is not a listed 374 date/time qualifier code (accepted)" in result.notes


# -- targeted errors in an 850 ---------------------------------------------------------------

def _insert(index: int, text: str) -> Edit:
    """Insert a segment before segments[index]."""
    return lambda segments, st: segments.insert(index, seg(text, st))


def _set(index: int, position: int, value: str) -> Edit:
    """Set element `position` of segments[index]."""
    def edit(segments: list[Segment], st: Segment) -> None:
        segments[index].elements[position - 1] = value
    return edit


def _move(source: int, target: int) -> Edit:
    """Move segments[source] to index `target`."""
    return lambda segments, st: segments.insert(target, segments.pop(source))


def _repeat(index: int, times: int) -> Edit:
    """Repeat segments[index] `times` more times."""
    def edit(segments: list[Segment], st: Segment) -> None:
        for _ in range(times):
            segments.insert(index, copy.deepcopy(segments[index]))
    return edit


PO_ERRORS = [
    # mandatory BEG missing: reported at the segment that revealed it (REF, now position 2)
    ("mandatory segment missing", lambda s, st: s.pop(0), [("BEG", 2, "3", [])],
     ["AK3*BEG*2**3"]),
    ("unknown segment id", _insert(1, "ZZZ*1"), [("ZZZ", 3, "1", [])], ["AK3*ZZZ*3**1"]),
    ("X12 segment not in the 850", _insert(1, "CLM*1"), [("CLM", 3, "6", [])],
     ["AK3*CLM*3**6"]),
    ("850 segment that belongs elsewhere", _insert(1, "SLN*1**I"), [("SLN", 3, "2", [])],
     ["AK3*SLN*3**2"]),
    ("segment out of order", _move(1, 4), [("REF", 6, "7", [])], ["AK3*REF*6**7"]),
    ("segment over its maximum use", _repeat(3, 9), [("DTM", 15, "5", [])],
     ["AK3*DTM*15**5"]),
    ("loop over its maximum repeat", _insert(33, "CTT*7"), [("CTT", 35, "4", [])],
     ["AK3*CTT*35**4"]),
    ("too-long element", _set(0, 3, "PO-" + "9" * 20),
     [("BEG", 2, "8", [(3, None, "5", "324", "PO-" + "9" * 20)])],
     ["AK3*BEG*2**8", "AK4*3*324*5*PO-" + "9" * 20]),
    ("bad product id qualifier", _set(11, 6, "XX"),
     [("PO1", 13, "8", [(6, None, "7", "235", "XX")])], ["AK3*PO1*13**8", "AK4*6*235*7*XX"]),
    ("mandatory element missing", _set(0, 1, ""), [("BEG", 2, "8", [(1, None, "1", "353", "")])],
     ["AK3*BEG*2**8", "AK4*1*353*1"]),
    ("invalid date", _set(0, 5, "19970231"),
     [("BEG", 2, "8", [(5, None, "8", "373", "19970231")])],
     ["AK3*BEG*2**8", "AK4*5*373*8*19970231"]),
    ("paired elements (P0607)", _set(11, 7, ""),
     [("PO1", 13, "8", [(7, None, "2", "234", "")])], ["AK3*PO1*13**8", "AK4*7*234*2"]),
    ("too many elements", _insert(1, "REF*DP*038*X**Z"),
     [("REF", 3, "8", [(5, None, "3", "", "Z")])], ["AK3*REF*3**8", "AK4*5**3*Z"]),
]


@pytest.mark.parametrize(("what", "edit", "errors", "lines"), PO_ERRORS,
                         ids=[case[0] for case in PO_ERRORS])
def test_850_errors(what: str, edit: Edit, errors: list, lines: list[str]) -> None:
    """Exactly one AK3 (with its AK4s), AK5 R 5; E when lenient."""
    ic = edited(PO, edit)
    ts = ic.groups[0].sets[0]
    assert brief(ts) == ("R", ["5"], errors)
    assert brief(ts, lenient=True) == ("E", ["5"], errors)
    assert ack_lines(ic) == [*lines, "AK5*R*5"]
    assert ack_lines(ic, lenient=True) == [*lines, "AK5*E*5"]
    assert ack_lines(ic, ("AK9",), lenient=True) == ["AK9*E*1*1*1"]


def test_known_product_id_qualifiers() -> None:
    """The qualifiers the issue names are accepted; 235 is a closed list."""
    assert PRODUCT_ID.closed
    for code in ("UP", "UK", "EN", "VN", "VP", "VC", "IN", "BP", "CB", "HI", "N4", "MG", "SK"):
        assert code in PRODUCT_ID
    assert PRODUCT_ID.describe("HI").startswith("HIBCC")
    ic = edited(PO, _set(11, 6, "HI"))
    assert brief(ic.groups[0].sets[0]) == ("A", [], [])


def test_set_without_se_skips_the_end_checks() -> None:
    """No SE: AK5 2 from the trailer check, no AK304 3 for an end we never saw."""
    ic = copy.deepcopy(load(PO))
    ts = ic.groups[0].sets[0]
    ts.trailer = None
    del ts.segments[-1]  # CTT gone too: optional, but nothing is reported missing after it
    assert trailer_codes(ts) == ["2"]
    assert brief(ts) == ("R", ["2"], [])


def test_trailer_codes_without_an_envelope_report() -> None:
    """SE01 wrong -> 4, SE02 wrong -> 3, ST02 too short -> 7."""
    ic = copy.deepcopy(load(PO))
    ts = ic.groups[0].sets[0]
    assert ts.trailer is not None
    ts.trailer.elements = ["99", "X"]
    ts.header.elements[1] = "12"
    assert trailer_codes(ts) == ["7", "3", "4"]
    assert brief(ts) == ("R", ["3", "4", "7"], [])


def test_856_hierarchy_check() -> None:
    """An HL whose parent comes later is AK403 7 on HL02 (856 set check)."""
    name = "cddl_oopfactory/856_asn_tilde_elem_star_terminator.edi"
    ts0 = load(name).groups[0].sets[0]
    second = [i for i, s in enumerate(ts0.segments) if s.id == "HL"][1]
    ic = edited(name, _set(second, 2, "9"))
    assert brief(ic.groups[0].sets[0]) == (
        "R", ["5"], [("HL", second + 2, "8", [(2, None, "7", "", "9")])])


def test_unsupported_set() -> None:
    """A set we have no definition (and pyx12 no map) for: AK5 R 1, no AK3."""
    ic = load("824_application_advice_5010_x12types.edi")
    result = validate_set(ic.groups[0].sets[0], ic.groups[0].version)
    assert (result.validator, result.ack_code, result.codes, result.errors) == (
        "none", "R", ["1"], [])
    assert ack_lines(ic, ("IK5", "AK5")) == ["AK5*R*1"]  # 005010 without X...: a 997


# -- HIPAA sets: pyx12 maps and the 999 ------------------------------------------------------

def test_hipaa_version_rules() -> None:
    """HIPAA guides are 00x0x0 + X...; 999 only from 005010 on."""
    assert is_hipaa_version("005010X221A1") and is_hipaa_version("004010X098A1")
    assert not is_hipaa_version("004010") and not is_hipaa_version("004010VICS")
    kinds = {g.version: choose_ack_kind(g) for name in (REMITTANCE, PO,
             "pyx12_validation/835id.x12") for g in load(name).groups}
    assert kinds == {"005010X221A1": "999", "004010": "997", "004010X091A1": "997"}
    assert hipaa_bridge.resolve_version("837", "005010X222") == "005010X222A1"
    assert hipaa_bridge.resolve_version("837", "005010X223") == "005010X223A2"
    assert hipaa_bridge.resolve_version("271", "005010X279A1") is None  # no pyx12 map


def test_999_with_ik3_ik4_and_ctx() -> None:
    """CLP02 99 is no claim status code: IK3 + CTX CLP01 + IK4 7; IK5 R 5; AK9 R."""
    ic = edited(REMITTANCE, _set(11, 2, "99"))
    ts = ic.groups[0].sets[0]
    result = validate_set(ts, ic.groups[0].version)
    assert result.validator == "pyx12"
    assert [(e.segment_id, e.position, e.code, e.context) for e in result.errors] == [
        ("CLP", 13, "8", [("CLP01", "2005555A")])]
    assert ack_lines(ic, ("ST*", "AK1", "AK2", "IK3", "CTX", "IK4", "IK5", "AK9")) == [
        "ST*999*0001*005010X231A1", "AK1*HP*383880001*005010X221A1", "AK2*835*0001",
        "IK3*CLP*13**8", "CTX*CLP01:2005555A", "IK4*2*1029*7*99", "IK5*R*5", "AK9*R*1*1*0"]


def test_999_missing_segment_and_997_for_the_same_error() -> None:
    """A missing mandatory TRN: IK3*TRN*3**3 in a 999; forced to 997 it is AK3*TRN*3**3."""
    ic = edited(REMITTANCE, lambda s, st: s.pop(1))
    assert ack_lines(ic, ("IK3", "IK5")) == ["IK3*TRN*3**3", "IK5*R*5"]
    assert ack_lines(ic, kind="997") == ["AK3*TRN*3**3", "AK5*R*5"]


def test_st03_guide_takes_precedence_over_gs08() -> None:
    """5010: ST03 names the guide; a GS08 pyx12 has no map for does not matter then."""
    ic = copy.deepcopy(load("837p_5010_x12types.edi"))
    ts = ic.groups[0].sets[0]
    assert (ic.groups[0].version, ts.header.element(3)) == ("005010X222A1", "005010X222")
    result = validate_set(ts, "005010X299")
    assert (result.validator, result.ack_code) == ("pyx12", "A")
    assert result.notes == [
        "validated with pyx12's 005010X222A1 map (group version '005010X299')"]


def test_map_loading_does_not_deadlock() -> None:
    """Loading a map before anything else touched pyx12 must not wait on its own lock."""
    saved_state, saved_maps = dict(hipaa_bridge._state), dict(hipaa_bridge._maps)
    hipaa_bridge._state.clear()
    hipaa_bridge._maps.pop("x12.control.00401.xml", None)
    try:
        worker = threading.Thread(target=hipaa_bridge._load, args=("x12.control.00401.xml",),
                                  daemon=True)
        worker.start()
        worker.join(60)
        assert not worker.is_alive()
        assert "x12.control.00401.xml" in hipaa_bridge._maps
    finally:
        hipaa_bridge._state.update(saved_state)
        hipaa_bridge._maps.update(saved_maps)


# -- what gets acknowledged ------------------------------------------------------------------

@pytest.mark.parametrize("name", ["999_accept_5010_pyx12.x12", "999_multiple_5010_pyx12.x12",
                                  "authored/997_ack_for_850_partial_authored.edi",
                                  "pyx12_validation/simple1.expected_997.x12"])
def test_acknowledgments_are_never_acknowledged(name: str) -> None:
    """An interchange of only 997/999 groups: no ack, every group skipped."""
    for ic in parse((DATA / name).read_bytes()):
        summary = ack_summary(ic)
        assert (summary.groups, summary.needs_ack) == ([], False)
        assert [g.functional_id for g in summary.skipped] == ["FA"] * len(ic.groups)
        assert build_ack(ic, now=NOW) is None


def mixed() -> Interchange:
    """One interchange: an 850 group (004010), an 835 group (005010X221A1), an FA group."""
    po, remit = load(PO), load(REMITTANCE)
    fa = load("999_accept_5010_pyx12.x12").groups[0]
    d = remit.delimiters
    groups = [build_group("PO", "SENDERGS", "007326879", 7, po.groups[0].sets, when=NOW,
                          delimiters=d),
              build_group("HP", "D00111", "00GR", 8, remit.groups[0].sets, when=NOW,
                          version="005010X221A1", delimiters=d),
              build_group("FA", "D00111", "00GR", 9, fa.sets, when=NOW,
                          version="005010X231", delimiters=d)]
    ic = build_interchange(("ZZ", "D00000"), ("ZZ", "00AA"), groups, 55, when=NOW,
                           version="00501", delimiters=d)
    return parse(encode(ic))[0]


def test_mixed_versions_get_one_fa_group_of_each_kind() -> None:
    """004010 group -> 997 in a GS08 004010 FA group; 005010X group -> 999; FA group skipped."""
    summary = ack_summary(mixed())
    assert [(o.group.functional_id, o.kind) for o in summary.groups] == [
        ("PO", "997"), ("HP", "999")]
    assert [g.functional_id for g in summary.skipped] == ["FA"]
    ack = parse(build_ack(mixed(), now=NOW, group_number=40) or "")[0]
    assert [(g.header.element(6), g.header.element(8), [ts.header.elements for ts in g.sets])
            for g in ack.groups] == [
        ("40", "004010", [["997", "0001"]]),
        ("41", "005010X231A1", [["999", "0002", "005010X231A1"]])]
    assert [s.text() for s in ack.groups[0].sets[0].segments] == [
        "AK1*PO*7", "AK2*850*000000001", "AK5*A", "AK9*A*1*1*1"]
    assert [s.text() for s in ack.groups[1].sets[0].segments] == [
        "AK1*HP*8*005010X221A1", "AK2*835*0001", "IK5*A", "AK9*A*1*1*1"]
    assert (ack.version, ack.sender_id, ack.receiver_id) == ("00501", "00AA", "D00000")


def test_forced_kind_puts_every_group_in_one_fa_group() -> None:
    """kind="999" answers the 004010 group with a 999 too (a partner setting)."""
    ack = parse(build_ack(mixed(), "999", now=NOW) or "")[0]
    assert len(ack.groups) == 1
    assert [ts.header.element(1) for ts in ack.groups[0].sets] == ["999", "999"]
    assert ack.groups[0].sets[0].segments[0].text() == "AK1*PO*7*004010"
