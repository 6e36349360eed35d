"""Element-level checks of one segment against its SegmentDef (AK4/IK4 errors).

Each SegmentDef is compiled once into a tuple of plain tuples; the per-value work is a few str
method calls (isdigit, isprintable, len), no regular expressions.

Character set: X12's basic and extended character sets plus UTF-8 letters are accepted; control
characters (and a delimiter of the interchange inside a simple element) are AK403 6. A value of
an open code list that is not listed is accepted and only noted.
"""

from __future__ import annotations

from ..reader import Segment
from .dsl import AN, COMPOSITE, DT, ID, NUM0, NUM1, NUM2, TM, CodeList, R, SegmentDef
from .results import ElementError

__all__ = ["check_elements", "valid_date", "valid_time"]

_AN, _ID, _R, _DT, _TM, _N, _C = range(7)
_KIND = {AN: _AN, ID: _ID, R: _R, DT: _DT, TM: _TM, NUM0: _N, NUM1: _N, NUM2: _N,
         COMPOSITE: _C}
_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
# (kind, min, max, required, members, code list, ref, components)
Spec = tuple[int, int, int, bool, frozenset[str] | None, CodeList | None, str, tuple]
# (kind, positions, bits of all positions, bit of the first position, rule text); bit p-1 stands
# for element p, so a rule is checked with a few integer operations on the segment's bitmask of
# non-empty elements
Rule = tuple[str, tuple[int, ...], int, int, str]
# specs, rules, required positions (0-based), their bits, element-presence bitmasks known to
# pass every rule (rules depend only on which elements are present), the definition itself
Compiled = tuple[tuple[Spec, ...], tuple[Rule, ...], tuple[int, ...], int, set[int], SegmentDef]
_CACHE: dict[int, Compiled] = {}
_MAX_CLEAN_MASKS = 512


def valid_date(value: str) -> bool:
    """CCYYMMDD (or YYMMDD) that is a real calendar date."""
    if len(value) not in (6, 8) or not (value.isdigit() and value.isascii()):
        return False
    month, day = int(value[-4:-2]), int(value[-2:])
    if not 1 <= month <= 12 or day < 1 or day > _DAYS[month - 1]:
        return False
    if month == 2 and day == 29:
        year = int(value[:4]) if len(value) == 8 else 2000 + int(value[:2])
        return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    return True


def valid_time(value: str) -> bool:
    """HHMM, HHMMSS or HHMMSSd[d] with real hours, minutes and seconds."""
    if not 4 <= len(value) <= 8 or len(value) == 5 or not (value.isdigit() and value.isascii()):
        return False
    return int(value[:2]) < 24 and int(value[2:4]) < 60 and (len(value) < 6 or
                                                             int(value[4:6]) < 60)


def _spec(e) -> Spec:
    """One element definition as a plain tuple."""
    codes = e.codes
    return (_KIND[e.kind], e.min, e.max, e.required, codes.members if codes else None, codes,
            e.ref, tuple(_spec(c) for c in e.components))


def _compiled(sdef: SegmentDef) -> Compiled:
    """Compiled element specs, syntax rules and required positions of `sdef` (cached)."""
    hit = _CACHE.get(id(sdef))
    if hit is None or hit[5] is not sdef:
        specs = tuple(_spec(e) for e in sdef.elements)
        rules = tuple((kind, pos, sum(1 << (p - 1) for p in pos), 1 << (pos[0] - 1),
                       kind + "".join(f"{p:02d}" for p in pos)) for kind, pos in sdef.rules)
        required = tuple(i for i, e in enumerate(specs) if e[3])
        hit = (specs, rules, required, sum(1 << i for i in required), set(), sdef)
        _CACHE[id(sdef)] = hit
    return hit


def _has_control(value: str) -> bool:
    """True when `value` holds a control character (C0, DEL or C1)."""
    return any(c < " " or "\x7f" <= c <= "\x9f" for c in value)


def _numeric_digits(value: str, decimal: bool) -> int:
    """Digit count of an N/R value (sign and decimal point excluded), -1 when malformed."""
    body = value[1:] if value[:1] == "-" else value
    if decimal and "." in body:
        whole, _, frac = body.partition(".")
        body = whole + frac
        if not body:
            return -1
    if not (body.isdigit() and body.isascii()):
        return -1
    return len(body)


def _check_value(value: str, spec: Spec, delims: str, notes: list[str] | None,
                 where: str, short_dates: bool = False) -> list[tuple[str, str]]:
    """(code, message) faults of one simple value."""
    kind, mn, mx, _req, members, codes, _ref, _comps = spec
    if kind <= _ID:
        out = []
        if not value.isprintable() and _has_control(value):
            out.append(("6", "control character in data"))
        elif delims and any(c in value for c in delims):
            out.append(("6", "delimiter character in data"))
        size = len(value)
        if size < mn:
            out.append(("4", f"shorter than {mn}"))
        elif size > mx:
            out.append(("5", f"longer than {mx}"))
        if members is not None and value not in members:
            assert codes is not None
            if codes.closed:
                out.append(("7", f"not a {codes.name} code"))
            elif notes is not None:
                notes.append(f"{where} {value!r} is not a listed {codes.name} code (accepted)")
        return out
    if kind == _DT:
        ok = (len(value) >= mn or short_dates) and valid_date(value)
        return [] if ok else [("8", "not a valid date")]
    if kind == _TM:
        return [] if len(value) >= mn and valid_time(value) else [("9", "not a valid time")]
    digits = _numeric_digits(value, kind == _R)
    if digits < 0:
        return [("6", "not a number")]
    if digits < mn:
        return [("4", f"fewer than {mn} digits")]
    if digits > mx:
        return [("5", f"more than {mx} digits")]
    return []


