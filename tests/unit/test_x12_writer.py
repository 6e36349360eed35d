"""X12 writer: round trips of the corpus, delimiter translation and refusal, builders."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from protocols.x12 import Delimiters, Interchange, Segment, parse
from protocols.x12.envelope import validate_envelope
from protocols.x12.writer import (
    build_group,
    build_interchange,
    build_transaction_set,
    encode,
    encode_segment,
    fix_counts,
    make_segment,
)

DATA = Path(__file__).resolve().parent.parent / "data" / "x12"
ALL_FILES = sorted(p.relative_to(DATA).as_posix() for p in DATA.rglob("*")
                   if p.suffix in (".edi", ".x12"))
WHEN = datetime(2024, 1, 16, 12, 5)
PUNCTUATION = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"


def load(name: str) -> list[Interchange]:
    """Parsed test data file."""
    return parse((DATA / name).read_bytes())


def isa_normal(ic: Interchange) -> list[str]:
    """ISA values as the writer pads them (rstrip, ISA13 zero-filled), without ISA11/ISA16."""
    values = [v.rstrip() for v in ic.isa.elements]
    values[12] = values[12].zfill(9) if values[12].isdigit() else values[12]
    return values[:10] + values[11:15]


def structure(seg: Segment) -> list[list[list[str]]]:
    """Elements as repetitions of components, independent of the delimiters used."""
    comp = seg.delimiters.component
    return [[r.split(comp) for r in seg.repetitions(n)] for n in range(1, len(seg.elements) + 1)]


def same_content(a: Interchange, b: Interchange) -> None:
    """Everything but the ISA padding is identical."""
    assert isa_normal(a) == isa_normal(b)
    assert a.groups == b.groups
    assert a.trailer == b.trailer
    assert a.ta1_segments == b.ta1_segments
    assert a.stray_segments == b.stray_segments


def sample(version: str = "00401", delimiters: Delimiters | None = None) -> Interchange:
    """A small 850 built with the builder API."""
    d = delimiters or Delimiters(repetition=None if version < "00402" else "^")
    body = [make_segment("BEG", "00", "SA", "PO-1", None, "20240116", delimiters=d),
            make_segment("PO1", "1", "10", "EA", "4.25", None, "VC", ["GMD", "1"], delimiters=d),
            make_segment("CTT", "1", delimiters=d)]
    ts = build_transaction_set("850", 1, body, delimiters=d)
    group = build_group("PO", "GOODHEALTH", "GMDSUPPLY", 501, [ts], when=WHEN, delimiters=d)
    return build_interchange(("ZZ", "GOODHEALTH"), ("ZZ", "GMDSUPPLY"), [group], 501,
                             when=WHEN, version=version, delimiters=d)


@pytest.mark.parametrize("name", ALL_FILES)
def test_corpus_round_trip(name: str) -> None:
    """parse -> encode -> parse gives the same segments; the ISA comes out 106 wide."""
    first = load(name)
    text = encode(first)
    again = parse(text)
    assert len(again) == len(first)
    for a, b in zip(first, again, strict=True):
        same_content(a, b)
        assert len(b.raw_isa) == 105
        assert text[text.index(b.raw_isa) + 105] == b.delimiters.terminator
        assert b.delimiters.element == a.delimiters.element
        assert b.delimiters.component == a.delimiters.component
        assert b.delimiters.terminator == a.delimiters.terminator
        if a.isa.element(11) != a.isa.element(16):
            assert b.isa.element(11) == a.isa.element(11)
        else:  # 837i: ISA11 '^' clashed with ISA16 '^'; written as U, no repetition
            assert b.isa.element(11) == "U"
    assert encode(again) == text  # a second round trip is byte-identical


@pytest.mark.parametrize("name", ALL_FILES)
def test_corpus_reencode_with_other_delimiters(name: str) -> None:
    """Any file can be rewritten with delimiters its data does not use; structure survives."""
    text = (DATA / name).read_bytes().decode("utf-8", "replace")
    free = [c for c in PUNCTUATION if c not in text]
    target = Delimiters(free[0], free[1], free[2], free[3], "\r\n")
    first = load(name)
    again = parse(encode(first, target))
    for a, b in zip(first, again, strict=True):
        assert isa_normal(a) == isa_normal(b)
        assert (b.delimiters.element, b.delimiters.component, b.delimiters.terminator) == \
            (target.element, target.component, target.terminator)
        pairs = list(zip(a.segments(), b.segments(), strict=True))
        for x, y in pairs[1:]:
            assert x.id == y.id
            assert structure(x) == structure(y)


def test_encode_same_delimiters_keeps_text() -> None:
    """With its own delimiters and suffix, a clean file is written back byte for byte."""
    for name in ("850_po_4010_x12types.edi", "271_single_line_no_newlines_edinet.edi",
                 "850_po_lf_terminator_nodex12.edi", "pyx12_validation/trailer_errors.x12"):
        raw = (DATA / name).read_text(encoding="utf-8").lstrip("\ufeff")
        out = encode(load(name))
        assert out.rstrip("\n") == raw.rstrip("\n")


def test_suffix_and_several_interchanges() -> None:
    """The suffix follows every terminator; a list of interchanges is written in order."""
    ic = sample()
    text = encode([ic, ic], Delimiters("*", ":", None, "~", "\r\n"))
    lines = text.split("\r\n")
    assert lines[-1] == "" and all(line.endswith("~") for line in lines[:-1])
    assert len(lines) == 2 * 9 + 1
    assert len(lines[0]) == 106
    assert parse(text)[1] == ic
    assert encode(ic) == encode([ic])


def test_component_translation() -> None:
    """Composite values are rewritten with the new component separator."""
    ic = sample()
    text = encode(ic, Delimiters("|", "\\", None, "!", "\n"))
    assert "PO1|1|10|EA|4.25||VC|GMD\\1!" in text
    po1 = parse(text)[0].groups[0].sets[0].segments[1]
    assert po1.components(7) == ["GMD", "1"]


@pytest.mark.parametrize(("value", "target"), [
    ("A*B", Delimiters()),                          # element separator in data
    ("A~B", Delimiters()),                          # terminator in data
    ("A>B", Delimiters("*", ">", None, "~")),       # new component separator is data here
    ("A^B", Delimiters("*", "|", "^", "~")),        # new repetition separator is data here
])
def test_refuses_values_holding_a_delimiter(value: str, target: Delimiters) -> None:
    """X12 has no escape character: a value holding a delimiter of the set is refused."""
    seg = Segment("REF", ["ZZ", value], Delimiters("*", ":", None, "~"))
    with pytest.raises(ValueError, match="REF02"):
        encode_segment(seg, target)


def test_refuses_repetition_without_separator() -> None:
    """A repeated element cannot be written with a set that has no repetition separator."""
    seg = Segment("N1", ["ST", "A^B"], Delimiters())
    with pytest.raises(ValueError, match="repetition"):
        encode_segment(seg, Delimiters("*", ":", None, "~"))
    assert encode_segment(seg, Delimiters("*", ":", "{", "~")) == "N1*ST*A{B"


@pytest.mark.parametrize("seg_id", ["", " N1", "N*1", "N1~"])
def test_refuses_bad_segment_ids(seg_id: str) -> None:
    """Segment ids must be non-empty, unpadded and free of delimiters."""
    with pytest.raises(ValueError, match="segment id"):
        encode_segment(Segment(seg_id, ["X"]), Delimiters())


@pytest.mark.parametrize("bad", [
    Delimiters("*", "*", None, "~"), Delimiters("A", ":", None, "~"),
    Delimiters("*", ":", "~", "~"), Delimiters("*", " ", None, "~"),
    Delimiters("*", ":", None, " "), Delimiters("\t", ":", None, "~"),
])
def test_refuses_unusable_delimiter_sets(bad: Delimiters) -> None:
    """Delimiters must be distinct and detectable by a reader."""
    with pytest.raises(ValueError, match="delimiters"):
        encode(sample(), bad)


def test_isa_fields_are_padded_and_checked() -> None:
    """Short ISA fields are padded (ISA13 zero-filled); too long ones or delimiters refused."""
    ic = load("authored/malformed_850_isa_too_short_authored.edi")[0]
    again = parse(encode(ic))[0]
    assert len(again.raw_isa) == 105
    assert again.isa.element(6) == "GMD            " and again.control_number == "000000001"
    assert "022" not in [f.code for f in validate_envelope(again).faults]
    ic.isa.elements[5] = "X" * 16
    with pytest.raises(ValueError, match="ISA06"):
        encode(ic)
    ic.isa.elements[5] = "A*B"
    with pytest.raises(ValueError, match="ISA06"):
        encode(ic)


def test_isa11_follows_version_and_delimiters() -> None:
    """5010 writes the repetition separator in ISA11; 4010 keeps its standards id."""
    assert sample("00501").isa.element(11) == "^"
    assert sample("00401").isa.element(11) == "U"
    text = encode(sample("00501"), Delimiters("*", ":", "!", "~"))
    assert parse(text)[0].isa.element(11) == "!"
    text = encode(sample("00401"), Delimiters("*", ":", "!", "~"))
    assert parse(text)[0].isa.element(11) == "U"
    text = encode(sample("00501"), Delimiters("*", ":", None, "~"))
    assert parse(text)[0].isa.element(11) == "U"


def test_builders_compute_counts() -> None:
    """The builder writes SE01/GE01/IEA01 and matching control numbers; the envelope is clean."""
    ic = sample()
    ts = ic.groups[0].sets[0]
    assert ts.header.elements == ["850", "0001"]
    assert ts.trailer is not None and ts.trailer.elements == ["5", "0001"]
    assert ic.groups[0].header.elements == ["PO", "GOODHEALTH", "GMDSUPPLY", "20240116", "1205",
                                            "501", "X", "004010"]
    assert ic.trailer is not None and ic.trailer.elements == ["1", "000000501"]
    assert len(ic.raw_isa) == 105 and ic.isa.element(9) == "240116"
    assert validate_envelope(parse(encode(ic))[0]).ok
    ref = build_transaction_set("999", "2870001", [], reference="005010X231")
    assert ref.header.elements == ["999", "2870001", "005010X231"]
    with pytest.raises(ValueError, match="control number"):
        build_interchange(("ZZ", "A"), ("ZZ", "B"), [], 1_000_000_000)
    with pytest.raises(ValueError, match="ISA06"):
        build_interchange(("ZZ", "A" * 16), ("ZZ", "B"), [], 1)


def test_make_segment() -> None:
    """Sequences become components, None empty, trailing empties are dropped."""
    seg = make_segment("SV1", ["HC", "99213"], None, "10", None, None)
    assert seg.elements == ["HC:99213", "", "10"]
    assert make_segment("CTT").elements == []


def test_fix_counts_repairs_trailers() -> None:
    """fix_counts sets every count and control number, adding missing trailers."""
    ic = load("authored/malformed_850_missing_se_ge_authored.edi")[0]
    assert not validate_envelope(ic).ok
    fix_counts(ic)
    assert validate_envelope(ic).ok
    assert parse(encode(ic))[0] == ic
    wrong = load("pyx12_validation/trailer_errors.x12")[0]
    assert validate_envelope(fix_counts(wrong)).ok
