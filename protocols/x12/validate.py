"""Transaction-set validation: structure (loops, order, use counts) and elements, as 997/999 errors.

`validate_set(ts, version)` picks the validator:
- HIPAA implementation versions (GS08 like 004010X098A1 / 005010X222A1; from 005010 on an ST03
  guide takes precedence over GS08) of sets pyx12 has a map for go to pyx12
  (protocols/x12/hipaa.py, maps loaded once per process);
- sets Plexus defines (protocols/x12/sets: 850, 855, 856, 810, 820, 832, 846, 860, 865) are
  walked here against our tables, whatever the (non-HIPAA) version;
- anything else is "transaction set not supported" (AK5/IK5 R with code 1).

The structure walk is a state machine over the compiled loop tables: a stack of open loops, each
with the index of the last matched child and per-child use counts. A segment is looked up from the
innermost open loop outwards; the first match at or after the current child wins (a loop's own
trigger segment starts a new iteration of that loop). Skipping a mandatory child reports AK304 3
(at the position of the segment that revealed it, or of SE at the end); a segment that matches
nowhere is 7 when its id appears earlier in an open loop, 2 when it belongs elsewhere in the set,
6 when it is a known X12 segment the set does not use and 1 when the id is unknown. A set without
SE is not checked for mandatory segments at its (unknown) end.

Decision (AK501): R when the envelope faults the set or any segment is in error (pyx12 does the
same); with `lenient=True` segment/element errors only give E (accepted with errors).
"""

from __future__ import annotations

from .envelope import SetReport
from .reader import Segment, TransactionSet
from .sets import DEFINITION_VERSION, SetDef, definition_for
from .sets.codes import KNOWN_SEGMENT_IDS
from .sets.dsl import LoopDef, SegUse
from .sets.elements import check_elements
from .sets.results import ElementError, SegmentError, SetResult

__all__ = ["ElementError", "SegmentError", "SetResult", "is_hipaa_version", "trailer_codes",
           "validate_set", "walk"]


def is_hipaa_version(version: str) -> bool:
    """True for HIPAA implementation-guide versions: 00x0x0 followed by X and the guide id."""
    return len(version) > 7 and version[6] == "X" and version[:6].isdigit()


def trailer_codes(ts: TransactionSet) -> list[str]:
    """AK502 codes of the ST/SE envelope of one set (used when no envelope report is given)."""
    codes: list[str] = []
    sid, number = ts.set_id, ts.control_number
    if not (len(sid) == 3 and sid.isalnum()):
        codes.append("6")
    if not (4 <= len(number) <= 9) or number != number.strip():
        codes.append("7")
    se = ts.trailer
    if se is None:
        codes.append("2")
    else:
        if se.element(2) != number:
            codes.append("3")
        count = se.element(1)
        if not count.isdigit() or int(count) != len(ts.segments) + 2:
            codes.append("4")
    return codes


def _path(stack: list[list]) -> str:
    """The loop path of the innermost open loop, e.g. "PO1/SCH" ("" in the set body)."""
    return "/".join(frame[0].id for frame in stack[1:])


def _missing(node: LoopDef, k: int, position: int, stack: list[list]) -> SegmentError:
    """AK304 3 for mandatory child `k` of `node` (the innermost open loop of `stack`)."""
    trig = node.triggers[k]
    return SegmentError(trig, position, "3", f"mandatory segment {trig} missing", _path(stack))


def _misplaced(sid: str, sdef: SetDef, stack: list[list]) -> tuple[str, str]:
    """(code, message) for a segment that fits nowhere from the current state."""
    if sid in sdef.body.segment_ids:
        for node, index, _counts in stack:
            if any(k < index for k in node.positions.get(sid, ())):
                return "7", f"{sid} is not in proper sequence"
        return "2", f"{sid} is not expected here"
    if sid in KNOWN_SEGMENT_IDS:
        return "6", f"{sid} is not a segment of transaction set {sdef.id}"
    return "1", f"unrecognized segment id {sid!r}"