def _rule_errors(rules: tuple[Rule, ...], specs: tuple[Spec, ...], values: list[str],
                 present: int) -> list[ElementError]:
    """Faults of the segment's syntax notes (P, R, E, C, L); `present` has bit p-1 set for
    each non-empty element p."""
    out: list[ElementError] = []
    for kind, positions, bits, first, rule in rules:
        here = present & bits
        if kind == "P":
            if not here or here == bits:
                continue
            missing = [p for p in positions if not here >> (p - 1) & 1]
        elif kind == "R":
            if here:
                continue
            missing = [positions[0]]
        elif kind == "C":
            if not here & first or here == bits:
                continue
            missing = [p for p in positions[1:] if not here >> (p - 1) & 1]
        elif kind == "L":
            if here != first:
                continue
            missing = [positions[1]]
        else:  # E: at most one of them
            if here & (here - 1) == 0:
                continue
            p = [p for p in positions if here >> (p - 1) & 1][1]
            out.append(ElementError(p, "10", specs[p - 1][6], values[p - 1][:99],
                                    f"exclusion {rule}"))
            continue
        for p in missing:
            out.append(ElementError(p, "2", specs[p - 1][6], "", f"required by syntax rule {rule}"))
    return out


def check_elements(seg: Segment, sdef: SegmentDef, notes: list[str] | None = None,
                   short_dates: bool = False) -> list[ElementError]:
    """Element errors of `seg` against `sdef`; unknown codes of open lists go to `notes`;
    `short_dates` accepts YYMMDD dates (versions before 004010)."""
    hit = _CACHE.get(id(sdef))
    if hit is None or hit[5] is not sdef:
        hit = _compiled(sdef)
    specs, rules, required, required_bits, clean, _sdef = hit
    values = seg.elements
    count = len(specs)
    d = seg.delimiters
    comp = d.component
    rep = d.repetition or ""
    # one look at the whole segment: printable and free of separators (the usual case) spares
    # those checks per value
    text = "".join(values)
    plain = text.isprintable() and comp not in text and (not rep or rep not in text)
    out: list[ElementError] = []
    present = 0
    for i, value in enumerate(values):
        if not value:
            continue
        present |= 1 << i
        if i >= count:
            out.append(ElementError(i + 1, "3", "", value[:99], f"{seg.id} has {count} elements"))
            break
        spec = specs[i]
        kind, mn, mx, _req, members, _codes, ref, _comps = spec
        # fast paths: the common, valid values cost a few C-level str calls
        if kind <= _ID:
            if (mn <= len(value) <= mx and (members is None or value in members)
                    and (plain or (value.isprintable() and comp not in value
                                   and (not rep or rep not in value)))):
                continue
        elif kind == _N:
            if mn <= len(value) <= mx and value.isdigit() and value.isascii():
                continue
        elif kind == _R:
            body = value.replace(".", "", 1)  # the digits of 12.34 (a sign takes the slow path)
            if mn <= len(body) <= mx and body.isdigit() and body.isascii():
                continue
        elif kind == _DT:
            if len(value) == 8 and valid_date(value):
                continue
        if rep and rep in value:
            out.append(ElementError(i + 1, "12", ref, value[:99], "element does not repeat"))
            continue
        where = f"{seg.id}{i + 1:02d}"
        if kind == _C:
            out.extend(_check_composite(value, spec, comp, rep, notes, where, i + 1,
                                        short_dates))
            continue
        for code, message in _check_value(value, spec, comp + rep, notes, where, short_dates):
            out.append(ElementError(i + 1, code, ref, value[:99], message))
    if required_bits & ~present:
        for i in required:
            if i >= len(values) or not values[i]:
                out.append(ElementError(i + 1, "1", specs[i][6], "", "mandatory element missing"))
    if rules and present not in clean:
        found = _rule_errors(rules, specs, values, present)
        if found:
            out.extend(found)
        elif len(clean) < _MAX_CLEAN_MASKS:
            clean.add(present)
    if len(out) > 1:
        out.sort(key=lambda e: (e.position, e.component or 0))
    return out


def _check_composite(value: str, spec: Spec, comp: str, rep: str, notes: list[str] | None,
                     where: str, position: int, short_dates: bool) -> list[ElementError]:
    """Errors of a composite's components (AK401 position:component)."""
    parts = value.split(comp)
    comps = spec[7]
    out: list[ElementError] = []
    if len(parts) > len(comps) and any(parts[len(comps):]):
        out.append(ElementError(position, "3", spec[6], value[:99], "too many components",
                                component=len(comps) + 1))
    for k, cspec in enumerate(comps):
        part = parts[k] if k < len(parts) else ""
        if not part:
            if cspec[3]:
                out.append(ElementError(position, "1", cspec[6], "", "mandatory component "
                                        "missing", component=k + 1))
            continue
        for code, message in _check_value(part, cspec, rep, notes, f"{where}-{k + 1}",
                                          short_dates):
            out.append(ElementError(position, code, cspec[6], part[:99], message,
                                    component=k + 1))
    return out
