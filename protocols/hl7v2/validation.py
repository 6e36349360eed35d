"""On-demand HL7 v2 structure validation with hl7apy; slow (tens of msg/s): not on the reactor."""

from __future__ import annotations

import re
import traceback
import xml.etree.ElementTree as ET
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, NamedTuple

from hl7apy import SUPPORTED_LIBRARIES, load_reference
from hl7apy import exceptions as hx
from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.parser import parse_message
from hl7apy.validation import Validator
from pydantic import Field

from engine.connector import StrictModel
from engine.errors import ConfigError, ValidationError

__all__ = ["StructureError", "StructureValidationConfig", "StructureValidator"]

_VERSIONS = ", ".join(sorted(SUPPORTED_LIBRARIES, key=lambda v: [int(p) for p in v.split(".")]))
_SEGMENT_ID = re.compile(r"[A-Z][A-Z0-9]{2}")
_NOT_VALID = re.compile(r"(.*) is not an HL7 valid (\w+) value", re.S)
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
        default="strict", description="hl7apy validation level: strict also checks data types, "
        "lengths and undefined fields; tolerant checks segments, groups and cardinality")
    allow_z_segments: bool = Field(
        default=True, description="ignore Z-segments the standard or the profile does not define; "
        "false: such a Z-segment is an error")


class StructureError(ValidationError):
    """A structure problem; `error_code` is its HL7 table 0357 code (ERR-3)."""

    def __init__(self, message: str, location: str | None = None, error_code: str = "207"):
        super().__init__(message, location)
        self.error_code = error_code


class _Profile(NamedTuple):
    """A conformance profile converted to an hl7apy reference."""

    structure: str
    version: str | None
    reference: tuple[Any, ...]
    segments: frozenset[str]


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
        self._profile = _load_profile(config.profile) if config.profile else None

    def validate(self, text: str) -> None:
        """Return if `text` (one ER7 message) is valid, else raise StructureError."""
        msg = tree = None
        try:
            msg = self._prepare(text)
            profile = self._profile
            tree = parse_message(msg.text, validation_level=self._level, find_groups=True,
                                 message_profile={profile.structure: profile.reference}
                                 if profile else None)
            _check_placement(tree, msg)
            Validator.validate(tree, profile.reference if profile else None)
            if self._strict:
                _check_lengths(tree, msg)
        except ValidationError:
            raise
        except Exception as exc:  # hl7apy raises its own types and bare ValueError/KeyError
            raise _explain(exc, msg, tree, self._profile is not None) from None

    def _prepare(self, text: str) -> _Message:
        """Normalise segment ends, resolve version and structure, strip allowed Z-segments."""
        text = text.lstrip("\ufeff\x00\x0b \t\r\n").replace("\r\n", "\r").replace("\n", "\r")
        lines = [line for line in text.split("\r") if line.strip()]
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
        if profile and profile.version and profile.version != version:
            raise StructureError(f"the message is HL7 v{version} but the profile is for "
                                 f"v{profile.version}", "MSH-12", "203")
        msh9 = (msh[8] if len(msh) > 8 else "").split(cs)
        code, event, given = ([part.strip() for part in msh9] + ["", ""])[:3]
        structure = given or _structure_for(code, event, version)
        shown = cs.join(msh9)
        if profile and structure != profile.structure:
            raise StructureError(f"the profile describes {profile.structure} messages, not "
                                 f"{structure} (MSH-9 is {shown!r})", "MSH-9", "200")
        if not profile and not _known_structure(structure, version):
            raise StructureError(f"HL7 v{version} defines no message structure {structure} "
                                 f"(MSH-9 is {shown!r}); set MSH-9.3", "MSH-9", "200")
        if not given:
            msh[8] = cs.join((code, event, structure))
            lines[0] = fs.join(msh)
        for line in lines[1:]:
            if line[:3] in ("MSH", "BHS", "FHS"):
                raise StructureError(f"a second message header ({line[:3]}): validate one "
                                     "message at a time", line[:3], "100")
        if self.config.allow_z_segments:
            known = profile.segments if profile else frozenset()
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


