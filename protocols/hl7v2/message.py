"""Fast, tolerant HL7 v2 (ER7) codec: lazy segments, path get/set, verbatim re-encoding."""

from __future__ import annotations

import re

from engine.errors import ParseError

from .escaping import HEADER_IDS, Separators, escape, unescape
from .paths import Path, parse_path

__all__ = ["Hl7Message", "Segment", "Separators", "escape", "split_batch", "split_segments",
           "unescape"]

_LEADING = "\ufeff\x00 \t\r\n\x0b\x0c"
_SEGMENT_ID = re.compile(r"[A-Z0-9]{3}")
_VALID_IDS: set[str] = set()  # segment ids already checked (at most 36**3 entries)


def _is_blank(line: str) -> bool:
    """True for lines holding only whitespace, NUL or MLLP framing bytes."""
    return not line.strip().strip("\x00")


def split_segments(text: str) -> list[str]:
    """Clean the text (BOM, leading NUL/whitespace) and split it on CR, LF or CRLF."""
    if text and text[0] in _LEADING:
        text = text.lstrip(_LEADING)
    if "\n" not in text:
        return text.split("\r")
    if "\r" not in text:
        return text.split("\n")
    return text.replace("\r\n", "\r").replace("\n", "\r").split("\r")


def check_segment(line: str, fs: str, ordinal: int) -> str | None:
    """The segment id of a line; None for a blank line; ParseError for garbage."""
    sid = line[:3]
    if sid in _VALID_IDS or _SEGMENT_ID.fullmatch(sid):
        if len(line) == 3 or line[3] == fs:
            if len(_VALID_IDS) < 50_000:
                _VALID_IDS.add(sid)
            return sid
    if _is_blank(line):
        return None
    shown = line[:12].encode("unicode_escape").decode("ascii")
    raise ParseError(f"invalid segment id (expected 3 letters/digits and the field separator):"
                     f" {shown!r}", location=f"segment {ordinal}")


def _split_fields(raw: str, fs: str) -> list[str]:
    """Field texts of a segment; index = HL7 field number (MSH-1 is the separator)."""
    fields = raw.split(fs)
    if fields[0] in HEADER_IDS:
        fields.insert(1, fs)
    return fields


def _join_fields(fields: list[str], fs: str) -> str:
    """Inverse of _split_fields."""
    if fields[0] in HEADER_IDS:
        return fs.join([fields[0], *fields[2:]])
    return fs.join(fields)


class Segment:
    """A read-only view of one segment of a message."""

    __slots__ = ("_msg", "_pos")

    def __init__(self, msg: Hl7Message, position: int) -> None:
        self._msg = msg
        self._pos = position

    @property
    def id(self) -> str:
        """Segment id, e.g. PID."""
        return self._msg._lines[self._pos][:3]

    @property
    def raw(self) -> str:
        """The segment text (verbatim unless it was changed through the message)."""
        return self._msg._lines[self._pos]

    @property
    def fields(self) -> list[str]:
        """Raw field texts (a copy); index = HL7 field number, index 0 the segment id."""
        return list(self._msg._fields_at(self._pos))

    def field(self, number: int) -> str:
        """Raw text of field `number` (all repetitions); '' when absent."""
        fields = self._msg._fields_at(self._pos)
        return fields[number] if 0 <= number < len(fields) else ""

    def __len__(self) -> int:
        return len(self._msg._fields_at(self._pos)) - 1

    def __str__(self) -> str:
        return self.raw

    def __repr__(self) -> str:
        return f"Segment({self.raw[:60]!r})"


