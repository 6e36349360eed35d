"""On-demand HL7 v2 structure validation with hl7apy; slow (tens of msg/s): not on the reactor."""

from __future__ import annotations

import re
import traceback
from collections import deque
from functools import lru_cache
from typing import Any, Literal, NamedTuple

from hl7apy import SUPPORTED_LIBRARIES, load_reference
from hl7apy import exceptions as hx
from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.parser import get_message_info, parse_segment
from hl7apy.validation import Validator
from pydantic import Field

from engine.connector import StrictModel
from engine.errors import ValidationError

from .profile import load_profile

__all__ = ["StructureError", "StructureValidationConfig", "StructureValidator"]

_VERSIONS = ", ".join(sorted(SUPPORTED_LIBRARIES, key=lambda v: [int(p) for p in v.split(".")]))
_SEGMENT_ID = re.compile(r"[A-Z][A-Z0-9]{2}")
_NOT_VALID = re.compile(r"(?:(.*) is not an HL7 valid (\w+) value|Invalid value for (\w+) data)",
                        re.S)
_VALIDATOR = re.compile(r"(Missing required child|Child limit exceeded) (\S+)\.(\S+)$"
                        r"|Invalid children detected for <\w+ (\w+)"
                        r"|Datatype (\S+) is not correct for (\S+)\.(\S+) ")
_SAME_AS = {  # trigger events sharing another event's structure (HL7 table 0354), v2.3-v2.8
    **dict.fromkeys(("ADT_A04", "ADT_A08", "ADT_A13"), ("ADT_A01",)),
    **dict.fromkeys(("ADT_A05", "ADT_A14", "ADT_A28", "ADT_A31"), ("ADT_A05", "ADT_A01")),
    "ADT_A07": ("ADT_A06",), "ADT_A10": ("ADT_A09",), "ADT_A11": ("ADT_A09",),
    "ADT_A12": ("ADT_A12", "ADT_A09"), "ADT_A44": ("ADT_A43",), "ADT_A51": ("ADT_A50",),
    **dict.fromkeys(("ADT_A22", "ADT_A23", "ADT_A25", "ADT_A26", "ADT_A27", "ADT_A29",
                     "ADT_A32", "ADT_A33"), ("ADT_A21",)),
    **dict.fromkeys(("ADT_A34", "ADT_A35", "ADT_A36", "ADT_A46", "ADT_A47", "ADT_A48",
                     "ADT_A49"), ("ADT_A30",)),
    **dict.fromkeys(("ADT_A40", "ADT_A41", "ADT_A42"), ("ADT_A39",)),
    **dict.fromkeys(("ADT_A53", "ADT_A55"), ("ADT_A52",)), "ADT_A62": ("ADT_A61",),
    **dict.fromkeys((f"SIU_S{n}" for n in range(13, 27)), ("SIU_S12",)),
    **dict.fromkeys(("MDM_T03", "MDM_T05", "MDM_T07", "MDM_T09", "MDM_T11"), ("MDM_T01",)),
    **dict.fromkeys(("MDM_T04", "MDM_T06", "MDM_T08", "MDM_T10"), ("MDM_T02",)),
}


class StructureValidationConfig(StrictModel):
    """`validate:` on an HL7 v2 source: check every message's structure with hl7apy (slow)."""

    profile: str | None = Field(
        default=None, description="HL7 v2.x conformance profile XML (HL7v2xConformanceProfile, "
        "the input of hl7apy_profile_parser); none: the standard structure of the message's "
        "own version (MSH-12)")
    level: Literal["strict", "tolerant"] = Field(
        default="strict", description="hl7apy validation level: strict also checks each value "
        "against its data type (format, length); tolerant checks segments, groups, required "
        "and undefined fields and components")
    allow_z_segments: bool = Field(
        default=True, description="ignore Z-segments the standard or the profile does not define; "
        "false: such a Z-segment is an error")


class StructureError(ValidationError):
    """A structure problem; `error_code` is its HL7 table 0357 code (ERR-3)."""

    def __init__(self, message: str, location: str | None = None, error_code: str = "207"):
        super().__init__(message, location)
        self.error_code = error_code


class _Message(NamedTuple):
    """A message prepared for hl7apy: CR-separated text and what the locator needs."""

    text: str
    lines: list[str]
    field_sep: str
    version: str
    structure: str