# ------------------------------------------------------------------ checks hl7apy does not do
def _children(el: Any) -> list[Any]:
    """The children of an hl7apy element in input order."""
    return list(el.children) if el.classname != "SubComponent" else []


def _segments(el: Any) -> list[Any]:
    """All segments under a message or group, depth first (= input order)."""
    out: list[Any] = []
    for child in _children(el):
        out.extend([child] if child.classname == "Segment" else _segments(child))
    return out


def _first_segment(el: Any) -> str:
    """The id of the first segment of a segment or group element."""
    found = _segments(el) if el.classname != "Segment" else [el]
    return found[0].name if found else el.name


def _check_placement(tree: Any, msg: _Message) -> None:
    """Segments hl7apy silently dropped (not in the structure) or placed out of order."""
    kept = [seg.name for seg in _segments(tree)]
    j = 0
    seen: dict[str, int] = {}
    for line in msg.lines:
        sid = line[:3]
        seen[sid] = seen.get(sid, 0) + 1
        if j < len(kept) and kept[j] == sid:
            j += 1
            continue
        where = sid if seen[sid] == 1 else f"{sid}[{seen[sid]}]"
        kind = "Z-segment" if sid.startswith("Z") else "segment"
        raise StructureError(f"{kind} {sid} is not part of the {msg.structure} structure"
                             f"{'' if _SEGMENT_ID.fullmatch(sid) else ' (invalid segment id)'}",
                             where, "100")
    _check_order(tree, msg, _occurrences(tree))


def _check_order(node: Any, msg: _Message, occ: dict[int, int]) -> None:
    """Within each message/group, children must follow the structure's order."""
    order = {name: i for i, name in enumerate(node.ordered_children or ())}
    last, last_child = -1, None
    for child in _children(node):
        rank = order.get(child.name)
        if rank is None:
            continue
        if rank < last:
            first = _segments(child)[0] if child.classname == "Group" else child
            raise StructureError(f"segment {first.name} is out of order: {msg.structure} puts it "
                                 f"before {_first_segment(last_child)}", _location(first, occ),
                                 "100")
        last, last_child = rank, child
        if child.classname == "Group":
            _check_order(child, msg, occ)


def _check_lengths(tree: Any, msg: _Message) -> None:
    """Lengths a profile sets (hl7apy only warns about them); standard references have none."""
    occ = _occurrences(tree)
    for el in _walk(tree):
        ref = el.reference
        limit = ref[5] if ref is not None and len(ref) > 5 else -1
        if isinstance(limit, int) and limit > 0 and el.name not in ("MSH_1", "MSH_2"):
            size = len(el.to_er7())
            if size > limit:
                where = _location(el, occ)
                raise StructureError(f"{where} is {size} characters long; at most {limit} are "
                                     "allowed", where, "104")


# ------------------------------------------------------------------ locations and explanations
def _walk(el: Any) -> Any:
    """Every element under `el`, depth first."""
    for child in _children(el):
        yield child
        yield from _walk(child)


def _occurrences(tree: Any) -> dict[int, int]:
    """Segment element id -> its occurrence number among segments with the same id."""
    counts: dict[str, int] = {}
    out = {}
    for seg in _segments(tree):
        counts[seg.name] = counts.get(seg.name, 0) + 1
        out[id(seg)] = counts[seg.name]
    return out


def _position(name: str | None) -> int | None:
    """The number in an hl7apy element name: PID_5 -> 5, CX_4 -> 4, else None."""
    tail = (name or "").rpartition("_")[2]
    return int(tail) if tail.isdigit() else None


def _location(el: Any, occ: dict[int, int]) -> str | None:
    """An HL7 path (OBX[2]-5(2).1) for an element of a parsed message."""
    chain = []
    while el is not None and el.classname not in ("Segment", "Group", "Message"):
        chain.append(el)
        el = el.parent
    if el is None or el.classname != "Segment":
        return None
    n = occ.get(id(el), 1)
    where = el.name if n == 1 else f"{el.name}[{n}]"
    if not chain:
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


