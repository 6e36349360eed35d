"""TA1 interchange acknowledgments, and the rule never to acknowledge an acknowledgment.

A TA1 answers one inbound interchange: it goes back in its own interchange (ISA with sender and
receiver swapped, ISA14 = 0 because nobody acknowledges a TA1), with one segment
TA1*<ISA13>*<ISA09>*<ISA10>*<A|E|R>*<note>, and IEA*0 (a TA1 is not a functional group).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from engine.errors import ParseError

from .delimiters import DEFAULT_DELIMITERS, LEADING_JUNK, Delimiters, IsaHeaderError
from .envelope import TA1_NOTES, EnvelopeReport
from .reader import Interchange, Segment, decode
from .writer import build_interchange, encode

__all__ = ["build_ta1", "build_ta1_for_report", "build_ta1_unreadable", "is_acknowledgment",
           "needs_ta1"]

Accepted = bool | Literal["E"]


def is_acknowledgment(ic: Interchange) -> bool:
    """True for an interchange of acknowledgments only: TA1s and no groups, or only FA groups."""
    if ic.groups:
        return all(g.functional_id == "FA" for g in ic.groups)
    return bool(ic.ta1_segments)


def needs_ta1(report: EnvelopeReport) -> bool:
    """True when ISA14 = 1 or the envelope has faults, unless it answers an acknowledgment."""
    if is_acknowledgment(report.interchange):
        return False
    return report.interchange.ack_requested or bool(report.faults)


def _ack_code(accepted: Accepted) -> str:
    """TA104 from `accepted`: True -> A, "E" -> E, False -> R."""
    if accepted == "E":
        return "E"
    if isinstance(accepted, bool):
        return "A" if accepted else "R"
    raise ValueError(f"accepted must be True, False or 'E', not {accepted!r}")


def _ta1_interchange(ta1: Segment, sender: tuple[str, str], receiver: tuple[str, str],
                     our_control_number: int, now: datetime, usage: str, version: str,
                     delimiters: Delimiters) -> str:
    """The TA1 wrapped in its ISA/IEA."""
    ic = build_interchange(sender, receiver, [], our_control_number, when=now, usage=usage,
                           version=version, delimiters=delimiters, ta1_segments=[ta1])
    return encode(ic)


def _control_number(value: str) -> str:
    """TA101: the inbound ISA13, zero-filled to 9 digits when it is a shorter number."""
    value = value.strip()
    return value.zfill(9) if value.isdigit() and len(value) < 9 else value


def _version(value: str) -> str:
    """The inbound ISA12 when it names a real version, else 00401."""
    ok = len(value) == 5 and value.isdigit() and value[:2] == "00" and "2" <= value[2] <= "9"
    return value if ok else "00401"


def build_ta1(ic: Interchange, note_code: str = "000", accepted: Accepted = True,
              our_control_number: int = 1, now: datetime | None = None, *,
              sender: tuple[str, str] | None = None, receiver: tuple[str, str] | None = None,
              usage: str | None = None) -> str:
    """TA1 interchange answering `ic`, from its receiver (or `sender`) with its delimiters."""
    if note_code not in TA1_NOTES:
        raise ValueError(f"unknown TA1 note code {note_code!r}")
    now = now or datetime.now()
    ours = sender or (ic.receiver_qualifier[:2], ic.receiver_id[:15])
    theirs = receiver or (ic.sender_qualifier[:2], ic.sender_id[:15])
    d = ic.delimiters
    ta1 = Segment("TA1", [_control_number(ic.control_number), ic.isa.element(9).strip(),
                          ic.isa.element(10).strip(), _ack_code(accepted), note_code], d)
    version = _version(ic.version)
    if version < "00402" or not d.repetition:
        d = Delimiters(d.element, d.component, None, d.terminator, d.suffix)
    use = usage or (ic.usage if ic.usage in ("P", "T", "I") else "P")
    return _ta1_interchange(ta1, ours, theirs, our_control_number, now, use, version, d)


def build_ta1_for_report(report: EnvelopeReport, our_control_number: int,
                         now: datetime | None = None, **options: object) -> str:
    """build_ta1 with the note code and TA104 taken from an envelope report."""
    code = report.ta1_ack_code
    accepted: Accepted = True if code == "A" else ("E" if code == "E" else False)
    return build_ta1(report.interchange, report.ta1_note, accepted, our_control_number, now,
                     **options)  # type: ignore[arg-type]


def build_ta1_unreadable(data: bytes | str, error: ParseError, our_control_number: int,
                         now: datetime | None = None, *,
                         sender: tuple[str, str] | None = None,
                         receiver: tuple[str, str] | None = None) -> str | None:
    """Rejecting TA1 for an unreadable ISA, with salvaged ids; None when the data is not X12."""
    text = decode(bytes(data)) if not isinstance(data, str) else data
    text = text.lstrip(LEADING_JUNK)
    if not text.startswith("ISA"):
        return None
    note = error.note_code if isinstance(error, IsaHeaderError) else "022"
    sep = text[3] if len(text) > 3 and not text[3].isalnum() else "*"
    head = text[:text.find("\n", 0, 200) if "\n" in text[:200] else 200]
    fields = head.split(sep)
    fields += [""] * (17 - len(fields))

    def pick(n: int, width: int) -> str:
        """Field n of the broken ISA, stripped and cut to its width."""
        value = "".join(c for c in fields[n].strip() if c.isalnum() or c in " -.")
        return value[:width]

    theirs = receiver or (pick(5, 2) or "ZZ", pick(6, 15) or "UNKNOWN")
    ours = sender or (pick(7, 2) or "ZZ", pick(8, 15) or "UNKNOWN")
    number = pick(13, 9)
    date, time = pick(9, 6), pick(10, 4)
    now = now or datetime.now()
    d = DEFAULT_DELIMITERS
    d = Delimiters(d.element, d.component, None, d.terminator, "")
    ta1 = Segment("TA1", [number.zfill(9) if number.isdigit() else "000000000",
                          date if date.isdigit() and len(date) == 6 else now.strftime("%y%m%d"),
                          time if time.isdigit() and len(time) == 4 else now.strftime("%H%M"),
                          "R", note], d)
    usage = pick(15, 1) if pick(15, 1) in ("P", "T", "I") else "P"
    return _ta1_interchange(ta1, ours, theirs, our_control_number, now, usage, "00401", d)
