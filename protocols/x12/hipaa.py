"""pyx12 bridge: HIPAA transaction sets (835, 837, 834, 820, 270-278...) validated by pyx12's maps.

How it is driven (and why): pyx12's `x12n_document` reloads its XML maps on every call (~335 ms
for an 837) and can only write a 997/999 for a whole file, with its own control numbers, dates
and visitor bugs (a 999 for a set without ST03 raises "err_st.vriic was not set"). We use its
pieces instead, per transaction set:
- maps are loaded ONCE per process (module-level cache keyed by map file name, plus the control
  maps and the map index); pyx12's map objects are not mutated by validation (the walk state
  lives in a fresh `walk_tree` per run), so one loaded map serves every set;
- each set is wrapped in a synthetic, well-formed interchange (our ISA/GS, the set's own
  segments, an SE with the right count, GE, IEA) written with the inbound delimiters, and fed to
  pyx12's X12Reader + walk_tree + segment validation, exactly the loop x12n_document runs;
- the set's error nodes are read from pyx12's error tree (segments, codes, element positions,
  reference numbers, bad values) and returned as our SegmentError/ElementError, so the ack
  builder writes the 997/999 itself. Envelope faults (ISA/GS/ST/SE) come from envelope.py, not
  from pyx12, because the wrapper envelope is ours.
999 CTX business-unit context is added for 837 (CLM01) and 835 (CLP01) errors inside a claim.
"""

from __future__ import annotations

import io
import logging
import threading
from typing import Any

from .reader import TransactionSet
from .sets.results import ElementError, SegmentError

__all__ = ["map_file_for", "pyx12_ack", "resolve_version", "supports", "validate_hipaa_set"]

# GS01 functional identifier for each HIPAA set id (pyx12's map index is keyed by it).
FUNCTIONAL_IDS = {"270": "HS", "271": "HB", "276": "HR", "277": "HN", "278": "HI", "820": "RA",
                  "834": "BE", "835": "HP", "837": "HC", "841": "SP", "830": "PS"}
_SEG_CODES = frozenset("12345678") | {"I4", "I6", "I7", "I8", "I9"}
_ELE_CODES = frozenset(("1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "12", "13", "I6",
                        "I9", "I10", "I11", "I12", "I13"))
_lock = threading.Lock()
_state: dict[str, Any] = {}
_maps: dict[str, Any] = {}


def _pyx12() -> dict[str, Any]:
    """pyx12's params and map index, created once."""
    if not _state:
        with _lock:
            if not _state:
                import pyx12.map_index
                import pyx12.params

                logging.getLogger("pyx12").setLevel(logging.CRITICAL)
                _state["index"] = pyx12.map_index.map_index()
                _state["param"] = pyx12.params.params()
    return _state


def _load(map_file: str) -> Any:
    """A pyx12 map, loaded once per process."""
    hit = _maps.get(map_file)
    if hit is None:
        import pyx12.map_if

        param = _pyx12()["param"]  # outside the lock: _pyx12 takes it too (not reentrant)
        with _lock:
            hit = _maps.get(map_file)
            if hit is None:
                hit = pyx12.map_if.load_map_file(map_file, param)
                _maps[map_file] = hit
    return hit


def _icvn(version: str) -> str:
    """The ISA12 control version pyx12 expects for a GS08 version."""
    return "00501" if version.startswith("005") else "00401"


def map_file_for(set_id: str, version: str, tspc: str | None = None) -> str | None:
    """The pyx12 map file for a set id and GS08 version (and 278 BHT02), or None."""
    fic = FUNCTIONAL_IDS.get(set_id)
    if fic is None:
        return None
    return _pyx12()["index"].get_filename(_icvn(version), version, fic, tspc)


def supports(set_id: str, version: str) -> bool:
    """True when pyx12 has a map for this set id and version."""
    return map_file_for(set_id, version) is not None