def _child_location(parent: Any, child: str, occ: dict[int, int]) -> str | None:
    """The location of a (missing) child named `child` of `parent`."""
    if parent.classname in ("Message", "Group"):
        return _first_in_reference(parent, child)
    base, number = _location(parent, occ), _position(child)
    if base is None or number is None:
        return base
    return f"{base}{'-' if parent.classname == 'Segment' else '.'}{number}"


def _first_in_reference(parent: Any, child: str) -> str:
    """`child` for a segment; for a group, the id of its first segment (by its reference)."""
    entry = (parent.structure_by_name or {}).get(child) or {}
    if getattr(entry.get("cls"), "__name__", "") != "Group":
        return child
    ref = entry.get("ref")
    while ref and ref[0] == "sequence" and ref[1]:
        first = ref[1][0]
        if first[3] == "SEG":
            return str(first[0])
        ref = first[1]
    return child


def _long_name(parent: Any, child: str) -> str:
    """' (recorded date time)' from the reference's long name, or ''."""
    ref = (parent.structure_by_name or {}).get(child, {}).get("ref")
    name = ref[3] if ref is not None and len(ref) > 3 and isinstance(ref[3], str) else ""
    return f" ({name.replace('_', ' ').lower()})" if name else ""


def _what(version: str, profile: bool) -> str:
    """'HL7 v2.5' or 'the profile', for messages about definitions."""
    return "the profile" if profile else f"HL7 v{version}"


def _explain(exc: Exception, msg: _Message | None, tree: Any, profile: bool) -> StructureError:
    """An analyst-readable StructureError for whatever hl7apy raised."""
    try:
        if msg is None:
            raise exc
        if isinstance(exc, hx.ValidationError) and tree is not None:
            return _explain_validator(str(exc), msg, tree, profile)
        return _explain_parse(exc, msg, profile)
    except Exception as failure:  # never let the explanation itself escape as another type
        return StructureError(f"the validator could not check this message "
                              f"({type(failure).__name__}: {failure})", None, "207")


def _explain_validator(text: str, msg: _Message, tree: Any, profile: bool) -> StructureError:
    """Translate hl7apy Validator messages (they name elements, not positions)."""
    occ = _occurrences(tree)
    match = _VALIDATOR.match(text)
    defined = _what(msg.version, profile)
    if match and match.group(1):
        kind, parent_name, child = match.group(1, 2, 3)
        parents = [el for el in [tree, *_walk(tree)] if el.name == parent_name]

        def count(el: Any) -> int:
            return sum(1 for c in _children(el) if c.name == child)

        def limits(el: Any) -> tuple[int, int]:
            return tuple(el.repetitions.get(child, (0, -1)))  # type: ignore[return-value]

        if kind.startswith("Missing"):
            parent = next((p for p in parents if count(p) < limits(p)[0]), parents[0])
            where = _child_location(parent, child, occ)
            if parent.classname in ("Message", "Group"):
                if len(child) == 3:
                    return StructureError(f"required segment {child} is missing from "
                                          f"{parent.name}", where, "100")
                return StructureError(f"required group {child} (starting with {where}) is "
                                      f"missing from {parent.name}", where, "100")
            kind = "field" if parent.classname == "Segment" else "component"
            return StructureError(f"required {kind} {where}{_long_name(parent, child)} is empty",
                                  where, "101")
        parent = next((p for p in parents if -1 < limits(p)[1] < count(p)), parents[0])
        high = limits(parent)[1]
        extra = [c for c in _children(parent) if c.name == child][high:high + 1]
        first = extra[0] if extra else parent
        if first.classname in ("Segment", "Group"):
            seg = _segments(first)[0] if first.classname == "Group" else first
            return StructureError(f"segment {seg.name} occurs more often than {parent.name} "
                                  f"allows (at most {high})", _location(seg, occ), "100")
        where = _location(first, occ) or _child_location(parent, child, occ)
        if high == 0:
            return StructureError(f"{where}{_long_name(parent, child)} must be empty: it is not "
                                  f"used in {defined}", where, "102")
        return StructureError(f"{where} repeats more often than allowed (at most {high})",
                              where, "102")
    if match and match.group(4):
        name = match.group(4)
        for el in [tree, *_walk(tree)]:
            valid = set(el.structure_by_name or ())
            if el.name == name and any(c.name not in valid and not c.is_z_element()
                                       for c in _children(el)):
                return _undefined_child(el, valid, msg, occ, defined)
    if match and match.group(5):
        parent_name, child = match.group(6, 7)
        for el in _walk(tree):
            if el.name == child and el.parent is not None and el.parent.name == parent_name:
                ref = (el.parent.structure_by_name or {}).get(child, {}).get("ref")
                expected = ref[2] if ref is not None and len(ref) > 2 else None
                if el.datatype != expected:
                    where = _location(el, occ)
                    return StructureError(f"{where} does not match its data type {expected} "
                                          "(components or subcomponents where a single value is "
                                          "expected?)", where, "102")
    return StructureError(f"the message does not match the {msg.structure} structure of "
                          f"{defined}: {text}", None, "100")


