"""X12 delimiters and their detection from the ISA interchange header.

The ISA is the only fixed-layout segment in X12: the element separator is the character right
after "ISA", the repetition separator is ISA11 (from version 00402 on), the component separator
is ISA16 and the segment terminator is the character right after ISA16, optionally followed by a
line ending (CR, LF or CRLF) that is not part of the data.

Detection does not trust the fixed 106-character layout: it counts 16 element separators, so an
ISA whose fields are not padded (a common fault) still yields the right delimiters; the envelope
validator reports the width faults.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.errors import ParseError

__all__ = ["DEFAULT_DELIMITERS", "Delimiters", "IsaHeaderError", "detect", "scan_isa"]

# Characters that may precede the ISA: whitespace, NUL padding, byte-order marks.
LEADING_JUNK = " \t\r\n\x00\x0b\x0c\ufeff"
ISA_ELEMENTS = 16


@dataclass(frozen=True, slots=True)
class Delimiters:
    """Separators of one interchange; `suffix` is the line ending written after each terminator."""

    element: str = "*"
    component: str = ":"
    repetition: str | None = "^"
    terminator: str = "~"
    suffix: str = ""

    def chars(self) -> tuple[str, ...]:
        """Every delimiter character of this set (element, component, repetition, terminator)."""
        if self.repetition is None:
            return (self.element, self.component, self.terminator)
        return (self.element, self.component, self.repetition, self.terminator)


DEFAULT_DELIMITERS = Delimiters()


class IsaHeaderError(ParseError):
    """The ISA header cannot be read; `note_code` is the TA1 note (TA105) that describes why."""

    def __init__(self, message: str, location: str, note_code: str) -> None:
        super().__init__(message, location)
        self.note_code = note_code


def _is_data_char(ch: str) -> bool:
    """True for characters that cannot be delimiters: letters, digits and blanks."""
    return ch.isalnum() or ch.isspace()


def repetition_for(isa11: str, version: str, element: str, component: str,
                   terminator: str) -> str | None:
    """ISA11 as the repetition separator, or None before 00402, for "U"-style values or clashes."""
    if len(isa11) != 1 or _is_data_char(isa11):
        return None
    if not (len(version) == 5 and version.isdigit() and version >= "00402"):
        return None
    if isa11 in (element, component, terminator):
        return None
    return isa11


def scan_isa(text: str, start: int = 0) -> tuple[Delimiters, int]:
    """Delimiters of the ISA at `start` and the index of its segment terminator in `text`."""
    if not text.startswith("ISA", start):
        raise IsaHeaderError("no ISA interchange header found", "ISA", "022")
    if len(text) <= start + 3:
        raise IsaHeaderError("data ends right after 'ISA'", "ISA01", "023")
    sep = text[start + 3]
    if _is_data_char(sep):
        raise IsaHeaderError(f"invalid element separator {sep!r} after ISA", "ISA01", "026")
    pos = start + 3
    # Bound the search: a real ISA is 106 characters; allow generous padding faults.
    limit = min(len(text), start + 400)
    for n in range(1, ISA_ELEMENTS):
        pos = text.find(sep, pos + 1, limit)
        if pos < 0:
            raise IsaHeaderError(f"ISA ends after {n} of 16 elements", f"ISA{n + 1:02d}", "023")
    component_at = pos + 1
    if component_at + 1 >= len(text):
        raise IsaHeaderError("ISA ends before its component separator and segment terminator",
                             "ISA16", "023")
    component = text[component_at]
    terminator = text[component_at + 1]
    if _is_data_char(component) or component == sep:
        raise IsaHeaderError(f"invalid component separator {component!r} in ISA16", "ISA16", "027")
    if (terminator.isalnum() or terminator == " " or terminator in (sep, component)):
        raise IsaHeaderError(f"invalid segment terminator {terminator!r} after ISA16", "ISA16",
                             "004")
    fields = text[start:component_at].split(sep)
    version = fields[12] if len(fields) > 12 else ""
    repetition = repetition_for(fields[11] if len(fields) > 11 else "", version, sep, component,
                                terminator)
    after = text[component_at + 2:component_at + 4]
    if after.startswith("\r\n") and terminator != "\r":
        suffix = "\r\n"
    elif after[:1] in ("\r", "\n") and after[:1] != terminator:
        suffix = after[:1]
    else:
        suffix = ""
    return Delimiters(sep, component, repetition, terminator, suffix), component_at + 1


def detect(data: str | bytes) -> Delimiters:
    """The delimiters declared by the first ISA in `data` (leading whitespace and BOM skipped)."""
    if isinstance(data, bytes | bytearray | memoryview):
        from .reader import decode

        data = decode(bytes(data))
    text = data.lstrip(LEADING_JUNK)
    return scan_isa(text, 0)[0]
