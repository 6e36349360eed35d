"""HL7 v2 delimiters (MSH-1/MSH-2) and the escape / unescape rules of chapter 2."""

from __future__ import annotations

import re

from engine.errors import ParseError

HEADER_IDS = frozenset(("MSH", "FHS", "BHS"))
"""Segments whose field 1 is the field separator and field 2 the encoding characters."""

_HEX = frozenset("0123456789abcdefABCDEF")
# Escapes that unescape() keeps verbatim (formatting, highlighting, charset switches, local
# Z escapes); escape() passes them through untouched so that get() -> set() keeps them.
_VERBATIM_BODY = (r"H|N|Z[0-9A-Za-z_.\-]+|C[0-9A-Fa-f]{4}|M[0-9A-Fa-f]{4}(?:[0-9A-Fa-f]{2})?"
                  r"|\.(?:sp\d*|fi|nf|ce|in[+-]?\d+|ti[+-]?\d+|sk[+-]?\d*)")
_VERBATIM_RE = re.compile(f"(?:{_VERBATIM_BODY})\\Z")


def _bad_delimiter(ch: str) -> bool:
    """True for characters that can never be HL7 delimiters."""
    return ch.isalnum() or ch.isspace() or ord(ch) < 32 or ord(ch) == 127


class Separators:
    """The five (six from v2.7) delimiters a message declares in MSH-1 and MSH-2 (immutable)."""

    __slots__ = ("field", "component", "repetition", "escape", "subcomponent", "truncation",
                 "_tables")

    def __init__(self, field: str = "|", component: str = "^", repetition: str = "~",
                 escape: str = "\\", subcomponent: str = "&",
                 truncation: str | None = None) -> None:
        self.field = field
        self.component = component
        self.repetition = repetition
        self.escape = escape
        self.subcomponent = subcomponent
        self.truncation = truncation
        self._tables: _Tables | None = None

    def _key(self) -> tuple[str, str, str, str, str, str | None]:
        return (self.field, self.component, self.repetition, self.escape, self.subcomponent,
                self.truncation)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Separators) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return f"Separators({self.field + self.encoding_characters!r})"

    @property
    def encoding_characters(self) -> str:
        """MSH-2 as it must be written: component, repetition, escape, subcomponent(, trunc)."""
        return (self.component + self.repetition + self.escape + self.subcomponent
                + (self.truncation or ""))

    @classmethod
    def from_header(cls, segment: str) -> Separators:
        """Read the delimiters from an MSH, FHS or BHS segment; ParseError if unusable."""
        end = segment.find(segment[3], 4) if len(segment) > 3 else -1
        declared = segment[3:] if end < 0 else segment[3:end]
        try:
            return _KNOWN[declared]
        except KeyError:
            pass
        sid = segment[:3]
        loc = sid if sid in HEADER_IDS else "MSH"
        if not declared:
            raise ParseError("header segment has no field separator", location=f"{loc}-1")
        fs, enc = declared[0], declared[1:]
        if _bad_delimiter(fs):
            raise ParseError(f"invalid field separator {fs!r}", location=f"{loc}-1")
        if len(enc) not in (4, 5):
            raise ParseError(f"encoding characters {enc[:10]!r} must be 4 (or 5) characters",
                             location=f"{loc}-2")
        for ch in enc:
            if _bad_delimiter(ch):
                raise ParseError(f"invalid encoding character {ch!r}", location=f"{loc}-2")
        if len(set(declared)) != len(declared):
            raise ParseError(f"duplicate delimiter in {declared!r}", location=f"{loc}-2")
        seps = cls(fs, enc[0], enc[1], enc[2], enc[3], enc[4] if len(enc) == 5 else None)
        if len(_KNOWN) < 256:
            _KNOWN[declared] = seps
        return seps


_KNOWN: dict[str, Separators] = {}
"""Validated MSH-1 + MSH-2 strings -> their Separators (parsing is then a dict lookup)."""


_Tables = tuple[tuple[str, ...], dict[str, str], dict[str, str], "re.Pattern[str]"]


def _tables(seps: Separators) -> _Tables:
    """Lookup tables of a delimiter set, built once per Separators instance."""
    tables = seps._tables
    if tables is None:
        tables = seps._tables = _build_tables(seps)
    return tables


def _build_tables(seps: Separators) -> _Tables:
    """Per-delimiter-set lookup tables: specials, char->escape, escape body->char, regex."""
    e = seps.escape
    to_esc = {seps.field: f"{e}F{e}", seps.component: f"{e}S{e}",
              seps.subcomponent: f"{e}T{e}", seps.repetition: f"{e}R{e}",
              e: f"{e}E{e}", "\r": f"{e}X0D{e}", "\n": f"{e}X0A{e}"}
    from_esc = {"F": seps.field, "S": seps.component, "T": seps.subcomponent,
                "R": seps.repetition, "E": e, ".br": "\n"}
    if seps.truncation:
        to_esc[seps.truncation] = f"{e}P{e}"
        from_esc["P"] = seps.truncation
    ee = re.escape(e)
    specials = "".join(re.escape(c) for c in to_esc if c != e)
    pattern = re.compile(f"{ee}(?:{_VERBATIM_BODY}){ee}|{ee}|[{specials}]")
    return tuple(to_esc), to_esc, from_esc, pattern


def escape(value: str, seps: Separators) -> str:
    """Escape delimiters, CR and LF in a text value (formatting escapes pass through)."""
    specials, to_esc, _, pattern = _tables(seps)
    for ch in specials:
        if ch in value:
            break
    else:
        return value
    delims = seps.field + seps.encoding_characters

    def repl(m: re.Match[str]) -> str:
        text = m.group()
        if len(text) == 1:
            return to_esc[text]
        if any(c in delims for c in text[1:-1]):  # a delimiter inside: escape char by char
            return "".join(to_esc.get(c, c) for c in text)
        return text

    return pattern.sub(repl, value)


def _hex_bytes(body: str) -> bytes | None:
    """The bytes of an \\Xhh..\\ body, or None when it is not valid hex."""
    digits = body[1:]
    if not digits or len(digits) % 2 or not _HEX.issuperset(digits):
        return None
    return bytes.fromhex(digits)


def _decode(data: bytearray) -> str:
    """Hex-escaped bytes as text: UTF-8 when valid, else latin-1."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def unescape(value: str, seps: Separators) -> str:
    """Resolve escape sequences; unknown or unterminated ones are kept verbatim."""
    e = seps.escape
    if e not in value:
        return value
    from_esc = _tables(seps)[2]
    out: list[str] = []
    pending = bytearray()  # consecutive \X..\ escapes are decoded together (multi-byte UTF-8)
    i, n = 0, len(value)
    while i < n:
        j = value.find(e, i)
        if j < 0:
            break
        k = value.find(e, j + 1)
        if k < 0:
            break
        if j > i:
            if pending:
                out.append(_decode(pending))
                pending.clear()
            out.append(value[i:j])
        body = value[j + 1:k]
        if body[:1] == "X" and (data := _hex_bytes(body)) is not None:
            pending += data
            i = k + 1
            continue
        if pending:
            out.append(_decode(pending))
            pending.clear()
        plain = from_esc.get(body)
        if plain is not None:
            out.append(plain)
            i = k + 1
        elif _VERBATIM_RE.match(body):
            out.append(value[j:k + 1])
            i = k + 1
        else:  # stray escape character: keep it and resynchronise on the next one
            out.append(e)
            if k == j + 1:
                i = j + 1
            else:
                out.append(value[j + 1:k])
                i = k
    if pending:
        out.append(_decode(pending))
    out.append(value[i:])
    return "".join(out)