def _undefined_child(el: Any, valid: set[str], msg: _Message, occ: dict[int, int],
                     defined: str) -> StructureError:
    """A field (or component) the definition lacks, located from the raw segment text."""
    where = _location(el, occ)
    if el.classname == "Segment":
        n = occ.get(id(el), 1)
        line = [ln for ln in msg.lines if ln[:3] == el.name][n - 1]
        fields = line.split(msg.field_sep)
        for index, value in enumerate(fields[1:], 2 if el.name == "MSH" else 1):
            if value.strip() and f"{el.name}_{index}" not in valid:
                field = f"{where}-{index}"
                return StructureError(f"field {field} is not defined for {el.name} in {defined} "
                                      "(withdrawn, or past the last field)", field, "102")
    datatype = getattr(el, "datatype", None)
    return StructureError(f"{where} has components that its data type {datatype} does not "
                          f"define in {defined}", where, "102")


def _tb_location(exc: BaseException, msg: _Message) -> tuple[str | None, str | None]:
    """(location, segment id) of the element hl7apy's parser was working on when it raised."""
    seg = raw = None
    field: int | None = None
    rep = 1
    parts: list[int] = []
    for frame, _ in traceback.walk_tb(exc.__traceback__):
        where, local = frame.f_code.co_name, frame.f_locals
        if not frame.f_code.co_filename.replace("\\", "/").endswith("hl7apy/parser.py"):
            continue
        if where == "parse_segments":
            raw = local.get("s")
        elif where == "parse_segment":
            seg = local.get("segment_name")
        elif where == "parse_fields":
            field = _position(local.get("name"))
            text, piece = local.get("field"), local.get("rep")
            if isinstance(text, str) and isinstance(piece, str) and piece in text.split(
                    local.get("repetition_sep") or "~"):
                rep = text.split(local.get("repetition_sep") or "~").index(piece) + 1
        elif where in ("parse_components", "parse_subcomponents") and "index" in local:
            if local.get("index") or local.get("component_name" if where == "parse_components"
                                                else "subcomponent_name"):
                parts.append(local["index"] + 1)
    if seg is None:
        return None, None
    n = 1
    if isinstance(raw, str):
        lines = [ln.strip() for ln in msg.lines]
        if raw.strip() in lines:
            n = sum(1 for ln in lines[:lines.index(raw.strip())] if ln[:3] == seg) + 1
    where = seg if n == 1 else f"{seg}[{n}]"
    if field is None:
        return where, seg
    where += f"-{field}" + (f"({rep})" if rep > 1 else "")
    return where + "".join(f".{p}" for p in parts), seg