class StructureValidator:
    """Validates one message per call against its standard structure or a profile; thread-safe."""

    def __init__(self, config: StructureValidationConfig) -> None:
        self.config = config
        self._strict = config.level == "strict"
        self._level = VALIDATION_LEVEL.STRICT if self._strict else VALIDATION_LEVEL.TOLERANT
        self._profile = _ProfileGrammar.load(config.profile) if config.profile else None

    def validate(self, text: str) -> None:
        """Return if `text` (one ER7 message) is valid, else raise StructureError."""
        run = None
        profile = self._profile
        try:
            msg = self._prepare(text)
            encoding, _, _ = get_message_info(msg.text)  # checks MSH-2
            run = _Run(msg, _what(msg.version, profile is not None))
            grammar = profile.grammar if profile else _standard(msg.structure, msg.version)
            refs = grammar.match(run)  # segment order and cardinality
            for pos, (line, ref) in enumerate(zip(msg.lines, refs, strict=True)):
                run.pos, run.segment = pos, None
                run.segment = parse_segment(line, msg.version, encoding, self._level, ref)
                Validator.validate(run.segment, ref)  # fields, components, data types
                if profile:
                    _check_profile_extras(run.segment, ref, run.where(run.pos), self._strict)
        except ValidationError:
            raise
        except Exception as exc:  # hl7apy raises its own types and bare ValueError/KeyError
            raise _explain(exc, run) from None

    def _prepare(self, text: str) -> _Message:
        """Normalise segment ends, resolve version and structure, strip allowed Z-segments."""
        text = text.lstrip("\ufeff\x00\x0b \t\r\n").replace("\r\n", "\r").replace("\n", "\r")
        lines = [line for line in text.split("\r") if line.strip(" \t\x00\x0b\x1c")]
        if not lines or not lines[0].startswith("MSH") or len(lines[0]) < 8:
            raise StructureError("the message does not start with an MSH segment", "MSH", "100")
        fs = lines[0][3]
        msh = lines[0].split(fs)
        cs = msh[1][:1] or "^"
        version = (msh[11] if len(msh) > 11 else "").split(cs)[0].strip()
        profile = self._profile
        if not version:
            raise StructureError("MSH-12 (version id) is empty", "MSH-12", "203")
        if version not in SUPPORTED_LIBRARIES:
            raise StructureError(f"HL7 version {version!r} cannot be validated (supported: "
                                 f"{_VERSIONS})", "MSH-12", "203")
        if profile and profile.version != version:
            raise StructureError(f"the message is HL7 v{version} but the profile is for "
                                 f"v{profile.version}", "MSH-12", "203")
        shown = msh[8] if len(msh) > 8 else ""
        code, event, given = ([part.strip() for part in shown.split(cs)] + ["", ""])[:3]
        if not code or not (event or given or code == "ACK"):
            raise StructureError(f"MSH-9 (message type) {shown!r} lacks the message code or the "
                                 "trigger event (e.g. ADT^A01)", "MSH-9", "200")
        structure = given or _structure_for(code, event, version)
        if profile and structure != profile.structure:
            raise StructureError(f"the profile describes {profile.structure} messages, not "
                                 f"{structure} (MSH-9 is {shown!r})", "MSH-9", "200")
        if not profile and not _known_structure(structure, version):
            hint = _structure_for(code, event, version)
            hint = f"; {code}^{event} uses {hint}" if hint != structure and given else ""
            raise StructureError(f"the validator knows no HL7 v{version} message structure "
                                 f"{structure} (MSH-9 is {shown!r}){hint}", "MSH-9", "200")
        for n, line in enumerate(lines[1:], 2):
            if line[:3] in ("MSH", "BHS", "FHS"):
                raise StructureError(f"a second message header ({line[:3]}): validate one "
                                     "message at a time", line[:3], "100")
            if not _SEGMENT_ID.fullmatch(line[:3]) or line[3:4] not in ("", fs):
                raise StructureError(f"line {n} does not start with a segment id: "
                                     f"{line[:12]!r}", None, "100")
        if self.config.allow_z_segments:
            known = profile.grammar.ids if profile else set()
            lines = [ln for ln in lines if not ln.startswith("Z") or ln[:3] in known]
        return _Message("\r".join(lines) + "\r", lines, fs, version, structure)


def _structure_for(code: str, event: str, version: str) -> str:
    """The message structure of MSH-9.1/9.2 when MSH-9.3 is empty (first one hl7apy knows)."""
    if code == "ACK":
        return "ACK"
    name = f"{code}_{event}"
    for candidate in (name, *_SAME_AS.get(name, ())):
        if _known_structure(candidate, version):
            return candidate
    return name


