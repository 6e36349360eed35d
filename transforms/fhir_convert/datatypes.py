"""HL7 v2 datatype -> FHIR datatype converters (TS/DTM, DT, CWE/CE, CX, EI, HD, XPN, XAD, XTN...).

Every converter takes a `Node` (a field, repetition or component) and the conversion context
and returns a FHIR value, or None when the HL7 element is empty.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from . import codes
from .context import Ctx, Options
from .values import Node

_TS = re.compile(r"(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\.\d+)?(Z|[+-]\d{4})?$")
_OFFSET = re.compile(r"([+-])(\d{2}):?(\d{2})$")


# ----------------------------------------------------------------------------- dates and times
def _offset(text: str) -> timezone:
    """A timezone from '+0530', '+05:30' or 'Z'."""
    if text in ("Z", "z", "utc", "UTC", ""):
        return UTC
    m = _OFFSET.match(text)
    if m is None:
        raise ValueError(f"invalid UTC offset {text!r} (expected e.g. +05:30 or Z)")
    delta = timedelta(hours=int(m.group(2)), minutes=int(m.group(3)))
    return timezone(-delta if m.group(1) == "-" else delta)


def _format_offset(tz: timezone, moment: datetime) -> str:
    """'+05:30' style offset ('Z' for UTC)."""
    delta = tz.utcoffset(moment) or timedelta(0)
    if not delta:
        return "Z"
    sign = "-" if delta < timedelta(0) else "+"
    minutes = abs(int(delta.total_seconds())) // 60
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def format_datetime(text: str, options: Options) -> str | None:
    """HL7 TS/DTM (YYYY[MM[DD[HH[MM[SS[.S]]]]]][+/-ZZZZ]) -> FHIR dateTime; None if invalid."""
    m = _TS.match(text.strip())
    if m is None:
        return None
    year, month, day, hour, minute, second, frac, zone = m.groups()
    if hour is None:
        return "-".join(p for p in (year, month, day) if p)
    fraction = frac or ""
    moment = datetime(int(year), int(month), int(day), int(hour), int(minute or 0),
                      int(second or 0), tzinfo=_offset(zone or options.naive_offset))
    mode = options.timezone
    if mode != "preserve":
        moment = moment.astimezone(_offset("Z" if mode == "utc" else mode))
    zone_text = _format_offset(moment.tzinfo, moment)  # type: ignore[arg-type]
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + fraction + zone_text


def format_date(text: str) -> str | None:
    """The date part of an HL7 DT/TS value as a FHIR date; None if invalid."""
    m = _TS.match(text.strip())
    if m is None:
        return None
    return "-".join(p for p in m.groups()[:3] if p)


def dtm(node: Node, ctx: Ctx) -> str | None:
    """TS/DTM -> dateTime (TS.1 when the value has components)."""
    text = node[1].v if node.level < 2 else node.v
    return format_datetime(text, ctx.options) if text else None


def date(node: Node, ctx: Ctx) -> str | None:
    """DT (or the date of a TS) -> date."""
    text = node[1].v if node.level < 2 else node.v
    return format_date(text) if text else None


def period(start: Node, end: Node, ctx: Ctx, as_date: bool = False) -> dict[str, str] | None:
    """A Period from two timestamp nodes."""
    conv = date if as_date else dtm
    out = {k: v for k, v in (("start", conv(start, ctx)), ("end", conv(end, ctx))) if v}
    return out or None



# ---------------------------------------------------------------------------------- strings
def string(node: Node, ctx: Ctx) -> str | None:
    """ST/ID/IS -> string (the first component of a composite)."""
    return (node[1].v if node.level < 2 else node.v) or None



def number(node: Node, ctx: Ctx) -> int | float | None:
    """NM -> number (int when integral)."""
    raw = string(node, ctx)
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        return None
    return int(value) if value.is_integer() and "." not in raw else value


# ------------------------------------------------------------------------------------ codes
def coding(code: str, display: str = "", system: str = "", version: str = "",
           table: str | None = None, system_name: bool = True) -> dict[str, str] | None:
    """A Coding; `table` maps the HL7 code first, `system` is an HL7 name unless a URI."""
    if not code:
        return None
    if table:
        mapped = codes.lookup(table, code)
        if mapped is not None:
            if display and "display" not in mapped:
                mapped["display"] = display
            return mapped
    uri = codes.system_uri(system) if system and system_name else system
    out = {"code": code, "display": display, "system": uri, "version": version}
    return {k: v for k, v in out.items() if v}


def codeable(node: Node, ctx: Ctx, table: str | None = None, system: str | None = None,
             alternate: bool = True) -> dict[str, Any] | None:
    """CWE/CE/CNE -> CodeableConcept (primary and alternate codings, original text)."""
    if node.level >= 2:  # a bare code in a component
        c = coding(node.v, table=table, system=system or "")
        return {"coding": [c]} if c else None
    codings = [coding(node[1].v, node[2].v, system or node[3].v, node[7].v, table)]
    if alternate:
        codings.append(coding(node[4].v, node[5].v, node[6].v, node[8].v, table))
    found = [c for c in codings if c]
    text_value = node[9].v
    if not found and not text_value:
        if node[2].v:
            return {"text": node[2].v}
        return None
    out: dict[str, Any] = {"coding": found}
    if text_value:
        out["text"] = text_value
    return out


def code(node: Node, ctx: Ctx, table: str | None = None) -> str | None:
    """ID/IS/CWE.1 -> code, mapped through `table` when given."""
    value = node[1].v if node.level < 2 else node.v
    if not value:
        return None
    if table:
        mapped = codes.lookup(table, value)
        return mapped["code"] if mapped else None
    return value



# ------------------------------------------------------------------------------ identifiers
def hd_system(hd: Node) -> str:
    """The identifier system an HD (assigning authority) stands for."""
    if not hd:
        return ""
    ns, uid, kind = hd[1].v, hd[2].v, hd[3].v
    if not kind:
        name = ns or uid
        return codes.EXAMPLE_IDENTIFIER + name.replace(" ", "-") if name else ""
    if kind in ("ISO", "CLIA", "CLIP"):
        return f"urn:oid:{uid}"
    if kind in ("UUID", "GUID"):
        return f"urn:uuid:{uid}"
    return codes.EXAMPLE_IDENTIFIER + kind.replace(" ", "-")


def hd_identifiers(hd: Node) -> list[dict[str, Any]]:
    """HD -> identifiers: the namespace id, and the universal id typed by HD.3."""
    ns, uid, kind = hd[1].v, hd[2].v, hd[3].v
    out: list[dict[str, Any]] = []
    if ns:
        out.append({"value": ns, "system": codes.EXAMPLE_IDENTIFIER + ns.replace(" ", "-")})
    if uid:
        ident: dict[str, Any] = {"value": uid}
        if kind in ("ISO", "CLIA", "CLIP"):
            ident = {"value": f"urn:oid:{uid}", "system": "urn:ietf:rfc:3986"}
        elif kind in ("UUID", "GUID"):
            ident = {"value": f"urn:uuid:{uid}", "system": "urn:ietf:rfc:3986"}
        elif kind:
            ident["system"] = codes.EXAMPLE_IDENTIFIER + kind.replace(" ", "-")
        if kind:
            type_coding = coding(kind, table="universal_id_type")
            ident["type"] = {"coding": [type_coding]}
        out.append(ident)
    return out


def id_type(code_value: str, table: str = "identifier_type") -> dict[str, Any] | None:
    """An identifier type CodeableConcept from an HL7 table 0203 code (unknown codes as is)."""
    c = coding(code_value, table=table)
    return {"coding": [c]} if c else None


def cx(node: Node, ctx: Ctx) -> dict[str, Any] | None:
    """CX -> Identifier (value, system from CX.4, type CX.5, period CX.7-8, assigner)."""
    from .references import hd_organization

    value = node[1].v
    if not value:
        return None
    out: dict[str, Any] = {"value": value, "system": hd_system(node[4]),
                           "type": id_type(node[5].v),
                           "period": period(node[7], node[8], ctx, as_date=True)}
    assigner = hd_organization(node[4], ctx)
    if assigner:
        out["assigner"] = {"reference": assigner}
    return out


def ei_authority(node: Node) -> Node:
    """The HD made of EI.2-EI.4 (namespace, universal id, universal id type)."""
    return Node(node.seps.subcomponent.join([node[2].raw, node[3].raw, node[4].raw]),
                node.seps, 2)


def ei(node: Node, ctx: Ctx) -> dict[str, Any] | None:
    """EI (entity id, namespace, universal id, type) -> Identifier."""
    value = node[1].v if node.level < 3 else node.v
    if not value:
        return None
    return {"value": value, "system": hd_system(ei_authority(node))}


# ------------------------------------------------------------------------- names, addresses
def xpn(node: Node, ctx: Ctx) -> dict[str, Any] | None:
    """XPN -> HumanName."""
    family = node[1][1].v if node.level < 2 else node.v
    given = [node[2].v, node[3].v, node[15].v] if node.level < 2 else []
    validity = node[10]
    name = {"family": family, "given": given,
            "suffix": [node[4].v, node[6].v, node[14].v], "prefix": [node[5].v],
            "use": code(node[7], ctx, "name_use"),
            "period": {"start": date(validity[1], ctx) or date(node[12], ctx),
                       "end": date(validity[2], ctx) or date(node[13], ctx)}}
    return name if (family or any(given)) else None


def xcn_name(node: Node, ctx: Ctx) -> dict[str, Any] | None:
    """The HumanName part of an XCN."""
    name = {"family": node[2][1].v, "given": [node[3].v, node[4].v],
            "suffix": [node[5].v, node[7].v, node[21].v], "prefix": [node[6].v],
            "use": code(node[10], ctx, "name_use"),
            "period": {"start": dtm(node[19], ctx), "end": dtm(node[20], ctx)}}
    return name if (name["family"] or any(name["given"])) else None


def xad(node: Node, ctx: Ctx) -> dict[str, Any] | None:
    """XAD -> Address."""
    street = node[1]
    lines = [street[1].v, street[2].v, street[3].v, node[2].v, node[19].v] \
        if street.level == 2 and node.seps.subcomponent in street.raw else \
        [node[1].v, node[2].v, node[19].v]
    validity = node[12]
    addr = {"line": lines, "city": node[3].v, "state": node[4].v, "postalCode": node[5].v,
            "country": node[6].v, "type": code(node[7], ctx, "address_type"),
            "use": code(node[7], ctx, "address_use"), "district": node[9].v,
            "period": {"start": date(validity[1], ctx) or date(node[13], ctx),
                       "end": date(validity[2], ctx) or date(node[14], ctx)}}
    return addr


def xtn(node: Node, ctx: Ctx) -> dict[str, Any] | None:
    """XTN -> ContactPoint."""
    value = node[1].v or node[4].v or node[12].v
    if not value and node[7].v:
        value = "".join(p for p in (node[5].v, node[6].v, node[7].v, node[8].v) if p)
    if not value:
        return None
    equipment = node[3].v
    system = codes.lookup("telecom_system", equipment) if equipment else None
    return {"value": value, "system": system["code"] if system else None,
            "use": code(node[2], ctx, "telecom_use"),
            "period": {"start": dtm(node[13], ctx), "end": dtm(node[14], ctx)},
            "rank": number(node[18], ctx)}


# ----------------------------------------------------------------------- quantities, money
def quantity(value: Node, unit: Node | None, ctx: Ctx) -> dict[str, Any] | None:
    """NM value + CWE unit -> Quantity."""
    amount = number(value, ctx)
    if amount is None:
        return None
    out: dict[str, Any] = {"value": amount}
    if unit is not None and unit:
        out["unit"] = unit[2].v or unit[1].v if unit.level < 2 else unit.v
        if unit.level < 2 and unit[1].v:
            out["code"] = unit[1].v
            system = unit[3].v
            if system:
                out["system"] = codes.system_uri(system)
    return out


def cq(node: Node, ctx: Ctx) -> dict[str, Any] | None:
    """CQ (quantity ^ units) -> Quantity."""
    return quantity(node[1], node[2] if node[2] else None, ctx)


def money(node: Node, ctx: Ctx) -> dict[str, Any] | None:
    """MO (or CP.1 MO in subcomponents) -> Money."""
    amount = number(node[1], ctx)
    if amount is None:
        return None
    return {"value": amount, "currency": node[2].v or None}