class Hl7Message:
    """A parsed HL7 v2 message; use `parse()`, `get()`, `set()` and `encode()`."""

    __slots__ = ("separators", "_lines", "_fields", "_ids", "modified")

    def __init__(self, lines: list[str], separators: Separators) -> None:
        self.separators = separators
        self._lines = lines
        self._fields: list[list[str] | None] = [None] * len(lines)
        self._ids: list[str] | None = None
        self.modified = False

    def copy(self) -> Hl7Message:
        """An independent copy: changing one never changes the other."""
        return Hl7Message(list(self._lines), self.separators)

    # ------------------------------------------------------------------ parsing
    @classmethod
    def parse(cls, text: str) -> Hl7Message:
        """Parse ER7 text (CR, LF or CRLF segment ends); ParseError if it is not HL7 v2."""
        if not isinstance(text, str):
            raise ParseError(f"expected text, got {type(text).__name__}", location="MSH")
        lines = split_segments(text)
        first = lines[0]
        if not first:
            raise ParseError("empty message", location="MSH")
        if first[:3] != "MSH":
            what = first[:3] if first[:3] in HEADER_IDS else repr(first[:12])
            hint = " (a batch/file: use split_batch)" if first[:3] in HEADER_IDS else ""
            raise ParseError(f"message must start with MSH, not {what}{hint}", location="MSH")
        seps = Separators.from_header(first)
        fs = seps.field
        valid = _VALID_IDS
        kept: list[str] = []
        append = kept.append
        n = 0
        for line in lines:
            n += 1
            if not line:
                continue
            if line[:3] in valid and (len(line) == 3 or line[3] == fs):
                append(line)
            elif check_segment(line, fs, n) is not None:
                append(line)
        return cls(kept, seps)

    # ----------------------------------------------------------------- segments
    def segments(self, name: str | None = None) -> list[Segment]:
        """All segments in order, or those with segment id `name`."""
        if name is None:
            return [Segment(self, i) for i in range(len(self._lines))]
        return [Segment(self, i) for i, sid in enumerate(self._segment_ids()) if sid == name]

    @property
    def segment_ids(self) -> list[str]:
        """The segment ids in message order (Z-segments included)."""
        return list(self._segment_ids())

    def _segment_ids(self) -> list[str]:
        """Segment ids by position, built on first use."""
        ids = self._ids
        if ids is None:
            ids = self._ids = [line[:3] for line in self._lines]
        return ids

    def _find(self, sid: str, occurrence: int) -> int:
        """Position of the `occurrence`-th (1-based) `sid` segment, or -1."""
        if occurrence == 1 and sid == "MSH":
            return 0
        ids = self._ids or self._segment_ids()
        try:
            pos = ids.index(sid)
            for _ in range(occurrence - 1):
                pos = ids.index(sid, pos + 1)
        except ValueError:
            return -1
        return pos

    def _fields_at(self, pos: int) -> list[str]:
        """The (cached) field list of the segment at `pos`."""
        fields = self._fields[pos]
        if fields is None:
            fields = self._fields[pos] = _split_fields(self._lines[pos], self.separators.field)
        return fields

    # ------------------------------------------------------------------ reading
    def get_raw(self, path: str, default: str = "") -> str:
        """Raw (still escaped) text at `path`; `default` when absent or empty."""
        return self._raw(parse_path(path), default)

    def _raw(self, p: Path, default: str) -> str:
        """Raw text of the element named by a parsed path."""
        pos = self._find(p.segment, p.occurrence)
        if pos < 0:
            return default
        fields = self._fields[pos] or self._fields_at(pos)
        f = p.field
        if f >= len(fields):
            return default
        value = fields[f]
        if f <= 2 and p.segment in HEADER_IDS:  # MSH-1 / MSH-2 are not split
            if (p.repetition or 1) > 1 or (p.component or 1) > 1 or (p.subcomponent or 1) > 1:
                return default
            return value or default
        seps = self.separators
        value = _nth(value, seps.repetition, p.repetition or 1)
        if p.component is None or value is None:
            return value or default
        value = _nth(value, seps.component, p.component)
        if p.subcomponent is None or value is None:
            return value or default
        return _nth(value, seps.subcomponent, p.subcomponent) or default

    def msh_raw(self, field: int, component: int = 0) -> str:
        """Raw MSH-`field` (3 and up; first repetition), or one component of it: the
        header fields that routing, filters and ACKs read for every message, without
        parsing a path. get_raw("MSH-9.1") == msh_raw(9, 1)."""
        fields = self._fields[0] or self._fields_at(0)
        if field >= len(fields):
            return ""
        value = fields[field]
        seps = self.separators
        if seps.repetition in value:
            value = value.split(seps.repetition, 1)[0]
        if not component:
            return value
        if seps.component not in value:
            return value if component == 1 else ""
        parts = value.split(seps.component)
        return parts[component - 1] if component <= len(parts) else ""

    def _msh_text(self, field: int, component: int = 0) -> str:
        """msh_raw, unescaped (what get("MSH-...") returns)."""
        value = self.msh_raw(field, component)
        if self.separators.escape in value:
            return unescape(value, self.separators)
        return value

    def get(self, path: str, default: str = "") -> str:
        """Unescaped text at `path` (e.g. PID-3.1, OBX[2]-5, PID-3(2).1); `default` if empty."""
        p = parse_path(path)
        value = self._raw(p, "")
        if not value:
            return default
        if self.separators.escape in value and not (p.field <= 2 and p.segment in HEADER_IDS):
            return unescape(value, self.separators)
        return value

    # ------------------------------------------------------------------ writing
    def set(self, path: str, value: str) -> None:
        """Escape `value` and store it at `path`, creating missing elements as needed."""
        if not isinstance(value, str):
            raise TypeError(f"value for {path} must be a string, not {type(value).__name__}")
        self.set_raw(path, escape(value, self.separators))

    def set_raw(self, path: str, raw_value: str) -> None:
        """Store already-escaped text at `path`; only the target segment is re-encoded."""
        p = parse_path(path)
        if not isinstance(raw_value, str):
            raise TypeError(f"value for {path} must be a string, not {type(raw_value).__name__}")
        seps = self.separators
        limit = 0 if p.repetition is None and p.component is None else (
            1 if p.component is None else (2 if p.subcomponent is None else 3))
        for ch in ("\r", "\n", seps.field, seps.repetition, seps.component,
                   seps.subcomponent)[:3 + limit]:
            if ch in raw_value:
                raise ValueError(f"raw value for {path} must not contain {ch!r}")
        if p.segment in HEADER_IDS and p.field <= 2:
            raise ValueError(f"{p.segment}-1 and {p.segment}-2 (the delimiters) cannot be set")
        pos = self._find(p.segment, p.occurrence)
        if pos < 0:
            if not raw_value:
                return
            ids = self._segment_ids()
            count = ids.count(p.segment)
            if p.occurrence != count + 1:
                raise ValueError(f"cannot create {p.segment}[{p.occurrence}]: the message has "
                                 f"{count} {p.segment} segment(s)")
            fields = [p.segment]
            if p.segment in HEADER_IDS:
                fields += [seps.field, seps.encoding_characters]
            pos = len(self._lines)
            self._lines.append(p.segment)
            self._fields.append(fields)
            ids.append(p.segment)
        fields = self._fields_at(pos)
        f = p.field
        old = fields[f] if f < len(fields) else ""
        new = _replace(old, p, raw_value, seps)
        if new == old:
            return
        if f >= len(fields):
            fields.extend([""] * (f + 1 - len(fields)))
        fields[f] = new
        self._lines[pos] = _join_fields(fields, seps.field)
        self.modified = True

    # ----------------------------------------------------------------- encoding
    def encode(self) -> str:
        """The message as ER7 text: segments joined and terminated by CR."""
        return "\r".join(self._lines) + "\r"

    def validate_header(self) -> None:
        """ParseError naming the first missing MSH-9, MSH-10, MSH-11 or MSH-12."""
        for field, component, what in ((9, 1, "message type"), (10, 0, "message control id"),
                                       (11, 1, "processing id"), (12, 1, "version id")):
            if not self.msh_raw(field, component).strip():
                raise ParseError(f"{what} (MSH-{field}) is missing", location=f"MSH-{field}")

    # --------------------------------------------------------------- properties
    @property
    def message_code(self) -> str:
        """MSH-9.1, e.g. ADT."""
        return self._msh_text(9, 1)

    @property
    def trigger_event(self) -> str:
        """MSH-9.2, e.g. A01 ('' for a bare ACK)."""
        return self._msh_text(9, 2)

    @property
    def message_type(self) -> str:
        """'ADT^A01' from MSH-9.1 and MSH-9.2 ('ACK' alone when there is no trigger)."""
        code, trigger = self.message_code, self.trigger_event
        return f"{code}^{trigger}" if trigger else code

    @property
    def control_id(self) -> str:
        """MSH-10, the message control id."""
        return self._msh_text(10)

    @property
    def processing_id(self) -> str:
        """MSH-11.1 (P, T, D)."""
        return self._msh_text(11, 1)

    @property
    def version(self) -> str:
        """MSH-12.1, e.g. 2.5.1."""
        return self._msh_text(12, 1)

    @property
    def sending_application(self) -> str:
        """MSH-3 raw."""
        return self.msh_raw(3)

    @property
    def sending_facility(self) -> str:
        """MSH-4 raw."""
        return self.msh_raw(4)

    @property
    def receiving_application(self) -> str:
        """MSH-5 raw."""
        return self.msh_raw(5)

    @property
    def receiving_facility(self) -> str:
        """MSH-6 raw."""
        return self.msh_raw(6)

    @property
    def accept_ack_type(self) -> str:
        """MSH-15 (AL, NE, ER, SU; '' in original mode)."""
        return self._msh_text(15)

    @property
    def application_ack_type(self) -> str:
        """MSH-16 (AL, NE, ER, SU; '' in original mode)."""
        return self._msh_text(16)

    @property
    def charset(self) -> str:
        """MSH-18 (first repetition), e.g. UNICODE UTF-8."""
        return self._msh_text(18)

    def __str__(self) -> str:
        return self.encode()

    def __repr__(self) -> str:
        return (f"Hl7Message(type={self.message_type!r}, control_id={self.control_id!r}, "
                f"segments={len(self._lines)})")