def resolve_version(set_id: str, version: str) -> str | None:
    """The version whose pyx12 map validates this set: `version` itself, or its first addenda
    pyx12 ships (005010X222 -> 005010X222A1, 005010X223 -> 005010X223A2); None when none."""
    if supports(set_id, version):
        return version
    if version[-2:-1] != "A":
        for addenda in ("A1", "A2", "A3"):
            if supports(set_id, version + addenda):
                return version + addenda
    return None


def _repetition(ts: TransactionSet, icvn: str) -> str:
    """ISA11 for the wrapper: the inbound repetition separator (5010) or U (4010)."""
    d = ts.header.delimiters
    if icvn < "00402":
        return "U"
    if d.repetition:
        return d.repetition
    return next(c for c in "^!|{}" if c not in d.chars())


def _wrap(ts: TransactionSet, version: str, fic: str) -> str:
    """A minimal interchange holding only `ts`, in the set's own delimiters."""
    d = ts.header.delimiters
    sep, icvn = d.element, _icvn(version)
    isa = sep.join(["ISA", "00", " " * 10, "00", " " * 10, "ZZ", "PLEXUS".ljust(15), "ZZ",
                    "PLEXUS".ljust(15), "000101", "1200", _repetition(ts, icvn), icvn,
                    "000000001", "0", "P", d.component])
    lines = [isa, sep.join(["GS", fic, "PLEXUS", "PLEXUS", "20000101", "1200", "1", "X", version]),
             ts.header.text(), *(s.text() for s in ts.segments),
             sep.join(["SE", str(len(ts.segments) + 2), ts.header.element(2)]),
             sep.join(["GE", "1", "1"]), sep.join(["IEA", "1", "000000001"])]
    end = d.terminator if d.terminator in "\r\n" else d.terminator + "\n"
    return end.join(lines) + end


def _run(text: str, version: str, set_id: str) -> Any:
    """x12n_document's validation loop with cached maps; returns pyx12's error handler."""
    import pyx12.error_handler
    import pyx12.x12file
    from pyx12.map_if._segment import apply_segment_errors
    from pyx12.map_walker import apply_walk_errors, walk_tree

    src = pyx12.x12file.X12Reader(io.StringIO(text))
    errh = pyx12.error_handler.err_handler()
    control = _load("x12.control.00501.xml" if src.icvn == "00501" else "x12.control.00401.xml")
    node = control.getnodebypath("/ISA_LOOP/ISA")
    walker = walk_tree()
    cur_map = _load(map_file_for(set_id, version) or "")
    src.check_837_lx = cur_map.id == "837"
    for seg in src:
        orig = node
        sid = seg.get_seg_id()
        if sid == "ISA":
            node = control.getnodebypath("/ISA_LOOP/ISA")
            walker.forceWalkCounterToLoopStart("/ISA_LOOP", "/ISA_LOOP/ISA")
        elif sid == "GS":
            node = control.getnodebypath("/ISA_LOOP/GS_LOOP/GS")
            walker.forceWalkCounterToLoopStart("/ISA_LOOP/GS_LOOP", "/ISA_LOOP/GS_LOOP/GS")
        else:
            node, _pop, _push, walk_errors = walker.walk_errors(
                node, seg, src.get_seg_count(), src.get_cur_line(), src.get_ls_id())
            apply_walk_errors(errh, walk_errors)
        if node is None:
            node = orig
            continue
        if sid == "ISA":
            errh.add_isa_loop(seg, src)
        elif sid == "IEA":
            errh.close_isa_loop(node, seg, src)
        elif sid == "GS":
            node = cur_map.getnodebypath("/ISA_LOOP/GS_LOOP/GS")
            errh.add_gs_loop(seg, src)
        elif sid == "BHT" and set_id == "278" and version.startswith("004010X094"):
            tspc_map = map_file_for(set_id, version, seg.get_value("BHT02"))
            if tspc_map:
                cur_map = _load(tspc_map)
                node = cur_map.getnodebypath("/ISA_LOOP/GS_LOOP/ST_LOOP/HEADER/BHT")
            errh.add_seg(node, seg, src.get_seg_count(), src.get_cur_line(), src.get_ls_id())
        elif sid == "GE":
            errh.close_gs_loop(node, seg, src)
        elif sid == "ST":
            errh.add_st_loop(seg, src)
        elif sid == "SE":
            errh.close_st_loop(node, seg, src)
        else:
            errh.add_seg(node, seg, src.get_seg_count(), src.get_cur_line(), src.get_ls_id())
        errh.handle_errors(src.pop_errors())
        apply_segment_errors(node, seg, errh)
    src.cleanup()
    errh.handle_errors(src.pop_errors())
    return errh