def walk(sdef: SetDef, segments: list[Segment], complete: bool = True,
         notes: list[str] | None = None, short_dates: bool = False) -> list[SegmentError]:
    """Structure and element errors of `segments` (between ST and SE) against `sdef`.

    The stack holds [loop, index of the last matched child, per-child use counts] frames."""
    root = sdef.body
    stack: list[list] = [[root, 0, [0] * len(root.children)]]
    errors: list[SegmentError] = []
    position = 1
    for position, seg in enumerate(segments, 2):
        sid = seg.id
        top = depth = len(stack) - 1
        found = -1
        while depth >= 0:
            node, index, counts = stack[depth]
            cands = node.positions.get(sid)
            if cands:
                start = 1 if (index == 0 and depth == top and node.id) else index
                for k in cands:
                    if k >= start:
                        found = k
                        break
                if found >= 0:
                    break
            depth -= 1
        if found < 0:
            code, message = _misplaced(sid, sdef, stack)
            errors.append(SegmentError(sid, position, code, message, _path(stack)))
            continue
        while top > depth:  # leave the inner loops: their mandatory children are due now
            node, index, counts = stack[top]
            for k in node.mandatory:
                if k >= index and not counts[k]:
                    errors.append(_missing(node, k, position, stack))
            stack.pop()
            top -= 1
        frame = stack[top]
        node, index, counts = frame
        if found > index:  # skipped children
            for k in node.mandatory:
                if index <= k < found and not counts[k]:
                    errors.append(_missing(node, k, position, stack))
        frame[1] = found
        counts[found] += 1
        child = node.children[found]
        if isinstance(child, SegUse):
            segdef = child.segment
            if counts[found] > child.max_use:
                errors.append(SegmentError(sid, position, "5", f"{sid} exceeds its maximum "
                                           f"use of {child.max_use}", _path(stack)))
        else:
            if counts[found] > child.repeat:
                errors.append(SegmentError(sid, position, "4", f"loop {child.id} exceeds its "
                                           f"maximum of {child.repeat}", _path(stack)))
            kid_counts = [0] * len(child.children)
            kid_counts[0] = 1
            stack.append([child, 0, kid_counts])
            segdef = child.children[0].segment  # type: ignore[union-attr]
        bad = check_elements(seg, segdef, notes, short_dates)
        if bad:
            errors.append(SegmentError(sid, position, "8", f"{sid} has data element errors",
                                       _path(stack), elements=bad))
    if complete:
        end = position + 1
        while stack:
            node, index, counts = stack[-1]
            for k in node.mandatory:
                if k >= index and not counts[k]:
                    errors.append(_missing(node, k, end, stack))
            stack.pop()
    return errors


def _set_checks(sdef: SetDef, segments: list[Segment], errors: list[SegmentError]) -> None:
    """Run the set's extra checks (856 HL hierarchy) and file their findings as AK3 8 errors."""
    by_position = {e.position: e for e in errors if e.code == "8"}
    for check in sdef.checks:
        for index, pos, code, value, message in check(segments):
            position = index + 2
            seg = segments[index]
            err = by_position.get(position)
            if err is None:
                err = SegmentError(seg.id, position, "8", f"{seg.id} has data element errors")
                by_position[position] = err
                errors.append(err)
            err.elements.append(ElementError(pos, code, "", value[:99], message))
    errors.sort(key=lambda e: (e.position, e.code == "8"))


def _decide(ts: TransactionSet, version: str, validator: str, errors: list[SegmentError],
            envelope_codes: list[str], lenient: bool, notes: list[str]) -> SetResult:
    """The SetResult with its AK501 code and sorted AK502 reasons."""
    codes = set(envelope_codes)
    if errors:
        codes.add("5")
    if codes - {"5"}:
        ack = "R"
    elif errors:
        ack = "E" if lenient else "R"
    else:
        ack = "A"
    ordered = sorted(codes, key=lambda c: (len(c), c))
    return SetResult(ts, version, validator, ack, ordered, errors, notes)


def _guide(ts: TransactionSet, version: str) -> str:
    """The implementation guide of a set: ST03 when it names one (it takes precedence over
    GS08 from 005010 on), else the group's GS08."""
    st03 = ts.header.element(3)
    return st03 if st03 != version and is_hipaa_version(st03) and st03 >= "005010" else version


def validate_set(ts: TransactionSet, version: str, *, envelope: SetReport | None = None,
                 lenient: bool = False) -> SetResult:
    """Validate one transaction set of a group with GS08 `version` (see the module docstring).

    `envelope` is the set's report from envelope.validate_envelope; without it the ST/SE checks
    are done here. `lenient` turns segment/element errors into E instead of R."""
    env = envelope.codes if envelope is not None else trailer_codes(ts)
    notes: list[str] = []
    guide = _guide(ts, version)
    if is_hipaa_version(guide):
        from . import hipaa

        mapped = hipaa.resolve_version(ts.set_id, guide)
        if mapped is not None:
            if mapped != version:
                notes.append(f"validated with pyx12's {mapped} map (group version {version!r})")
            errors, hnotes = hipaa.validate_hipaa_set(ts, mapped)
            return _decide(ts, version, "pyx12", errors, env, lenient, notes + hnotes)
    sdef = definition_for(ts.set_id)
    if sdef is None:
        notes.append(f"transaction set {ts.set_id!r} (version {version!r}) is not supported")
        return _decide(ts, version, "none", [], [*env, "1"], lenient, notes)
    if version[:6] != DEFINITION_VERSION:
        notes.append(f"validated against the {DEFINITION_VERSION} definition of "
                     f"{sdef.id} (group version {version!r})")
    errors = walk(sdef, ts.segments, ts.trailer is not None, notes, version[:3] < "004")
    if sdef.checks:
        _set_checks(sdef, ts.segments, errors)
    return _decide(ts, version, "plexus", errors, env, lenient, notes)
