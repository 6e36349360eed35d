"""X12 writer: interchanges -> text, with any delimiter set, plus a small builder API.

X12 has no escape (release) character, so a value that contains a delimiter of the chosen set
cannot be written: `encode` raises ValueError instead of producing ambiguous data. Component and
repetition separators inside an element are structure, not data: they are translated from the
segment's own delimiters to the chosen set.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from .delimiters import DEFAULT_DELIMITERS, Delimiters
from .reader import FunctionalGroup, Interchange, Segment, TransactionSet

__all__ = [
    "ISA_WIDTHS",
    "build_group",
    "build_interchange",
    "build_transaction_set",
    "encode",
    "encode_segment",
    "fix_counts",
    "make_segment",
]

# Fixed widths of ISA01..ISA16; the ISA is 106 characters with its terminator.
ISA_WIDTHS = (2, 10, 2, 10, 2, 15, 2, 15, 6, 4, 1, 5, 9, 1, 1, 1)


def _check_delimiters(d: Delimiters) -> None:
    """ValueError unless the delimiters are single distinct characters that a reader can detect:
    no letters or digits, no blanks (a CR or LF terminator is fine)."""
    chars = d.chars()
    separators = chars[:-1]  # element, component, repetition: the terminator is last
    if (any(len(c) != 1 or c.isalnum() for c in chars) or len(set(chars)) != len(chars)
            or any(c.isspace() for c in separators) or d.terminator == " "):
        raise ValueError(f"delimiters must be distinct non-alphanumeric characters: {d!r}")


def _bad(seg_id: str, n: int, value: str, d: Delimiters) -> ValueError:
    """The error for a value that contains a delimiter of the chosen set."""
    found = [c for c in d.chars() if c in value]
    return ValueError(f"{seg_id}{n:02d} value {value!r} contains delimiter {found[0]!r}; "
                      "X12 has no escape character")


def encode_segment(seg: Segment, d: Delimiters) -> str:
    """One segment (without terminator) written with delimiters `d`; ValueError on collisions."""
    values = seg.elements
    src = seg.delimiters
    sep = d.element
    if src.component != d.component or src.repetition != d.repetition:
        values = _translate(seg, d)
    elif values:
        body = sep.join(values)
        if d.terminator in body or body.count(sep) != len(values) - 1:
            for n, value in enumerate(values, 1):
                if d.terminator in value or sep in value:
                    raise _bad(seg.id, n, value, d)
    if not seg.id or seg.id != seg.id.strip() or any(c in seg.id for c in d.chars()):
        raise ValueError(f"invalid segment id {seg.id!r}")
    return sep.join((seg.id, *values)) if values else seg.id


def _translate(seg: Segment, d: Delimiters) -> list[str]:
    """Element values with the segment's component/repetition separators mapped to `d`'s."""
    src = seg.delimiters
    structural = {ord(src.component): d.component}
    if src.repetition is not None:
        structural[ord(src.repetition)] = d.repetition
    remove = dict.fromkeys(structural)
    out = []
    for n, value in enumerate(seg.elements, 1):
        data = value.translate(remove)
        if any(c in data for c in d.chars()):
            raise _bad(seg.id, n, value, d)
        if d.repetition is None and src.repetition is not None and src.repetition in value:
            raise ValueError(f"{seg.id}{n:02d} value {value!r} repeats but the chosen "
                             "delimiters have no repetition separator")
        out.append(value.translate(structural))
    return out


def _isa_values(ic: Interchange, d: Delimiters) -> list[str]:
    """ISA01..ISA16 re-padded to their fixed widths, with ISA11/ISA16 from `d`."""
    values = list(ic.isa.elements[:16])
    values += [""] * (16 - len(values))
    version, isa11 = values[11], values[10]
    modern = len(version) == 5 and version.isdigit() and version >= "00402"
    if modern and d.repetition is not None:
        values[10] = d.repetition
    elif len(isa11) != 1 or isa11 in d.chars() or (modern and not isa11.isalnum()):
        values[10] = "U"  # the standards identifier before 00402, "no repetition" after
    values[15] = d.component
    chars = d.chars()
    data = "".join(values[:10]) + "".join(values[11:15])
    if any(c in data for c in chars):
        n = next(n for n, v in enumerate(values, 1)
                 if n not in (11, 16) and any(c in v for c in chars))
        raise _bad("ISA", n, values[n - 1], d)
    out = []
    for n, (value, width) in enumerate(zip(values, ISA_WIDTHS, strict=True), 1):
        if len(value) == width:
            out.append(value)
            continue
        if len(value) > width:
            value = value.rstrip()
            if len(value) > width:
                raise ValueError(f"ISA{n:02d} value {value!r} is longer than {width} characters")
        if n == 13 and value.isdigit():
            value = value.zfill(width)
        out.append(value.ljust(width))
    return out


def _interchange_lines(ic: Interchange, d: Delimiters) -> list[str]:
    """Every segment of one interchange, rendered."""
    lines = [d.element.join(["ISA", *_isa_values(ic, d)])]
    lines.extend(encode_segment(seg, d) for seg in ic.segments() if seg is not ic.isa)
    return lines


def encode(interchanges: Interchange | Iterable[Interchange],
           delimiters: Delimiters | None = None) -> str:
    """X12 text for one or more interchanges, each with `delimiters` or its own delimiters."""
    items = [interchanges] if isinstance(interchanges, Interchange) else list(interchanges)
    chunks = []
    for ic in items:
        d = delimiters or ic.delimiters
        _check_delimiters(d)
        end = d.terminator + d.suffix
        chunks.append(end.join(_interchange_lines(ic, d)) + end)
    return "".join(chunks)


def fix_counts(ic: Interchange) -> Interchange:
    """Set SE01/SE02, GE01/GE02 and IEA01/IEA02 from the content, adding missing trailers."""
    d = ic.delimiters
    for group in ic.groups:
        for ts in group.sets:
            count = str(len(ts.segments) + 2)
            ts.trailer = Segment("SE", [count, ts.control_number], d)
        group.trailer = Segment("GE", [str(len(group.sets)), group.control_number], d)
    ic.trailer = Segment("IEA", [str(len(ic.groups)), ic.control_number], d)
    return ic


def make_segment(seg_id: str, *values: str | Sequence[str] | None,
                 delimiters: Delimiters = DEFAULT_DELIMITERS) -> Segment:
    """A segment: str values as is, sequences as components, None empty; trailing empties cut."""
    elements = ["" if v is None else v if isinstance(v, str) else delimiters.component.join(v)
                for v in values]
    while elements and not elements[-1]:
        elements.pop()
    return Segment(seg_id, elements, delimiters)


def build_transaction_set(set_id: str, control_number: int | str, body: Iterable[Segment], *,
                          reference: str | None = None,
                          delimiters: Delimiters = DEFAULT_DELIMITERS) -> TransactionSet:
    """ST + body + SE with the right count; an int control number is written as 4+ digits."""
    number = f"{control_number:04d}" if isinstance(control_number, int) else control_number
    header = make_segment("ST", set_id, number, reference, delimiters=delimiters)
    segments = list(body)
    trailer = Segment("SE", [str(len(segments) + 2), number], delimiters)
    return TransactionSet(header, segments, trailer)


def build_group(functional_id: str, sender: str, receiver: str, control_number: int,
                sets: Iterable[TransactionSet], *, when: datetime | None = None,
                version: str = "004010",
                delimiters: Delimiters = DEFAULT_DELIMITERS) -> FunctionalGroup:
    """GS + sets + GE with the right count (GS04 CCYYMMDD, GS05 HHMM, GS07 X)."""
    when = when or datetime.now()
    number = str(control_number)
    header = Segment("GS", [functional_id, sender, receiver, when.strftime("%Y%m%d"),
                            when.strftime("%H%M"), number, "X", version], delimiters)
    items = list(sets)
    return FunctionalGroup(header, items, Segment("GE", [str(len(items)), number], delimiters))


def build_interchange(sender: tuple[str, str], receiver: tuple[str, str],
                      groups: Iterable[FunctionalGroup], control_number: int, *,
                      when: datetime | None = None, usage: str = "P",
                      ack_requested: bool = False, version: str = "00401",
                      delimiters: Delimiters | None = None,
                      ta1_segments: Iterable[Segment] = ()) -> Interchange:
    """ISA + groups + IEA; `sender`/`receiver` are (qualifier, id); counts are computed."""
    if not 0 <= control_number <= 999_999_999:
        raise ValueError(f"interchange control number {control_number} is not 1-9 digits")
    when = when or datetime.now()
    d = delimiters or (DEFAULT_DELIMITERS if version >= "00402"
                       else Delimiters(repetition=None))
    number = f"{control_number:09d}"
    isa11 = d.repetition if d.repetition is not None else "U"
    values = ["00", "", "00", "", sender[0], sender[1], receiver[0], receiver[1],
              when.strftime("%y%m%d"), when.strftime("%H%M"), isa11, version, number,
              "1" if ack_requested else "0", usage, d.component]
    padded = [v if n in (10, 15) else v.ljust(w)
              for n, (v, w) in enumerate(zip(values, ISA_WIDTHS, strict=True))]
    isa = Segment("ISA", padded, d)
    items = list(groups)
    trailer = Segment("IEA", [str(len(items)), number], d)
    ic = Interchange(isa, items, trailer, d, d.element.join(["ISA", *padded]),
                     list(ta1_segments))
    _isa_values(ic, d)  # raises ValueError when a field is too long or holds a delimiter
    return ic
