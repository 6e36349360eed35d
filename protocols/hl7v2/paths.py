"""Terser-style HL7 v2 paths: ``PID-3``, ``PID-3.1.2``, ``OBX[2]-5``, ``PID-3(2).1``."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import NamedTuple

MAX_INDEX = 10_000
"""Largest segment occurrence, field, repetition, component or subcomponent number accepted."""

_PATH_RE = re.compile(
    r"([A-Z0-9]{3})(?:\[(\d+)\])?-(\d+)(?:\((\d+)\))?(?:\.(\d+)(?:\.(\d+))?)?")
_SEGMENT_RE = re.compile(r"([A-Z0-9]{3})(?:\[(\d+)\])?")


class Path(NamedTuple):
    """A parsed path; every number is 1-based, None when the path does not name it."""

    segment: str
    occurrence: int
    field: int
    repetition: int | None
    component: int | None
    subcomponent: int | None


def _number(text: str | None, path: str) -> int | None:
    """A 1-based index from the path, range-checked."""
    if text is None:
        return None
    value = int(text)
    if not 1 <= value <= MAX_INDEX:
        raise ValueError(f"index {value} out of range 1..{MAX_INDEX} in HL7 path {path!r}")
    return value


@lru_cache(maxsize=4096)
def parse_path(path: str) -> Path:
    """Parse ``SEG[n]-field(rep).component.subcomponent``; ValueError if malformed."""
    if not isinstance(path, str):
        raise ValueError(f"HL7 path must be a string, not {type(path).__name__}")
    m = _PATH_RE.fullmatch(path.strip())
    if m is None:
        raise ValueError(f"invalid HL7 path {path!r} (expected e.g. PID-3, PID-3.1.2, "
                         "OBX[2]-5, PID-3(2).1)")
    seg, occ, fld, rep, comp, sub = m.groups()
    occurrence = _number(occ, path) or 1
    field = _number(fld, path)
    assert field is not None
    return Path(seg, occurrence, field, _number(rep, path), _number(comp, path),
                _number(sub, path))


def error_location(location: str | None) -> str:
    """An ERR-2 (ERL) value ``SEG^seq^field^rep^comp^sub`` for a location like PID-3.1."""
    if not location:
        return ""
    text = location.strip()
    try:
        p = parse_path(text)
    except ValueError:
        m = _SEGMENT_RE.fullmatch(text)
        if m is None:
            return ""
        return f"{m.group(1)}^{m.group(2) or 1}"
    parts = [p.segment, str(p.occurrence), str(p.field)]
    if p.component is not None or p.repetition is not None:
        parts.append(str(p.repetition or 1))
    if p.component is not None:
        parts.append(str(p.component))
        if p.subcomponent is not None:
            parts.append(str(p.subcomponent))
    return "^".join(parts)


def error_location_v23(location: str | None) -> list[str]:
    """The first three ELD components (segment, sequence, field) for a v2.3 ERR-1."""
    erl = error_location(location)
    parts = erl.split("^")[:3] if erl else []
    return parts + [""] * (3 - len(parts))
