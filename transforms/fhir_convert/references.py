"""HL7 datatypes that become resources of their own: HD/XON -> Organization, XCN ->
Practitioner, PL/DLD/HD -> Location, HD -> Device. Each returns the ``Type/id`` reference."""

from __future__ import annotations

from typing import Any

from . import codes
from .context import Ctx
from .datatypes import hd_identifiers, hd_system, id_type, xcn_name
from .values import Node

PHYSICAL_TYPE = "http://terminology.hl7.org/CodeSystem/location-physical-type"


def _ref(value: str | None) -> dict[str, str] | None:
    """{'reference': value} or None."""
    return {"reference": value} if value else None


def hd_key(hd: Node) -> str:
    """Organization/Device/Location id key of an HD: 'namespace,universal id', else the text."""
    if hd[1].v and hd[2].v:
        return f"{hd[1].v},{hd[2].v}"
    return hd.v if hd.level >= 2 else hd.raw


def xon_key(xon: Node) -> str:
    """Organization id key of an XON: 'id,assigning authority', else the whole text."""
    if xon[10].v:
        return f"{xon[10].v},{xon[6].raw}"
    if xon[3].v:
        return f"{xon[3].v},{xon[6].raw}"
    return xon.raw


def xcn_key(xcn: Node) -> str:
    """Practitioner id key of an XCN: 'id,assigning authority', else the whole text."""
    if xcn[1].v and xcn[9]:
        return f"{xcn[1].v},{xcn[9].raw}"
    return xcn.raw


def hd_complete(hd: Node) -> bool:
    """True when namespace id, universal id and its type are all present."""
    return bool(hd[1].v and hd[2].v and hd[3].v)


def hd_organization(hd: Node, ctx: Ctx, complete: bool = True) -> str | None:
    """HD -> Organization (by default only for a complete HD, as an identifier's assigner)."""
    if not hd or (complete and not hd_complete(hd)):
        return None
    idents = hd_identifiers(hd)
    if not idents:
        return None
    return ctx.builder.put("Organization", hd_key(hd), {"identifier": idents})


def xon_organization(xon: Node, ctx: Ctx, **extra: Any) -> str | None:
    """XON -> Organization (name, identifier from XON.10 or XON.3 with XON.6/XON.7)."""
    if not xon or xon.blank:
        return None
    name = xon[1].v
    value = xon[10].v or xon[3].v
    ident = None
    if value:
        ident = {"value": value, "type": id_type(xon[7].v)}
    body = {"name": name, "identifier": [ident], **extra}
    return ctx.builder.put("Organization", xon_key(xon), body)


def practitioner(xcn: Node, ctx: Ctx) -> str | None:
    """XCN -> Practitioner (identifier XCN.1 with XCN.9 authority and XCN.13 type, name)."""
    if not xcn:
        return None
    ident = None
    if xcn[1].v or xcn[13].v:
        ident = {"value": xcn[1].v, "system": hd_system(xcn[9]), "type": id_type(xcn[13].v),
                 "assigner": _ref(hd_organization(xcn[9], ctx))}
    body = {"identifier": [ident], "name": [xcn_name(xcn, ctx)]}
    return ctx.builder.put("Practitioner", xcn_key(xcn), body)



def device_hd(hd: Node, ctx: Ctx) -> str | None:
    """HD (an application) -> Device identified by the namespace id."""
    if not hd or not hd[1].v:
        return None
    return ctx.builder.put("Device", hd_key(hd), {"identifier": [{"value": hd[1].v}]})


def _physical(kind: str) -> dict[str, Any]:
    """Location.physicalType for a location-physical-type code."""
    return {"coding": [{"system": PHYSICAL_TYPE, "code": kind}]}


# PL component -> (physical type, component it is part of)
_PL_LEVELS: list[tuple[int, str, int | None]] = [
    (1, "lvl", 8), (2, "ro", 1), (3, "bd", 2), (4, "si", None), (7, "bu", 4), (8, "lvl", 7)]
_PL_ORDER = (1, 2, 3, 8, 7, 4)


def pl_locations(pl: Node, ctx: Ctx) -> str | None:
    """PL -> a Location per named level (point of care, room, bed, facility, building, floor),
    each part of the next larger one; returns the most specific-first reference (PL.1 ...)."""
    if not pl or pl.blank:
        return None
    parts = [sub.v for comp in range(1, 12) for sub in _subs(pl[comp]) if sub.v]
    description = "--".join(parts)
    refs: dict[int, str] = {}
    # build from the largest unit down so partOf targets exist
    for comp, kind, _parent in sorted(_PL_LEVELS, key=lambda x: _PL_ORDER.index(x[0]),
                                      reverse=True):
        node = pl[comp]
        if not node[1].v:
            continue
        body: dict[str, Any] = {"name": node[1].v, "mode": "instance",
                                "description": description, "physicalType": _physical(kind)}
        if node[2].v or node[3].v:
            body["identifier"] = [_hd_location_identifier(node)]
        refs[comp] = ctx.builder.put("Location", f"PL|{description}|{node[1].v}", body)
    for comp, _kind, parent in _PL_LEVELS:
        if comp in refs and parent in refs:
            ctx.builder.update(refs[comp], {"partOf": {"reference": refs[parent]}})
    for comp in _PL_ORDER:
        if comp in refs:
            return refs[comp]
    return None


def _subs(node: Node) -> list[Node]:
    """The subcomponents of a component (the component itself when it has none)."""
    if not node:
        return []
    return [node[i] for i in range(1, node.raw.count(node.seps.subcomponent) + 2)]


def _hd_location_identifier(node: Node) -> dict[str, Any]:
    """Identifier of a PL component given as HD subcomponents (name & id & type)."""
    uid, kind = node[2].v, node[3].v
    if kind in ("ISO", "CLIA", "CLIP"):
        return {"value": f"urn:oid:{uid}", "system": "urn:ietf:rfc:3986"}
    if kind in ("UUID", "GUID"):
        return {"value": f"urn:uuid:{uid}", "system": "urn:ietf:rfc:3986"}
    return {"value": uid, "system": codes.EXAMPLE_IDENTIFIER + kind if kind else None}


def hd_location(hd: Node, ctx: Ctx) -> str | None:
    """HD (a place) -> Location named HD.1 identified by HD.2/HD.3, physical type site."""
    if not hd or not hd[1].v.strip():
        return None
    ident = None
    if hd[2].v:
        ident = _hd_location_identifier(Node(hd.seps.subcomponent.join(
            [hd[1].raw, hd[2].raw, hd[3].raw]), hd.seps, 2))
    body = {"name": hd[1].v, "identifier": [ident], "physicalType": _physical("si")}
    return ctx.builder.put("Location", hd_key(hd), body)


def dld_location(dld: Node, ctx: Ctx) -> str | None:
    """DLD (discharge location: code & text & system) -> Location."""
    loc = dld[1]
    if not loc:
        return None
    value, name, system = loc[1].v, loc[2].v, loc[3].v
    body = {"name": name or value,
            "identifier": [{"value": value, "system": codes.system_uri(system, True)
                            if system else None}],
            "physicalType": _physical("si")}
    return ctx.builder.put("Location", "DLD|" + dld.raw, body)