def _nth(value: str, sep: str, n: int) -> str | None:
    """The n-th (1-based) part of value split on sep; None when there are fewer parts."""
    if sep not in value:
        return value if n == 1 else None
    parts = value.split(sep)
    return parts[n - 1] if n <= len(parts) else None


def _make_room(items: list[str], index: int, raw_value: str) -> bool:
    """Pad items so items[index] exists; False when an empty value needs no new element."""
    if index < len(items):
        return True
    if not raw_value:
        return False
    items.extend([""] * (index + 1 - len(items)))
    return True


def _replace(old: str, p: Path, raw_value: str, seps: Separators) -> str:
    """`old` field text with the element named by path `p` replaced by `raw_value`."""
    if p.repetition is None and p.component is None:
        return raw_value
    reps = old.split(seps.repetition)
    r = (p.repetition or 1) - 1
    if not _make_room(reps, r, raw_value):
        return old
    if p.component is None:
        reps[r] = raw_value
    else:
        comps = reps[r].split(seps.component)
        c = p.component - 1
        if not _make_room(comps, c, raw_value):
            return old
        if p.subcomponent is None:
            comps[c] = raw_value
        else:
            subs = comps[c].split(seps.subcomponent)
            s = p.subcomponent - 1
            if not _make_room(subs, s, raw_value):
                return old
            subs[s] = raw_value
            comps[c] = seps.subcomponent.join(subs)
        reps[r] = seps.component.join(comps)
    return seps.repetition.join(reps)


def split_batch(text: str, *, check_counts: bool = True) -> list[Hl7Message]:
    """Split a message, back-to-back messages or FHS/BHS envelopes into messages."""
    from .batch import split_batch as _split_batch

    return _split_batch(text, check_counts=check_counts)