@lru_cache(maxsize=1024)
def _known_structure(name: str, version: str) -> bool:
    """True if hl7apy has the message structure `name` for `version`."""
    try:
        load_reference(name, "Message", version)
    except Exception:  # ChildNotFound, or a name hl7apy cannot even look up
        return False
    return True


# ------------------------------------------------------------------ segment order and cardinality
class _Run:
    """One validation: the prepared message and where it is (for locations)."""

    def __init__(self, msg: _Message, defined: str) -> None:
        self.msg, self.defined = msg, defined
        self.pos = 0  # the line being matched, parsed or validated
        self.segment: Any = None  # its hl7apy Segment once parsed

    def where(self, pos: int) -> str:
        """SEG or SEG[n] for line `pos`."""
        sid = self.msg.lines[pos][:3]
        n = sum(1 for line in self.msg.lines[:pos + 1] if line[:3] == sid)
        return sid if n == 1 else f"{sid}[{n}]"


class _Grammar:
    """A message structure as an NFA over segment ids: exact order and cardinality."""

    # Not hl7apy's own grouping (parse_message(find_groups=True)): it ignores segment order,
    # drops unknown segments silently, places segments greedily into the first group that
    # has them and cannot hold a segment that occurs twice in one group (ADT_A24: PID twice).

    def __init__(self, reference: Any) -> None:
        self.eps: list[list[int]] = []
        self.moves: list[list[tuple[str, Any, int]]] = []  # (segment id, reference, next)
        self.ids: set[str] = set()
        self.start = self._state()
        self.end = self._items(reference, self.start)

    def _state(self) -> int:
        """A new state."""
        self.eps.append([])
        self.moves.append([])
        return len(self.eps) - 1

    def _items(self, ref: Any, at: int) -> int:
        """The children of a message or group: in sequence, or one of them for a choice."""
        if ref[0] != "choice":
            for item in ref[1]:
                at = self._item(item, at)
            return at
        end = self._state()
        for item in ref[1]:
            entry = self._state()
            self.eps[at].append(entry)
            self.eps[self._item(item, entry)].append(end)
        return end

    def _item(self, item: Any, at: int) -> int:
        """One segment or group with its (min, max) repetitions; max > 20 counts as unbounded."""
        name, ref, (low, high), kind = item

        def once(start: int) -> int:
            if kind != "SEG":
                return self._items(ref, start)
            self.ids.add(name)
            end = self._state()
            self.moves[start].append((name, ref, end))
            return end

        for _ in range(low):
            at = once(at)
        if high < 0 or high - low > 20:
            loop = self._state()
            self.eps[at].append(loop)
            self.eps[once(loop)].append(loop)
            return loop
        for _ in range(high - low):
            skip = self._state()
            self.eps[at].append(skip)
            self.eps[once(at)].append(skip)
            at = skip
        return at

    def _closure(self, active: dict[int, Any]) -> dict[int, Any]:
        """Add the states reachable without consuming a segment (keeping each path)."""
        stack = list(active)
        while stack:
            state = stack.pop()
            for nxt in self.eps[state]:
                if nxt not in active:
                    active[nxt] = active[state]
                    stack.append(nxt)
        return active

    def match(self, run: _Run) -> list[Any]:
        """The segment reference of each line, or StructureError at the first misfit."""
        active = self._closure({self.start: None})
        for pos, line in enumerate(run.msg.lines):
            run.pos = pos
            moved: dict[int, Any] = {}
            for state, path in active.items():
                for sid, ref, nxt in self.moves[state]:
                    if sid == line[:3] and nxt not in moved:
                        moved[nxt] = (ref, path)
            if not moved:
                raise self._misfit(run, active)
            active = self._closure(moved)
        if self.end not in active:
            run.pos = len(run.msg.lines)
            raise self._misfit(run, active)
        refs, path = [], active[self.end]
        while path is not None:
            refs.append(path[0])
            path = path[1]
        return refs[::-1]

    def _needed(self, active: dict[int, Any], sid: str | None) -> str | None:
        """First segment of the shortest way on to one that takes `sid` (None: the end)."""
        queue = deque((state, "") for state in active)
        seen: set[int] = set()
        while queue:
            state, first = queue.popleft()
            if state in seen:
                continue
            seen.add(state)
            if (sid is None and state == self.end) or (
                    first and any(move[0] == sid for move in self.moves[state])):
                return first
            queue.extendleft((nxt, first) for nxt in self.eps[state])
            queue.extend((nxt, first or move) for move, _, nxt in self.moves[state])
        return None

    def _reaches_end(self, active: dict[int, Any], without: str) -> bool:
        """True if the message could end from here without segment `without` (optional)."""
        stack, seen = list(active), set()
        while stack:
            state = stack.pop()
            if state == self.end:
                return True
            if state not in seen:
                seen.add(state)
                stack.extend(self.eps[state])
                stack.extend(nxt for sid, _, nxt in self.moves[state] if sid != without)
        return False

    def _misfit(self, run: _Run, active: dict[int, Any]) -> StructureError:
        """Explain why line `run.pos` (or the end of the message) does not fit."""
        lines, pos, structure = run.msg.lines, run.pos, run.msg.structure
        sid = lines[pos][:3] if pos < len(lines) else None
        if sid is not None and sid not in self.ids:
            kind = "Z-segment" if sid.startswith("Z") else "segment"
            return StructureError(f"{kind} {sid} is not part of {structure} in {run.defined}",
                                  run.where(pos), "100")
        needed = self._needed(active, sid)
        if sid is not None and (needed is None or self._reaches_end(active, needed)):
            before = lines[pos - 1][:3]
            return StructureError(f"segment {sid} repeats more often than {structure} allows"
                                  if sid == before else f"segment {sid} is out of order: "
                                  f"{structure} does not allow it after {before}",
                                  run.where(pos), "100")
        later = next((i for i in range(pos, len(lines)) if lines[i][:3] == needed), None)
        if later is not None:
            return StructureError(f"segment {needed} is out of order: {structure} requires it "
                                  f"before {sid}", run.where(later), "100")
        after = f" before {sid}" if sid else " at the end of the message"
        return StructureError(f"required segment {needed or '(unknown)'} is missing{after}",
                              needed, "100")