def _explain_parse(exc: Exception, msg: _Message, profile: bool) -> StructureError:
    """Translate what hl7apy raised while parsing (strict mode stops at the first problem)."""
    where, seg = _tb_location(exc, msg)
    defined = _what(msg.version, profile)
    if isinstance(exc, hx.MaxLengthReached):
        return StructureError(f"{where} is {len(str(exc.value))} characters long; at most "
                              f"{exc.limit} are allowed", where, "104")
    if isinstance(exc, hx.MaxChildLimitReached):
        child, parent, limit = exc.child, exc.parent, exc.limit
        if child.classname in ("Segment", "Group"):
            sid = _first_segment(child)
            n = sum(1 for ln in msg.lines if ln[:3] == sid)
            return StructureError(f"segment {sid} occurs more often than {parent.name} allows "
                                  f"(at most {limit})", sid if n < 2 else f"{sid}[{limit + 1}]",
                                  "100")
        number = _position(child.name)
        if number is not None and child.classname in ("Component", "SubComponent"):
            where = f"{where}.{number}" if where else where
        if limit == 0:
            return StructureError(f"{where} must be empty: it is not used in {defined}",
                                  where, "102")
        if child.classname == "Field":
            return StructureError(f"{where} repeats more often than allowed (at most {limit})",
                                  where, "102")
        kind = "components" if parent.classname == "Field" else "subcomponents"
        return StructureError(f"{where} has {kind} but its data type {parent.datatype} is a "
                              "single value (misplaced value or unescaped separator?)", where,
                              "102")
    if isinstance(exc, ValueError) and (match := _NOT_VALID.fullmatch(str(exc))):
        value, kind = match.groups()
        return StructureError(f"{where} value {value!r} is not a valid {kind}", where, "102")
    if isinstance(exc, hx.InvalidName | hx.OperationNotAllowed | hx.ChildNotFound):
        if where is None or "-" not in where:
            return StructureError(f"the validator cannot interpret the message header: {exc}",
                                  "MSH-9", "200")
        kind = "field" if where.count(".") == 0 else "component"
        return StructureError(f"{kind} {where} is not defined for {seg} in {defined} "
                              "(withdrawn, or past the last one)", where, "102")
    if isinstance(exc, hx.InvalidEncodingChars):
        return StructureError(f"MSH-2 (encoding characters) is invalid: {exc.message}", "MSH-2",
                              "102")
    if isinstance(exc, hx.UnsupportedVersion):
        return StructureError(f"HL7 version {exc.version!r} cannot be validated (supported: "
                              f"{_VERSIONS})", "MSH-12", "203")
    if isinstance(exc, hx.MessageProfileNotFound):
        return StructureError(f"the profile does not describe {msg.structure} messages",
                              "MSH-9", "200")
    if isinstance(exc, hx.ParserError):
        return StructureError(f"not an HL7 v2 message ({exc})", "MSH", "100")
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return StructureError(f"{where + ' ' if where else ''}could not be validated ({text})",
                          where, "102" if where else "207")


# ------------------------------------------------------------------ conformance profiles
def _local(tag: str) -> str:
    """An XML tag without its namespace."""
    return tag.rpartition("}")[2]


def _cardinality(el: ET.Element, component: bool = False) -> tuple[int, int]:
    """(min, max) from Usage/Min/Max, the way hl7apy_profile_parser reads them."""
    usage = (el.get("Usage") or "").upper()
    if usage == "X":
        return 0, 0
    if component:
        return (1, 1) if usage == "R" else (0, 1)
    low = int(el.get("Min") or 0)
    high_text = (el.get("Max") or "*").strip()
    high = -1 if high_text == "*" else int(high_text)
    return (max(low, 1) if usage == "R" else low), high


