"""Every X12 file of tests/data/x12 through ack_summary and build_ack: what each set gets.

Parsing, round trips and envelope (TA1/AK9/AK5 envelope) codes of every file are covered by
test_x12_reader.py, test_x12_writer.py and test_x12_envelope.py; this file covers the answer:
the 997/999 decision of every set of every file (with the reason when it is not A), that no file
makes ack_summary or build_ack raise, that every ack we write has a clean envelope and is never
acknowledged itself, and the exact answer (TA1 + AK lines) to the malformed_* files.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from protocols.x12 import Interchange, parse
from protocols.x12.ack import AckSummary, ack_summary, build_ack
from protocols.x12.envelope import validate_envelope
from protocols.x12.ta1 import build_ta1_for_report, is_acknowledgment, needs_ta1

DATA = Path(__file__).resolve().parent.parent / "data" / "x12"
ALL_FILES = sorted(p.relative_to(DATA).as_posix() for p in DATA.rglob("*")
                   if p.suffix in (".edi", ".x12"))
NOW = datetime(2024, 3, 5, 14, 7)
# Our ack echoes the sender's ISA05/06 as its receiver: a bad inbound qualifier stays bad.
ECHOED_FAULTS = {"cddl_oopfactory/820_remittance_4010.edi": ["005"]}  # inbound ISA05 "XX"

# Acknowledgments only (TA1s, 997s, 999s): nothing to acknowledge.
ACKNOWLEDGMENTS = {
    "999_accept_5010_pyx12.x12", "999_multiple_5010_pyx12.x12",
    "authored/997_ack_for_850_partial_authored.edi", "authored/ta1_reject_authored.edi",
    "cddl_oopfactory/999_implementation_ack_5010.edi", "cddl_oopfactory/ta1_interchange_ack_1.edi",
    "cddl_oopfactory/ta1_interchange_ack_gt_elem.edi",
    *(name for name in ALL_FILES if ".expected_99" in name)}

Sets = list[tuple[str, list[str], list[str]]]  # (AK501, AK502 codes, AK304 codes)
Groups = list[tuple[str, str, list[str], Sets]]  # (997|999, AK901, AK905 codes, sets)
R5 = ("R", ["5"])
# File -> per interchange, per acknowledged group. Files not listed (and not acknowledgments):
# every group 997/999 A and every set A.
EXPECTED: dict[str, list[Groups]] = {
    # no pyx12 map for 270/271 5010 (pyx12 ships 4010 only) and no definition of our own
    "271_single_line_no_newlines_edinet.edi": [[("999", "R", [], [("R", ["1"], [])])]],
    "cddl_oopfactory/edge_270_gs_0x1d_terminator.edi": [[("999", "R", [], [("R", ["1"], [])])]],
    # sets we do not define: 824, 852; GS08 "5010" is no HIPAA guide, so the 835 has no map
    "824_application_advice_5010_x12types.edi": [[("997", "R", [], [("R", ["1"], [])])]],
    "cddl_oopfactory/852_product_activity_caret_terminator.edi": [
        [("997", "R", [], [("R", ["1"], [])])]],
    "cddl_oopfactory/835_remittance_5010_example.edi": [[("997", "R", [], [("R", ["1"], [])])]],
    # ISA11 '-' is the repetition separator: REF02 999999-001 and N403 31139-0020 repeat (AK4 3)
    "856_asn_4060_nodex12.edi": [[("997", "R", [], [(*R5, ["8"])])]],
    # 5010 repetition '^' in N102 (does not repeat) and ':' (component) in an AN PO107
    "authored/edge_850_repetition_and_release_chars_5010_authored.edi": [
        [("997", "R", [], [(*R5, ["8"])])]],
    # SE01 says 6, the set holds 5 segments
    "authored/malformed_850_isa_too_short_authored.edi": [[("997", "R", [], [("R", ["4"], [])])]],
    # no SE (AK5 2) and no GE (AK9 3)
    "authored/malformed_850_missing_se_ge_authored.edi": [
        [("997", "R", ["3"], [("R", ["2"], [])])]],
    # ISS before TDS (004010 810 summary order is TDS, TXI, CAD, AMT, SAC, ISS, CTT):
    # TDS reported missing where ISS revealed it (3), then TDS and CAD out of sequence (7)
    "cddl_oopfactory/810_invoice_cr_terminator_short_isa.edi": [
        [("997", "R", [], [(*R5, ["3", "7"])])]],
    "cddl_oopfactory/810_invoice_multi_4030.edi": [
        [("997", "R", [], [(*R5, ["3", "7"]), (*R5, ["3", "7"])])]],
    # a template: BPR02 "TOTAL DOLLAR AMT OF CHECK", DTM02 "CCYYMMDD"...; GS06 not a number
    "cddl_oopfactory/820_remittance_4060.edi": [[("997", "R", ["4", "6"], [(*R5, ["8"])])]],
    # ISA16 '^' = ISA11: the ':' in CLM05 is data; the 837I is validated with the X223A2 map
    # (ST03 005010X223 takes precedence over GS08 005010X222)
    "cddl_oopfactory/837i_5010_tr3_example.edi": [[("999", "R", [], [(*R5, ["1", "3", "8"])])]],
    # 003060: BSN02 missing, TD101/CLD03 " BIN52" longer than 5
    "cddl_oopfactory/856_asn_2.edi": [[("997", "R", [], [(*R5, ["8"])])]],
    # N402 LOCSTATE too long; HL*2**O and later HLs have no parent (HL02, AK403 2)
    "cddl_oopfactory/856_asn_4.edi": [[("997", "R", [], [(*R5, ["8"])])]],
    # the N1 lost its terminator (N1 swallows N3) and SE01 counts it; BCH06 "PO DATE"
    "cddl_oopfactory/860_po_change_malformed_isa.edi": [
        [("997", "R", [], [("R", ["4", "5"], ["8"])])]],
    # truncated UTF-16 file: no SE (2), no GE (3); NM1 of the submitter cut short
    "cddl_oopfactory/edge_837p_utf16le.edi": [[("999", "R", ["3"], [("R", ["2", "5"], ["8"])])]],
    # BHT01 9999 and placeholder data: pyx12 cannot place the header segments (1), ...
    "cddl_oopfactory/malformed_837p_missing_entity_code.edi": [
        [("999", "R", [], [(*R5, ["1", "3", "8"])])]],
    # SE01 off by one
    "edge_832_price_catalog_indented_edinet.edi": [[("997", "R", [], [("R", ["4"], [])])]],
    # INS06-1 "C   ": too long, trailing blanks, not a code (pyx12, 834 map)
    "edge_834_backslash_component_sep_pyx12.x12": [[("999", "R", [], [(*R5, ["8"])])]],
    # N402 "State" (ID 2/2)
    "edge_850_po_a_edinet.edi": [[("997", "R", [], [(*R5, ["8"])])]],
    # ISA16 '~' with LF terminators: every last element ends in a '~' (delimiter in data)
    "edge_850_tilde_component_sep_edinet.edi": [
        [("997", "R", ["4"], [(*R5, ["8"]), ("R", ["5", "23"], ["8"])])]],
    # BAL is an X12 segment but not an 850 one (6); BEG and PO1 never came (3)
    "malformed_850_bal_custom_segments_edinet.edi": [
        [("997", "R", [], [("R", ["4", "5"], ["3", "6"])])]],
    # AA/BB are no X12 segments (1); BEG and PO1 never came (3)
    "malformed_850_nonstandard_segments_aa_bb_edinet.edi": [
        [("997", "R", [], [("R", ["4", "5"], ["1", "3"])])]],
    # the pyx12 cases: test_x12_ack_oracle.py compares their whole acks
    "pyx12_validation/834_eol_in_element.x12": [[("999", "R", [], [(*R5, ["8"])])]],
    "pyx12_validation/837miss.x12": [[("997", "R", ["3"], [("R", ["2"], [])])]],
    "pyx12_validation/bad_header_looping.x12": [
        [("997", "R", [], [("R", ["4", "5"], ["1", "8"])])]],
    "pyx12_validation/blank1.x12": [[("997", "R", [], [(*R5, ["8"])])]],
    "pyx12_validation/ele.x12": [[("997", "R", [], [("R", ["3", "7"], [])])]],
    "pyx12_validation/elements.x12": [[("997", "R", [], [("R", ["4", "5"], ["8"])])]],
    "pyx12_validation/fail_no_iea.x12": [[("997", "R", [], [("R", ["4", "5"], ["3"])])]],
    "pyx12_validation/mult_isa.x12": [
        [("997", "R", [], [(*R5, ["3"])] * 3), *[("997", "R", [], [(*R5, ["3"])])] * 4],
        [("997", "R", [], [(*R5, ["3"])] * 3), *[("997", "R", [], [(*R5, ["3"])])] * 2]],
    "pyx12_validation/multiple_trn.x12": [
        [("997", "R", [], [(*R5, ["3"])] * 3), *[("997", "R", [], [(*R5, ["3"])])] * 2]],
    "pyx12_validation/per_segment_repeat.x12": [[("997", "R", [], [(*R5, ["5"])])]],
    "pyx12_validation/simple1.x12": [[("997", "R", [], [(*R5, ["3"])])]],
    "pyx12_validation/trailer_errors.x12": [
        [("997", "R", ["4"], [("R", ["4"], []), ("A", [], [])])]],
    "pyx12_validation/trailing_terms.x12": [[("997", "R", [], [(*R5, ["8"])])]],
}


def load(name: str) -> list[Interchange]:
    """Parsed test data file."""
    return parse((DATA / name).read_bytes())


def summarise(summary: AckSummary) -> Groups:
    """(kind, AK901, AK905 codes, [(AK501, AK502 codes, AK304 codes)]) per group."""
    return [(g.kind, g.ack_code, g.codes,
             [(r.ack_code, r.codes, sorted({e.code for e in r.errors})) for r in g.sets])
            for g in summary.groups]


def test_the_corpus_is_there() -> None:
    """The copy holds 96 X12 files and every expectation names one of them."""
    assert len(ALL_FILES) == 96
    assert set(EXPECTED) <= set(ALL_FILES) and ACKNOWLEDGMENTS <= set(ALL_FILES)
    assert not set(EXPECTED) & ACKNOWLEDGMENTS


@pytest.mark.parametrize("name", ALL_FILES)
def test_every_set_gets_its_decision(name: str) -> None:
    """ack_summary never raises; each group and set gets exactly the listed decision."""
    interchanges = load(name)
    got = [summarise(ack_summary(ic)) for ic in interchanges]
    if name in ACKNOWLEDGMENTS:
        assert got == [[] for _ in interchanges]
    elif name in EXPECTED:
        assert got == EXPECTED[name]
    else:
        assert got and all(groups for groups in got)
        for groups in got:
            for _kind, ak901, ak905, sets in groups:
                assert (ak901, ak905) == ("A", [])
                assert sets and all(s == ("A", [], []) for s in sets)


@pytest.mark.parametrize("name", ALL_FILES)
def test_every_ack_is_clean_and_never_acknowledged(name: str) -> None:
    """build_ack never raises; its answer has a clean envelope (GS04 YYMMDD for a 003060
    group), one ST per group, one AK2 per set, AK9 counts that add up, and is itself an
    acknowledgment nobody answers."""
    for ic in load(name):
        summary = ack_summary(ic)
        text = build_ack(ic, summary=summary, now=NOW)
        if not summary.groups:
            assert text is None
            continue
        assert text is not None
        (ack,) = parse(text)
        report = validate_envelope(ack)
        assert [f.code for f in report.faults] == ECHOED_FAULTS.get(name, [])
        assert not any(g.faults or any(s.faults for s in g.sets) for g in report.groups)
        assert is_acknowledgment(ack) and ack_summary(ack).groups == []
        assert build_ack(ack, now=NOW) is None
        sets = [ts for g in ack.groups for ts in g.sets]
        assert len(sets) == len(summary.groups)
        for ts, outcome in zip(sets, summary.groups, strict=True):
            ids = [s.id for s in ts.segments]
            assert ts.set_id == outcome.kind and ids[0] == "AK1" and ids[-1] == "AK9"
            assert ids.count("AK2") == len(outcome.sets)
            ak9 = ts.segments[-1].elements
            assert ak9[:4] == [outcome.ack_code, str(outcome.report.declared_sets or 0),
                               str(len(outcome.sets)), str(outcome.accepted_count)]


MALFORMED = {  # file -> (TA104 + TA105 when a TA1 is due, the AK lines of the 997)
    "malformed_850_bal_custom_segments_edinet.edi": (
        ["R", "022"],
        ["AK1*PO*2", "AK2*850*0001", "AK3*BAL*2**6", "AK3*BAL*3**6", "AK3*BAL*4**6",
         "AK3*BAL*5**6", "AK3*BEG*6**3", "AK3*PO1*6**3", "AK5*R*4*5", "AK9*R*1*1*0"]),
    "malformed_850_nonstandard_segments_aa_bb_edinet.edi": (
        ["R", "022"],
        ["AK1*PO*2", "AK2*850*0001", *[f"AK3*{sid}*{n}**1" for n, sid in
                                        enumerate(["AA", "BB"] * 4, 2)],
         "AK3*BEG*10**3", "AK3*PO1*10**3", "AK5*R*4*5", "AK9*R*1*1*0"]),
    "authored/malformed_850_isa_too_short_authored.edi": (
        ["R", "022"], ["AK1*PO*1", "AK2*850*0001", "AK5*R*4", "AK9*R*1*1*0"]),
    "authored/malformed_850_missing_se_ge_authored.edi": (
        ["R", "024"], ["AK1*PO*501", "AK2*850*0001", "AK5*R*2", "AK9*R*0*1*0*3"]),
    "cddl_oopfactory/malformed_837p_missing_entity_code.edi": (
        None,
        ["AK1*HC*1*005010X222A1", "AK2*837*0001*005010X222A1", "IK3*BHT*2**1", "IK3*NM1*3**1",
         "IK3*PER*4**1", "IK3*NM1*5**1", "IK3*BHT*6**3", "IK3*CLM*20**8", "CTX*CLM01>9999",
         "IK4*5>2*1332*7*X"]),
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_files_get_the_right_answer(name: str) -> None:
    """The TA1 (when due) and the AK/IK lines of the answer, exactly (837P: the first ten)."""
    ta1, lines = MALFORMED[name]
    (ic,) = load(name)
    report = validate_envelope(ic)
    if ta1 is None:
        assert not needs_ta1(report)
    else:
        assert needs_ta1(report)
        answer = parse(build_ta1_for_report(report, 1, NOW))[0]
        assert answer.ta1_segments[0].elements[3:] == ta1
    (ack,) = parse(build_ack(ic, now=NOW) or "")
    got = [s.text() for s in ack.segments() if s.id[:2] in ("AK", "IK", "CT")]
    assert got[:len(lines)] == lines