class _ProfileGrammar(NamedTuple):
    """A loaded conformance profile and the grammar of its message structure."""

    version: str
    structure: str
    grammar: _Grammar

    @classmethod
    def load(cls, path: str) -> _ProfileGrammar:
        """Read the profile (ConfigError on any problem) and build its grammar once."""
        profile = load_profile(path)
        return cls(profile.version, profile.structure, _Grammar(profile.reference))


@lru_cache(maxsize=256)
def _standard(structure: str, version: str) -> _Grammar:
    """The grammar of a standard message structure (built once per structure and version)."""
    return _Grammar(load_reference(structure, "Message", version))


def _check_profile_extras(segment: Any, ref: Any, where: str, strict: bool) -> None:
    """What hl7apy skips with a profile: Z-segment field cardinality, and lengths (strict)."""
    if segment.is_z_element():
        for name, _, (low, high), _ in ref[1]:
            count = sum(1 for child in _children(segment) if child.name == name)
            field = f"{where}-{_position(name)}"
            if count < low:
                raise StructureError(f"required field {field}{_long_name(segment, name)} is "
                                     "empty", field, "101")
            if -1 < high < count:
                raise StructureError(f"{field} repeats more often than allowed (at most {high})"
                                     if high else f"{field} must be empty: "
                                     f"{_unused('the profile')}", field, "102")
    for el in _walk(segment) if strict else ():
        limit = (vars(el).get("reference") or ())[5:6]
        if limit and isinstance(limit[0], int) and limit[0] > 0 and el.name not in (
                "MSH_1", "MSH_2") and len(el.to_er7()) > limit[0]:
            at = _location(el, where)
            raise StructureError(f"{at} is {len(el.to_er7())} characters long; at most "
                                 f"{limit[0]} are allowed", at, "104")


# ------------------------------------------------------------------ locations and explanations
def _children(el: Any) -> list[Any]:
    """The children of an hl7apy element in input order."""
    return list(el.children) if el.classname != "SubComponent" else []


def _walk(el: Any) -> Any:
    """Every element under `el`, depth first."""
    for child in _children(el):
        yield child
        yield from _walk(child)


def _position(name: str | None) -> int | None:
    """The number in an hl7apy element name: PID_5 -> 5, CX_4 -> 4, else None."""
    tail = (name or "").rpartition("_")[2]
    return int(tail) if tail.isdigit() else None


