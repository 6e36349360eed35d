"""X12 reader: bytes -> text -> interchanges of functional groups of transaction sets.

Data model (plain slotted dataclasses, no I/O):

- `Segment(id, elements, delimiters)`: `elements[0]` is the first element after the segment id
  (so `element(1)` is ISA01, ST01...). Elements are the raw text between element separators; a
  composite or repeated element keeps its component / repetition separators, which are those of
  `Segment.delimiters` (the interchange's delimiters for parsed segments).
- `TransactionSet(header ST, segments between ST and SE, trailer SE | None, position)`:
  `position` is the index of the ST segment in its interchange (ISA = 0). For a 997/999 AK3 the
  position of `segments[i]` within the set is `i + 2` (ST is 1).
- `FunctionalGroup(header GS, sets, trailer GE | None)`.
- `Interchange(isa, groups, trailer IEA | None, delimiters, raw_isa, ta1_segments,
  stray_segments)`. TA1 segments outside any group go to `ta1_segments`; segments that belong
  nowhere (after IEA, between GE and GS, SE or GE without a header...) go to `stray_segments`.

Parsing is tolerant: structural faults (missing SE/GE/IEA, wrong counts, stray segments) are
recorded in the model for `envelope.validate_envelope`, never raised. A `ParseError` (an
`IsaHeaderError` with its TA1 note code) is raised only when there is no ISA at the start of the
data or an ISA header cannot be read.

Whitespace handling: leading whitespace, NUL bytes and a BOM before the ISA are skipped; leading
whitespace of every segment (line breaks after the terminator, tab or space indentation) is
dropped. Trailing whitespace inside a segment is data and is kept (pyx12 reports it too).

NBSP-padded ISA (edge_850_nbsp_padded_isa_edinet.edi): UTF-8 input is decoded before the ISA is
measured, so U+00A0 counts as one character of padding; the raw ISA element values keep the NBSP,
the sender/receiver properties strip it (str.strip treats it as whitespace) and the envelope
validator accepts it as padding with a warning.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import dataclass, field

from engine.errors import ParseError

from .delimiters import DEFAULT_DELIMITERS, LEADING_JUNK, Delimiters, IsaHeaderError, scan_isa

__all__ = ["FunctionalGroup", "Interchange", "Segment", "TransactionSet", "decode", "parse"]

_TAIL_JUNK = " \t\r\n\x00\x0b\x0c\x1a\xa0\ufeff"


@dataclass(slots=True)
class Segment:
    """One segment: its id and raw element values (`elements[0]` is element 1)."""

    id: str
    elements: list[str] = field(default_factory=list)
    delimiters: Delimiters = field(default=DEFAULT_DELIMITERS, compare=False, repr=False)

    def element(self, n: int) -> str:
        """Element `n` (1-based: ISA01 is element(1)); "" when absent."""
        elements = self.elements
        return elements[n - 1] if 0 < n <= len(elements) else ""

    def components(self, n: int) -> list[str]:
        """Element `n` split on the component separator; [] when the element is empty."""
        value = self.element(n)
        return value.split(self.delimiters.component) if value else []

    def repetitions(self, n: int) -> list[str]:
        """Element `n` split on the repetition separator; [] when the element is empty."""
        value = self.element(n)
        if not value:
            return []
        rep = self.delimiters.repetition
        return value.split(rep) if rep else [value]

    def text(self) -> str:
        """The segment written with its own element separator, without terminator."""
        return self.delimiters.element.join([self.id, *self.elements])


@dataclass(slots=True)
class TransactionSet:
    """ST ... SE; `trailer` is None when the SE is missing."""

    header: Segment
    segments: list[Segment] = field(default_factory=list)
    trailer: Segment | None = None
    position: int = field(default=0, compare=False)

    @property
    def set_id(self) -> str:
        """ST01, the transaction set identifier (850, 837...)."""
        return self.header.element(1)

    @property
    def control_number(self) -> str:
        """ST02, the transaction set control number."""
        return self.header.element(2)


@dataclass(slots=True)
class FunctionalGroup:
    """GS ... GE; `trailer` is None when the GE is missing."""

    header: Segment
    sets: list[TransactionSet] = field(default_factory=list)
    trailer: Segment | None = None

    @property
    def functional_id(self) -> str:
        """GS01, the functional identifier code (PO, IN, HC, FA...)."""
        return self.header.element(1)

    @property
    def version(self) -> str:
        """GS08, the version / release / industry identifier (004010, 005010X222A1...)."""
        return self.header.element(8)

    @property
    def control_number(self) -> str:
        """GS06, the group control number."""
        return self.header.element(6)


@dataclass(slots=True)
class Interchange:
    """ISA ... IEA; `trailer` is None when the IEA is missing."""

    isa: Segment
    groups: list[FunctionalGroup] = field(default_factory=list)
    trailer: Segment | None = None
    delimiters: Delimiters = field(default=DEFAULT_DELIMITERS, compare=False)
    raw_isa: str = field(default="", compare=False, repr=False)
    ta1_segments: list[Segment] = field(default_factory=list)
    stray_segments: list[Segment] = field(default_factory=list)

    @property
    def sender_qualifier(self) -> str:
        """ISA05, stripped."""
        return self.isa.element(5).strip()

    @property
    def sender_id(self) -> str:
        """ISA06, stripped."""
        return self.isa.element(6).strip()

    @property
    def receiver_qualifier(self) -> str:
        """ISA07, stripped."""
        return self.isa.element(7).strip()

    @property
    def receiver_id(self) -> str:
        """ISA08, stripped."""
        return self.isa.element(8).strip()

    @property
    def control_number(self) -> str:
        """ISA13, the interchange control number as sent."""
        return self.isa.element(13)

    @property
    def ack_requested(self) -> bool:
        """ISA14 == "1": the sender asks for a TA1."""
        return self.isa.element(14) == "1"

    @property
    def usage(self) -> str:
        """ISA15: P production, T test, I information."""
        return self.isa.element(15)

    @property
    def version(self) -> str:
        """ISA12, the interchange control version number (00401, 00501...)."""
        return self.isa.element(12)

    def segments(self) -> Iterator[Segment]:
        """Every enveloped segment in order: ISA, TA1s, groups (GS, sets, GE), IEA."""
        yield self.isa
        yield from self.ta1_segments
        for group in self.groups:
            yield group.header
            for ts in group.sets:
                yield ts.header
                yield from ts.segments
                if ts.trailer is not None:
                    yield ts.trailer
            if group.trailer is not None:
                yield group.trailer
        if self.trailer is not None:
            yield self.trailer


def decode(data: bytes) -> str:
    """Bytes to text: UTF-8 (BOM optional), UTF-16 LE/BE (BOM optional), else latin-1."""
    if data[:3] == b"\xef\xbb\xbf":
        data = data[3:]
    elif data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        codec = "utf-16-le" if data[:2] == b"\xff\xfe" else "utf-16-be"
        body = data[2:]
        return body[:len(body) - len(body) % 2].decode(codec, "replace")
    else:
        head = data[:6]
        if len(head) == 6 and head[1] == head[3] == head[5] == 0 and head[0] and head[2]:
            return data[:len(data) - len(data) % 2].decode("utf-16-le", "replace")
        if len(head) == 6 and head[0] == head[2] == head[4] == 0 and head[1] and head[3]:
            return data[:len(data) - len(data) % 2].decode("utf-16-be", "replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


class _Builder:
    """State machine that files segments into interchanges, groups and sets."""

    __slots__ = ("out", "ic", "group", "ts", "index")

    def __init__(self) -> None:
        self.out: list[Interchange] = []
        self.ic: Interchange | None = None
        self.group: FunctionalGroup | None = None
        self.ts: TransactionSet | None = None
        self.index = 0

    def start(self, raw_isa: str, delims: Delimiters) -> None:
        """Open a new interchange (closing whatever is open without trailers)."""
        isa = Segment("ISA", raw_isa.split(delims.element)[1:], delims)
        self.ic = Interchange(isa, delimiters=delims, raw_isa=raw_isa)
        self.out.append(self.ic)
        self.group = self.ts = None
        self.index = 1

    def feed(self, items: list[list[str]], special: list[int], first: int,
             delims: Delimiters) -> int:
        """File items[first:] (segments split into id + elements); `special` lists the indexes
        whose id is an envelope id, too long or starts with junk. Returns the index of an item
        that starts a new ISA, or -1 at the end."""
        sep = delims.element
        ic = self.ic
        assert ic is not None
        group, ts, index = self.group, self.ts, self.index
        stray = ic.stray_segments
        count = len(items)
        i = first
        while i < count:
            if ts is not None:
                # Bulk path: the body of a set runs up to the next special segment.
                n = bisect_left(special, i)
                j = special[n] if n < len(special) else count
                if j > i:
                    body = [Segment(p[0], p[1:], delims) for p in items[i:j] if p[0] or len(p) > 1]
                    ts.segments += body
                    index += len(body)
                    i = j
                    continue
            parts = items[i]
            sid = parts[0]
            i += 1
            if not sid:
                if len(parts) == 1:
                    continue  # blank: whitespace between terminators
            elif sid[0] in "\x00\x1a":
                text = sep.join(parts).lstrip(_TAIL_JUNK)
                if not text:
                    continue
                parts = text.split(sep)
                sid = parts[0]
            if sid == "ISA" or (sid[:3] == "ISA" and len(sid) > 3 and not sid[3].isalnum()):
                self.group, self.ts, self.index = group, ts, index
                return i - 1
            seg = Segment(sid, parts[1:], delims)
            if ts is not None and sid not in _ENVELOPE_IDS:
                ts.segments.append(seg)
            elif sid == "ST":
                if group is None:
                    stray.append(seg)
                else:
                    ts = TransactionSet(seg, position=index)
                    group.sets.append(ts)
            elif sid == "SE":
                if ts is None:
                    stray.append(seg)
                else:
                    ts.trailer = seg
                    ts = None
            elif sid == "GS":
                ts = None
                group = FunctionalGroup(seg)
                ic.groups.append(group)
            elif sid == "GE":
                ts = None
                if group is None:
                    stray.append(seg)
                else:
                    group.trailer = seg
                    group = None
            elif sid == "IEA":
                ts = group = None
                if ic.trailer is None:
                    ic.trailer = seg
                else:
                    stray.append(seg)
            elif sid == "TA1" and group is None and ic.trailer is None:
                ic.ta1_segments.append(seg)
            else:
                stray.append(seg)
            index += 1
        self.group, self.ts, self.index = group, ts, index
        return -1


_ENVELOPE_IDS = frozenset(("SE", "ST", "GE", "GS", "IEA", "ISA"))


def parse(data: bytes | str) -> list[Interchange]:
    """Every interchange in `data`; ParseError only when no ISA header can be read."""
    text = decode(bytes(data)) if not isinstance(data, str) else data
    start = len(text) - len(text.lstrip(LEADING_JUNK))
    if not text.startswith("ISA", start):
        found = text[start:start + 20]
        raise ParseError(f"data does not start with an ISA header (found {found!r})", "ISA")
    builder = _Builder()
    pos = start
    number = 1
    while True:
        delims, term_at = _scan(text, pos, number)
        builder.start(text[pos:term_at], delims)
        base = term_at + 1
        raws = text[base:].split(delims.terminator)
        sep = delims.element
        items = [r.lstrip().split(sep) for r in raws]
        items[-1] = raws[-1].strip(_TAIL_JUNK).split(sep)  # padding after the last terminator
        # envelope ids, odd ids (too long, empty or starting below "0", e.g. NUL) go one by one
        special = [k for k, p in enumerate(items)
                   if p[0] in _ENVELOPE_IDS or len(p[0]) > 3 or p[0] < "0"]
        tlen = len(delims.terminator)
        first = done_k = 0
        done_at = base  # raws[done_k] starts at text index done_at
        while True:
            k = builder.feed(items, special, first, delims)
            if k < 0:
                return builder.out
            number += 1
            done_at += sum(map(len, raws[done_k:k])) + (k - done_k) * tlen
            done_k = k
            at = done_at + len(raws[k]) - len(raws[k].lstrip())
            nxt, nxt_term = _scan(text, at, number)
            if (nxt.element == delims.element and nxt.terminator == delims.terminator
                    and nxt_term == done_at + len(raws[k])):
                builder.start(text[at:nxt_term], nxt)
                delims = nxt
                first = k + 1
                continue
            pos = at
            break


def _scan(text: str, pos: int, number: int) -> tuple[Delimiters, int]:
    """scan_isa, naming the interchange in the error when it is not the first."""
    try:
        return scan_isa(text, pos)
    except IsaHeaderError as exc:
        if number > 1:
            exc.message = f"interchange {number}: {exc.message}"
            exc.args = (exc.message,)
        raise