def _errors_from(err_st: Any) -> list[SegmentError]:
    """Our SegmentErrors from pyx12's ST error node (same codes its 997/999 visitors write)."""
    out: list[SegmentError] = []
    for node in err_st.children:
        codes = list(dict.fromkeys("8" if e[0] == "SEG1" else e[0] for e in node.errors))
        elements = []
        for ele in node.elements:
            for code, text, bad in ele.errors:
                if code in _ELE_CODES:
                    elements.append(ElementError(ele.ele_pos, code, ele.ele_ref_num or "",
                                                 bad or "", text, ele.subele_pos or None,
                                                 ele.repeat_pos or None))
        if elements and "8" not in codes:
            codes.append("8")
        ls_id = node.ls_id or ""
        for code in sorted((c for c in codes if c in _SEG_CODES), key=lambda c: c == "8"):
            messages = [e[1] for e in node.errors if e[0] == code] or [f"{node.seg_id} in error"]
            out.append(SegmentError(node.seg_id, node.seg_count, code, messages[0], "", ls_id,
                                    elements if code == "8" else []))
    return out


# 999 CTX business units: set id -> (segment that opens a unit, element, segments that close it)
_UNITS = {"837": ("CLM", 1, frozenset(("HL",))), "835": ("CLP", 1, frozenset(("LX", "PLB")))}


def _add_context(ts: TransactionSet, errors: list[SegmentError]) -> None:
    """Attach CTX business-unit identifiers (CLM01 / CLP01) to errors inside a claim."""
    unit = _UNITS.get(ts.set_id)
    if unit is None or not errors:
        return
    opener, element, closers = unit
    current: list[tuple[str, str] | None] = [None] * (len(ts.segments) + 3)
    active: tuple[str, str] | None = None
    for i, seg in enumerate(ts.segments):
        if seg.id == opener:
            active = (f"{opener}{element:02d}", seg.element(element)[:35])
        elif seg.id in closers:
            active = None
        current[i + 2] = active
    for err in errors:
        ctx = current[err.position] if 0 <= err.position < len(current) else None
        if ctx and ctx[1]:
            err.context.append(ctx)


def validate_hipaa_set(ts: TransactionSet, version: str) -> tuple[list[SegmentError], list[str]]:
    """pyx12's segment/element errors for one HIPAA set, and notes (empty unless pyx12 failed)."""
    fic = FUNCTIONAL_IDS[ts.set_id]
    try:
        errh = _run(_wrap(ts, version, fic), version, ts.set_id)
        isa = errh.children[0] if errh.children else None
        gs = isa.children[0] if isa is not None and isa.children else None
        st = gs.children[0] if gs is not None and gs.children else None
    except Exception as exc:  # pyx12 raises EngineError and assorted bugs on odd data
        return [], [f"pyx12 could not validate this set: {type(exc).__name__}: {exc}"]
    if st is None:
        return [], ["pyx12 produced no result for this set"]
    errors = _errors_from(st)
    notes: list[str] = []
    if ts.trailer is None and any(e.code == "3" for e in errors):
        errors = [e for e in errors if e.code != "3"]
        notes.append("SE missing: mandatory-segment checks skipped for the truncated set")
    _add_context(ts, errors)
    return errors, notes


def pyx12_ack(data: str | bytes) -> str:
    """pyx12's own 997/999 for a whole document via x12n_document (reference; slow, reloads
    its maps on every call)."""
    import pyx12.params
    import pyx12.x12n_document

    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    out = io.StringIO()
    pyx12.x12n_document.x12n_document(pyx12.params.params(), io.StringIO(text), out, None)
    return out.getvalue()