def _location(el: Any, where: str) -> str:
    """An HL7 path (OBX[2]-5(2).1) for an element of the segment located at `where`."""
    chain = []
    while el is not None and el.classname != "Segment":
        chain.append(el)
        el = el.parent
    if el is None or not chain:
        return where
    field = chain.pop()
    number = _position(field.name)
    if number is None:
        return where
    reps = [c for c in _children(el) if c.name == field.name]
    rep = next(i for i, c in enumerate(reps, 1) if c is field)
    where += f"-{number}" + (f"({rep})" if rep > 1 else "")
    for part in reversed(chain):
        number = _position(part.name)
        if number is None:
            break
        where += f".{number}"
    return where


def _child_location(parent: Any, child: str, where: str) -> str:
    """The location of a (missing) child named `child` of `parent`."""
    base, number = _location(parent, where), _position(child)
    if number is None:
        return base
    return f"{base}{'-' if parent.classname == 'Segment' else '.'}{number}"


def _long_name(parent: Any, child: str) -> str:
    """' (recorded date time)' from the reference's long name, or ''."""
    ref = (vars(parent).get("structure_by_name") or {}).get(child, {}).get("ref")
    name = ref[3] if ref is not None and len(ref) > 3 and isinstance(ref[3], str) else ""
    return f" ({name.replace('_', ' ').lower()})" if name else ""


def _what(version: str, profile: bool) -> str:
    """'HL7 v2.5' or 'the profile', for messages about definitions."""
    return "the profile" if profile else f"HL7 v{version}"


def _unused(defined: str) -> str:
    """Why an element must be empty."""
    return "the profile does not use it" if defined == "the profile" else (
        f"it is withdrawn in {defined}")


def _explain(exc: Exception, run: _Run | None) -> StructureError:
    """An analyst-readable StructureError for whatever hl7apy raised."""
    try:
        if isinstance(exc, hx.InvalidEncodingChars):
            return StructureError(f"MSH-2 (encoding characters) is invalid: {exc.message}",
                                  "MSH-2", "102")
        if run is None:
            raise exc
        if isinstance(exc, hx.ValidationError) and run.segment is not None:
            return _explain_validator(str(exc), run, run.segment)
        return _explain_parse(exc, run)
    except Exception as failure:  # never let the explanation itself escape as another type
        return StructureError(f"the validator could not check this message "
                              f"({type(failure).__name__}: {failure})", None, "207")


def _explain_validator(text: str, run: _Run, segment: Any) -> StructureError:
    """Translate hl7apy Validator messages (they name elements, not positions)."""
    where, defined = run.where(run.pos), run.defined
    elements = [segment, *_walk(segment)]
    match = _VALIDATOR.match(text)
    if match and match.group(1):
        kind, parent_name, child = match.group(1, 2, 3)
        parents = [el for el in elements if el.name == parent_name] or [segment]

        def count(el: Any) -> int:
            return sum(1 for c in _children(el) if c.name == child)

        def limits(el: Any) -> tuple[int, int]:
            return tuple((vars(el).get("repetitions") or {}).get(child, (0, -1)))  # type: ignore

        if kind.startswith("Missing"):
            parent = next((p for p in parents if count(p) < limits(p)[0]), parents[0])
            at = _child_location(parent, child, where)
            noun = "field" if parent.classname == "Segment" else "component"
            return StructureError(f"required {noun} {at}{_long_name(parent, child)} is empty",
                                  at, "101")
        parent = next((p for p in parents if -1 < limits(p)[1] < count(p)), parents[0])
        high = limits(parent)[1]
        extra = [c for c in _children(parent) if c.name == child][high:high + 1]
        at = _location(extra[0], where) if extra else _child_location(parent, child, where)
        if high == 0:
            return StructureError(f"{at} must be empty: {_unused(defined)}", at, "102")
        return StructureError(f"{at} repeats more often than allowed (at most {high})", at,
                              "102")
    if match and match.group(4):
        for el in elements:
            valid = set(vars(el).get("structure_by_name") or ())
            if el.name == match.group(4) and any(c.name not in valid and not c.is_z_element()
                                                 for c in _children(el)):
                return _undefined_child(el, valid, run, where)
    if match and match.group(5):
        parent_name, child = match.group(6, 7)
        for el in elements[1:]:
            if el.name == child and el.parent.name == parent_name:
                ref = (vars(el.parent).get("structure_by_name") or {}).get(child, {}).get("ref")
                expected = ref[2] if ref is not None and len(ref) > 2 else None
                if vars(el).get("_datatype") != expected:
                    at = _location(el, where)
                    return StructureError(f"{at} does not match its data type {expected} "
                                          "(components or subcomponents where a single value is "
                                          "expected?)", at, "102")
    return StructureError(f"{where} does not match its definition in {defined}: {text}", where,
                          "102")