def _leaf_info(el: ET.Element, name: str) -> tuple[str, str | None, int]:
    """(datatype, table, length) of a Field/Component/SubComponent element."""
    datatype = (el.get("Datatype") or "").strip().upper()
    if not datatype:
        raise ValueError(f"{name} has no Datatype")
    table = (el.get("Table") or "").strip()
    if table and not table.upper().startswith("HL7"):
        table = f"HL7{table.zfill(4)}"
    length = (el.get("Length") or "").strip()
    return ("varies" if datatype == "VARIES" else datatype), table or None, (
        int(length) if length else -1)


def _long(el: ET.Element) -> str:
    """hl7apy-style long name: 'Patient Name' -> PATIENT_NAME."""
    return re.sub(r"\W+", "_", (el.get("Name") or "").strip().upper()).strip("_")


def _components(el: ET.Element, datatype: str) -> tuple[Any, ...]:
    """Component (or SubComponent) references of a Field (or Component)."""
    out = []
    kids = [k for k in el if _local(k.tag) in ("Component", "SubComponent")]
    for index, kid in enumerate(kids, 1):
        name = f"{datatype}_{index}"
        kid_type, table, length = _leaf_info(kid, name)
        children = _components(kid, kid_type) or None
        out.append((name, ["sequence" if children else "leaf", children, kid_type, _long(kid),
                           table, length], _cardinality(kid, component=True), "CMP"))
    return tuple(out)


def _profile_children(parent: ET.Element, structure: str, seen: set[str]) -> tuple[Any, ...]:
    """Segment and group references under a static definition or a SegGroup."""
    out: list[Any] = []
    for el in parent:
        tag, name = _local(el.tag), (el.get("Name") or "").strip()
        if tag == "Segment":
            if not _SEGMENT_ID.fullmatch(name):
                raise ValueError(f"invalid segment name {name!r}")
            seen.add(name)
            fields = []
            for index, field in enumerate((f for f in el if _local(f.tag) == "Field"), 1):
                fname = f"{name}_{index}"
                datatype, table, length = _leaf_info(field, fname)
                comps = _components(field, datatype) or None
                fields.append((fname, ("sequence" if comps else "leaf", comps, datatype,
                                       _long(field), table, length), _cardinality(field), "FIE"))
            out.append((name, ("sequence", tuple(fields)), _cardinality(el), "SEG"))
        elif tag == "SegGroup":
            out.append((f"{structure}_{name}", ("sequence", _profile_children(el, structure, seen)),
                        _cardinality(el), "GRP"))
    return tuple(out)


def _load_profile(path: str) -> _Profile:
    """Read an HL7 v2.x conformance profile XML (no DOCTYPE) into an hl7apy reference."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read the message profile: {exc.strerror or exc}",
                          file=path) from None
    if b"<!DOCTYPE" in data.upper():
        raise ConfigError("message profile XML must not contain a DOCTYPE", file=path)
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        line, column = exc.position
        raise ConfigError(f"message profile is not well-formed XML: {exc}", file=path,
                          line=line, column=column) from None
    static = root if _local(root.tag) == "HL7v2xStaticDef" else next(
        (el for el in root.iter() if _local(el.tag) == "HL7v2xStaticDef"), None)
    if static is None:
        raise ConfigError("not an HL7 v2.x conformance profile (no HL7v2xStaticDef element)",
                          file=path)
    structure = (static.get("MsgStructID") or "").strip()
    version = (root.get("HL7Version") or "").strip() or None
    if not structure:
        raise ConfigError("the profile's HL7v2xStaticDef has no MsgStructID", file=path)
    if version is not None and version not in SUPPORTED_LIBRARIES:
        raise ConfigError(f"the profile's HL7Version {version!r} is not supported (supported: "
                          f"{_VERSIONS})", file=path)
    seen: set[str] = set()
    try:
        children = _profile_children(static, structure, seen)
    except ValueError as exc:
        raise ConfigError(f"invalid message profile: {exc}", file=path) from None
    if not children or children[0][0] != "MSH":
        raise ConfigError("the profile's first segment must be MSH", file=path)
    return _Profile(structure, version, ("sequence", children), frozenset(seen))
