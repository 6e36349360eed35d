"""HL7 v2 conformance profiles (HL7v2xConformanceProfile XML) read as hl7apy references.

hl7apy's own loader unpickles a file made by its `hl7apy_profile_parser` script, which would
let a config path run code. This reads the XML itself with the standard library (a DOCTYPE is
refused) and builds the same reference tuples that script writes: `(name, (kind, children,
datatype, long name, table, length), (min, max), class)`.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, NamedTuple

from hl7apy import SUPPORTED_LIBRARIES, load_reference
from hl7apy.core import is_base_datatype

from engine.errors import ConfigError


class Profile(NamedTuple):
    """What a conformance profile fixes: version, message structure and its reference."""

    version: str
    structure: str
    reference: Any


def _local(tag: str) -> str:
    """An element's tag without its XML namespace."""
    return tag.rsplit("}", 1)[-1]


def _kids(el: ET.Element, *tags: str) -> list[ET.Element]:
    return [child for child in el if _local(child.tag) in tags]


def _cardinality(el: ET.Element, component: bool = False) -> tuple[int, int]:
    """(min, max) from Usage/Min/Max; Usage X means must be empty, R at least one."""
    usage = (el.get("Usage") or "").upper()
    if usage == "X":
        return 0, 0
    if component:
        return (1, 1) if usage == "R" else (0, 1)
    low = int(el.get("Min") or 0)
    high_text = el.get("Max") or "-1"
    high = -1 if high_text == "*" else int(high_text)
    if usage == "R":
        low = max(low, 1)
    return low, high


def _long(el: ET.Element) -> str:
    """hl7apy's long name: upper case, non-word runs as underscores."""
    return re.sub(r"\W+", "_", (el.get("Name") or "").strip().upper()).strip("_")


def _datatype(el: ET.Element, version: str, path: str) -> str:
    datatype = (el.get("Datatype") or "").strip()
    if not datatype:
        raise ValueError(f"{_local(el.tag)} {el.get('Name')!r} has no Datatype")
    if datatype.upper() == "VARIES":
        return "varies"
    datatype = datatype.upper()
    if not is_base_datatype(datatype, version):
        try:
            load_reference(datatype, "Datatypes_Structs", version)
        except Exception:  # noqa: BLE001 - hl7apy raises several types for unknown names
            raise ValueError(f"unknown data type {datatype} at {path}") from None
    return datatype


def _element(el: ET.Element, name: str, cls: str, version: str,
             component: bool = False) -> tuple[Any, ...]:
    """A field or component reference with its components, if the profile lists them."""
    datatype = _datatype(el, version, name)
    children = tuple(
        _element(child, f"{datatype}_{i}", "CMP", version, component=True)
        for i, child in enumerate(_kids(el, "Component", "SubComponent"), 1)) or None
    if children is None and datatype != "varies" and not is_base_datatype(datatype, version):
        # a composite the profile does not detail keeps its standard components (hl7apy
        # cannot validate a composite declared as a leaf)
        children = tuple(load_reference(datatype, "Datatypes_Structs", version))
    table = f"HL7{el.get('Table')}" if el.get("Table") else None
    length = int(el.get("Length") or 0)
    kind = "sequence" if children else "leaf"
    return (name, (kind, children, datatype, _long(el), table, length),
            _cardinality(el, component), cls)


def _group(parent: ET.Element, structure: str, version: str) -> tuple[Any, ...]:
    """The segments and segment groups under a static definition or a group."""
    items = []
    for child in parent:
        tag, name = _local(child.tag), child.get("Name") or ""
        if tag == "Segment":
            fields = tuple(_element(field, f"{name}_{i}", "FIE", version)
                           for i, field in enumerate(_kids(child, "Field"), 1))
            items.append((name, ("sequence", fields), _cardinality(child), "SEG"))
        elif tag == "SegGroup":
            items.append((f"{structure}_{name}", ("sequence", _group(child, structure, version)),
                          _cardinality(child), "GRP"))
    return tuple(items)


def load_profile(path: str) -> Profile:
    """Read and convert a profile; any problem is a ConfigError naming the file."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the message profile: {exc}", path) from None
    if "<!DOCTYPE" in text.upper():
        raise ConfigError("a message profile must not contain a DOCTYPE", path)
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise ConfigError(f"the message profile is not well-formed XML: {exc}", path) from None
    version = (root.get("HL7Version") or "").strip()
    if version not in SUPPORTED_LIBRARIES:
        raise ConfigError(f"HL7Version {version!r} is not supported (use one of "
                          f"{', '.join(sorted(SUPPORTED_LIBRARIES))})", path)
    static = [el for el in root.iter() if _local(el.tag) == "HL7v2xStaticDef"]
    if not static:
        raise ConfigError("the message profile has no HL7v2xStaticDef", path)
    definition = static[0]
    structure = definition.get("MsgStructID") or (
        f"{definition.get('MsgType')}_{definition.get('EventType')}")
    try:
        items = _group(definition, structure, version)
    except ValueError as exc:
        raise ConfigError(f"invalid message profile: {exc}", path) from None
    if not items or items[0][0] != "MSH":
        raise ConfigError("invalid message profile: the first segment must be MSH", path)
    return Profile(version, structure, ("sequence", items))