def _undefined_child(el: Any, valid: set[str], run: _Run, where: str) -> StructureError:
    """A field (or component) the definition lacks, located from the raw segment text."""
    at = _location(el, where)
    if el.classname == "Segment":
        fields = run.msg.lines[run.pos].split(run.msg.field_sep)
        for index, value in enumerate(fields[1:], 2 if el.name == "MSH" else 1):
            if value.strip() and f"{el.name}_{index}" not in valid:
                return StructureError(f"field {at}-{index} is not defined for {el.name} in "
                                      f"{run.defined} (withdrawn, or beyond the last one)",
                                      f"{at}-{index}", "102")
    return StructureError(f"{at} has components that its data type {vars(el).get('_datatype')} "
                          f"does not define in {run.defined}", at, "102")


def _tb_location(exc: BaseException, run: _Run) -> str | None:
    """Where hl7apy's parser was (the current line, field, component...) when it raised."""
    in_segment, field, rep, parts = False, None, 1, []
    for frame, _ in traceback.walk_tb(exc.__traceback__):
        name, local = frame.f_code.co_name, frame.f_locals
        if not frame.f_code.co_filename.replace("\\", "/").endswith("hl7apy/parser.py"):
            continue
        if name == "parse_segment":
            in_segment = True
        elif name == "parse_fields":
            field = _position(local.get("name"))
            reps = str(local.get("field", "")).split(str(local.get("repetition_sep") or "~"))
            rep = reps.index(local["rep"]) + 1 if local.get("rep") in reps else 1
        elif name in ("parse_components", "parse_subcomponents") and "index" in local:
            named = local.get("component_name" if name == "parse_components"
                              else "subcomponent_name")
            if local["index"] or named:
                parts.append(local["index"] + 1)
    if not in_segment or run.pos >= len(run.msg.lines):
        return None
    where = run.where(run.pos)
    if field is None:
        return where
    where += f"-{field}" + (f"({rep})" if rep > 1 else "")
    return where + "".join(f".{p}" for p in parts)


def _explain_parse(exc: Exception, run: _Run) -> StructureError:
    """Translate what hl7apy raised while parsing (strict mode stops at the first problem)."""
    where, defined = _tb_location(exc, run), run.defined
    seg = where[:3] if where else None
    if isinstance(exc, hx.MaxLengthReached):
        return StructureError(f"{where} is {len(str(exc.value))} characters long; at most "
                              f"{exc.limit} are allowed", where, "104")
    if isinstance(exc, hx.MaxChildLimitReached | hx.ChildNotValid):
        child, parent = exc.child, exc.parent
        limit = getattr(exc, "limit", 0)
        name = getattr(child, "name", child)
        if isinstance(name, str) and where and "-" not in where and _position(name) is not None:
            where = f"{where}-{_position(name)}"  # a field the segment cannot hold
            if isinstance(exc, hx.ChildNotValid):
                return StructureError(f"field {where} is not defined for {seg} in {defined}",
                                      where, "102")
        number = _position(name) if child.classname in ("Component", "SubComponent") else None
        where = f"{where}.{number}" if where and number is not None else where
        datatype = vars(parent).get("_datatype")
        if limit == 0 or datatype == "WD":
            where = where if limit == 0 else where and where.rsplit(".", 1)[0]
            return StructureError(f"{where} must be empty: {_unused(defined)}", where, "102")
        if child.classname == "Field":
            return StructureError(f"{where} repeats more often than allowed (at most {limit})",
                                  where, "102")
        kind = "components" if parent.classname == "Field" else "subcomponents"
        return StructureError(f"{where} has {kind} but its data type {datatype} is a single "
                              "value (misplaced value or unescaped separator?)", where, "102")
    if isinstance(exc, ValueError) and (match := _NOT_VALID.fullmatch(str(exc))):
        value, kind, other = match.groups()
        shown = f" {value!r}" if value is not None else ""
        return StructureError(f"{where or 'a'} value{shown} is not a valid {kind or other}",
                              where, "102")
    if isinstance(exc, hx.InvalidName | hx.OperationNotAllowed | hx.ChildNotFound) and where:
        kind = "field" if where.count(".") == 0 else "component"
        return StructureError(f"{kind} {where} is not defined for {seg} in {defined} "
                              "(withdrawn, or beyond the last one)", where, "102")
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return StructureError(f"{where + ' ' if where else ''}could not be validated ({text})",
                          where, "102" if where else "207")


# ------------------------------------------------------------------ conformance profiles
