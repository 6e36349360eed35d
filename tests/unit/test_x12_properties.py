"""Property tests: encode -> parse is the identity for any delimiter set and content."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocols.x12 import Delimiters, Interchange, Segment, parse
from protocols.x12.envelope import validate_envelope
from protocols.x12.writer import (
    build_group,
    build_interchange,
    build_transaction_set,
    encode,
    encode_segment,
)

DATA = Path(__file__).resolve().parent.parent / "data" / "x12"
ALL_FILES = sorted(p.relative_to(DATA).as_posix() for p in DATA.rglob("*")
                   if p.suffix in (".edi", ".x12"))
PUNCTUATION = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
WHEN = datetime(2024, 1, 16, 12, 0)
ENVELOPE_IDS = {"ISA", "IEA", "GS", "GE", "ST", "SE", "TA1"}
SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


@st.composite
def delimiter_sets(draw: st.DrawFn) -> Delimiters:
    """Four distinct delimiters: no letters, digits or blanks (CR/LF allowed as terminator)."""
    element, component, repetition = draw(st.lists(st.sampled_from(PUNCTUATION), min_size=3,
                                                   max_size=3, unique=True))
    terminator = draw(st.sampled_from(
        [c for c in PUNCTUATION + "\n\r\x1d\u2026" if c not in (element, component, repetition)]))
    suffix = draw(st.sampled_from(["", "\n", "\r\n"]))
    return Delimiters(element, component, repetition, terminator, suffix)


def data_text(d: Delimiters) -> st.SearchStrategy[str]:
    """Element data: any text without the delimiters (spaces, CR/LF, accents included)."""
    alphabet = st.characters(blacklist_characters=d.chars(),
                             blacklist_categories=("Cs",))  # type: ignore[arg-type]
    return st.text(alphabet, max_size=12)


@st.composite
def segments(draw: st.DrawFn, d: Delimiters, modern: bool) -> Segment:
    """A non-envelope segment whose elements may be composite and (5010) repeated."""
    seg_id = draw(st.from_regex(r"\A[A-Z][A-Z0-9]{1,2}\Z").filter(lambda s: s not in ENVELOPE_IDS))
    elements = []
    for _ in range(draw(st.integers(0, 8))):
        reps = draw(st.integers(1, 3)) if modern else 1
        parts = [d.component.join(draw(st.lists(data_text(d), min_size=1, max_size=3)))
                 for _ in range(reps)]
        elements.append(d.repetition.join(parts) if d.repetition else parts[0])
    return Segment(seg_id, elements, d)


@st.composite
def interchanges(draw: st.DrawFn) -> Interchange:
    """A random interchange: 0-3 groups of 0-3 sets of 0-6 random segments."""
    d = draw(delimiter_sets())
    modern = draw(st.booleans())
    version = "00501" if modern else "00401"
    if not modern:
        d = Delimiters(d.element, d.component, None, d.terminator, d.suffix)
    groups = []
    ids = st.from_regex(r"\A[A-Z0-9]{1,15}\Z")
    for g in range(draw(st.integers(0, 3))):
        sets = [build_transaction_set(draw(st.from_regex(r"\A[0-9]{3}\Z")), n,
                                      draw(st.lists(segments(d, modern), max_size=6)),
                                      delimiters=d)
                for n in range(1, draw(st.integers(0, 3)) + 1)]
        groups.append(build_group("PO", draw(ids), draw(ids), g + 1, sets, when=WHEN,
                                  delimiters=d))
    number = draw(st.integers(0, 999_999_999))
    return build_interchange(("ZZ", draw(ids)), ("01", draw(ids)), groups, number, when=WHEN,
                             version=version, delimiters=d,
                             usage=draw(st.sampled_from("PTI")))


@SETTINGS
@given(interchanges())
def test_encode_then_parse_is_identity(ic: Interchange) -> None:
    """Whatever the delimiters and content, parse(encode(ic)) == ic, from text or bytes."""
    text = encode(ic)
    back = parse(text)
    assert back == [ic]
    assert parse(text.encode("utf-8")) == [ic]
    got, want = back[0].delimiters, ic.delimiters
    assert (got.element, got.component, got.repetition, got.terminator) == \
        (want.element, want.component, want.repetition, want.terminator)
    assert len(back[0].raw_isa) == 105
    assert validate_envelope(back[0]).ok


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(interchanges(), min_size=2, max_size=3))
def test_concatenated_interchanges_with_their_own_delimiters(items: list[Interchange]) -> None:
    """A file of interchanges written with different delimiter sets parses back in order."""
    assert parse("".join(encode(ic) for ic in items)) == items


@SETTINGS
@given(delimiter_sets(), st.data())
def test_values_with_delimiters_are_refused(d: Delimiters, data: st.DataObject) -> None:
    """A value that holds the element separator or terminator can never be written."""
    bad = data.draw(st.sampled_from([d.element, d.terminator]))
    value = data.draw(data_text(d)) + bad + data.draw(data_text(d))
    with pytest.raises(ValueError):
        encode_segment(Segment("REF", ["ZZ", value], d), d)


def structure(seg: Segment) -> list[list[list[str]]]:
    """Elements as repetitions of components, independent of the delimiters used."""
    comp = seg.delimiters.component
    return [[r.split(comp) for r in seg.repetitions(n)] for n in range(1, len(seg.elements) + 1)]


def isa_normal(ic: Interchange) -> list[str]:
    """ISA values as the writer pads them, without ISA11/ISA16."""
    values = [v.rstrip() for v in ic.isa.elements]
    values[12] = values[12].zfill(9) if values[12].isdigit() else values[12]
    return values[:10] + values[11:15]


@pytest.mark.parametrize("name", ALL_FILES)
@settings(max_examples=15, deadline=None)
@given(data=st.data())
def test_corpus_parse_encode_parse(name: str, data: st.DataObject) -> None:
    """Every corpus file survives parse -> encode (random free delimiters) -> parse."""
    raw = (DATA / name).read_bytes()
    first = parse(raw)
    text = encode(first)
    free = [c for c in PUNCTUATION if c not in text]
    chosen = data.draw(st.lists(st.sampled_from(free), min_size=4, max_size=4, unique=True))
    target = Delimiters(*chosen, data.draw(st.sampled_from(["", "\n", "\r\n"])))
    for again in (parse(text), parse(encode(first, target))):
        assert len(again) == len(first)
        for a, b in zip(first, again, strict=True):
            assert isa_normal(a) == isa_normal(b)
            pairs = list(zip(a.segments(), b.segments(), strict=True))
            assert all(x.id == y.id and structure(x) == structure(y) for x, y in pairs[1:])
            assert [s.id for s in a.stray_segments] == [s.id for s in b.stray_segments]
    assert parse(text) == parse(encode(parse(text)))
