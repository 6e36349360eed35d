"""HL7 v2 acknowledgments: original (AA/AE/AR) and enhanced-mode commit (CA/CE/CR) ACKs."""

from __future__ import annotations

import functools
import itertools
import os
import re
import time
from datetime import datetime
from typing import Literal

from engine.errors import ParseError

from .escaping import Separators, escape
from .message import Hl7Message, split_segments
from .paths import error_location as _erl
from .paths import error_location_v23

__all__ = ["ACK_CODES", "ERROR_CODES", "ack_code", "ack_mode", "build_ack", "is_ack"]

ACK_CODES = frozenset(("AA", "AE", "AR", "CA", "CE", "CR"))
ERROR_CODES = {
    "0": "Message accepted",
    "100": "Segment sequence error",
    "101": "Required field missing",
    "102": "Data type error",
    "103": "Table value not found",
    "104": "Value too long",
    "200": "Unsupported message type",
    "201": "Unsupported event code",
    "202": "Unsupported processing id",
    "203": "Unsupported version id",
    "204": "Unknown key identifier",
    "205": "Duplicate key identifier",
    "206": "Application record locked",
    "207": "Application internal error",
}
"""HL7 table 0357, message error condition codes."""

DEFAULT_VERSION = "2.5.1"
MSA3_MAX = 80  # MSA-3 is ST(80)
ERR8_MAX = 250
_VERSION_RE = re.compile(r"2\.\d{1,2}(?:\.\d{1,2})?")
_TRIGGER_RE = re.compile(r"[A-Z0-9]{3}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_OUTCOMES = {"accept": ("AA", "CA"), "error": ("AE", "CE"), "reject": ("AR", "CR")}

# ACK control ids: a random per-process prefix and a counter (unique, cheap: no uuid per ACK)
_ACK_PREFIX = os.urandom(5).hex().upper()
_ack_counter = itertools.count(1)


def _next_ack_id() -> str:
    """A unique MSH-10 for an ACK (20 characters at most)."""
    return f"{_ACK_PREFIX}{next(_ack_counter):010d}"


@functools.lru_cache(maxsize=2)
def _stamp_of(second: int) -> str:
    """Local time of a Unix second as YYYYMMDDHHMMSS."""
    return datetime.fromtimestamp(second).strftime("%Y%m%d%H%M%S")


def _stamp_now() -> str:
    """The current local time as YYYYMMDDHHMMSS, formatted once per second."""
    return _stamp_of(int(time.time()))


def is_ack(msg: Hl7Message) -> bool:
    """True for acknowledgments (MSH-9.1 ACK or an MSA segment): never acknowledge those."""
    return msg.message_code.strip().upper() == "ACK" or bool(msg.segments("MSA"))


def ack_mode(msg: Hl7Message | None) -> Literal["original", "enhanced"]:
    """'enhanced' when MSH-15 or MSH-16 is valued, else 'original'."""
    if msg is None:
        return "original"
    if msg.accept_ack_type.strip() or msg.application_ack_type.strip():
        return "enhanced"
    return "original"


def ack_code(outcome: Literal["accept", "error", "reject"], msg: Hl7Message | None) -> str:
    """AA/AE/AR in original mode, CA/CE/CR (commit acknowledgment) in enhanced mode."""
    try:
        original, enhanced = _OUTCOMES[outcome]
    except KeyError:
        raise ValueError(f"outcome must be accept, error or reject, not {outcome!r}") from None
    return enhanced if ack_mode(msg) == "enhanced" else original


def _version_tuple(version: str) -> tuple[int, ...]:
    """'2.3.1' -> (2, 3, 1)."""
    return tuple(int(p) for p in version.split("."))


class _Header:
    """What an ACK needs from the message it answers."""

    def __init__(self, seps: Separators) -> None:
        self.seps = seps
        self.sending_app = self.sending_fac = self.receiving_app = self.receiving_fac = ""
        self.control_id = self.trigger = self.charset = ""
        self.processing = "P"
        self.version = DEFAULT_VERSION

    @classmethod
    def from_message(cls, msg: Hl7Message) -> _Header:
        """Copy the routing fields (raw, so they keep their escapes and components)."""
        h = cls(msg.separators)
        h.sending_app, h.sending_fac = msg.msh_raw(3), msg.msh_raw(4)
        h.receiving_app, h.receiving_fac = msg.msh_raw(5), msg.msh_raw(6)
        h.control_id = msg.msh_raw(10)
        trigger = msg.msh_raw(9, 2).strip()
        h.trigger = trigger if _TRIGGER_RE.fullmatch(trigger) else ""
        h.processing = msg.msh_raw(11).strip() or "P"
        version = msg.version.strip()
        h.version = version if _VERSION_RE.fullmatch(version) else DEFAULT_VERSION
        h.charset = msg.msh_raw(18)
        return h

    @classmethod
    def salvage(cls, raw: str | None) -> _Header:
        """Best effort from text whose MSH could not be parsed: split the first line on '|'."""
        h = cls(Separators())
        if not raw:
            return h
        try:
            first = split_segments(raw)[0]
        except Exception:  # noqa: BLE001 - anything odd: nothing to salvage
            return h
        if not first.startswith("MSH"):
            return h
        try:  # the MSH line alone may be fine (the error was further down)
            return cls.from_message(Hl7Message.parse(first))
        except ParseError:
            pass
        fields = first.split("|")  # HL7 field n is fields[n - 1]

        def take(n: int) -> str:
            return _CONTROL.sub("", fields[n - 1])[:100] if len(fields) >= n else ""

        def components(value: str) -> str:
            return "^".join(escape(part, h.seps) for part in value.split("^"))

        h.sending_app, h.sending_fac = components(take(3)), components(take(4))
        h.receiving_app, h.receiving_fac = components(take(5)), components(take(6))
        h.control_id = escape(take(10)[:40], h.seps)
        trigger = take(9).split("^")[1:2]
        h.trigger = trigger[0] if trigger and _TRIGGER_RE.fullmatch(trigger[0]) else ""
        processing = take(11).split("^")[0].strip()
        h.processing = processing if processing in ("P", "D", "T") else "P"
        version = take(12).split("^")[0].strip()
        h.version = version if _VERSION_RE.fullmatch(version) else DEFAULT_VERSION
        return h


def _clean_text(text: str, limit: int) -> str:
    """One-line, bounded human text (before escaping)."""
    text = " ".join(_CONTROL.sub(" ", text or "").split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def build_ack(original: Hl7Message | None, code: str, *, text: str = "",
              error_location: str | None = None, error_code: str | None = None,
              control_id: str | None = None, now: datetime | None = None,
              raw_fallback: str | None = None) -> str:
    """The ACK (CR-separated, CR-terminated) answering `original` with MSA-1 = `code`."""
    code = code.strip().upper()
    if code not in ACK_CODES:
        raise ValueError(f"acknowledgment code must be one of {sorted(ACK_CODES)}, not {code!r}")
    head = _Header.from_message(original) if original is not None else _Header.salvage(
        raw_fallback)
    seps = head.seps
    fs, cs, ss = seps.field, seps.component, seps.subcomponent
    version = _version_tuple(head.version)
    if not head.trigger:
        msh9 = "ACK"
    elif version >= (2, 3, 1):
        msh9 = cs.join(("ACK", head.trigger, "ACK"))
    else:
        msh9 = cs.join(("ACK", head.trigger))
    stamp = now.strftime("%Y%m%d%H%M%S") if now is not None else _stamp_now()
    own_id = escape(control_id, seps) if control_id else _next_ack_id()
    msh = ["MSH", seps.encoding_characters, head.receiving_app, head.receiving_fac,
           head.sending_app, head.sending_fac, stamp, "", msh9, own_id, head.processing,
           head.version]
    if head.charset:
        msh += ["", "", "", "", "", head.charset]
    msa = ["MSA", code, head.control_id]
    short = _clean_text(text, MSA3_MAX)
    if short and version < (2, 7):  # MSA-3 was withdrawn in v2.7
        msa.append(escape(short, seps))
    segments = [fs.join(msh), fs.join(msa)]
    if code not in ("AA", "CA"):
        err_code = (error_code or "207").strip()
        err_text = escape(ERROR_CODES.get(err_code, ""), seps)
        err_code = escape(err_code, seps)
        if version >= (2, 5):
            location = cs.join(_erl(error_location).split("^"))
            user_text = escape(_clean_text(text, ERR8_MAX), seps)
            err = ["ERR", "", location, cs.join((err_code, err_text, "HL70357")), "E",
                   "", "", "", user_text]
            while err[-1] == "":
                err.pop()
        else:
            eld = error_location_v23(error_location)
            eld.append(ss.join((err_code, err_text, "HL70357")))
            err = ["ERR", cs.join(eld)]
        segments.append(fs.join(err))
    return "\r".join(segments) + "\r"
