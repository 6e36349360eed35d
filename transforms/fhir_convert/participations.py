"""PRT (participation) and ROL segments -> PractitionerRole, Organization, Location, Device,
linked to whatever the segment belongs to (patient, visit, charge, procedure)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .context import Ctx
from .datatypes import coding, date
from .references import pl_locations, practitioner, xcn_key, xon_organization
from .rules import ref
from .tables_clinical import ei_typed
from .values import Node, Seg

V2 = "http://terminology.hl7.org/CodeSystem/"


@dataclass
class Participation:
    """What one PRT produced."""

    role: str | None = None
    organization: str | None = None
    locations: list[str] = field(default_factory=list)
    device: str | None = None


def _role_code(node: Node) -> dict[str, Any] | None:
    """PRT-4 participation (table 0912) -> PractitionerRole.code (system v2-0443)."""
    value = node[1].v
    if not value:
        return None
    c = coding(value, node[2].v, "http://terminology.hl7.org/CodeSystem/v2-0443")
    return {"coding": [c]} if c else None


def practitioner_role(prt: Seg, ctx: Ctx) -> str | None:
    """PRT with a person (PRT-5) -> PractitionerRole with location (PRT-9), org (PRT-8)."""
    person = prt[5]
    who = practitioner(person, ctx)
    if who is None:
        return None
    loc = pl_locations(prt[9], ctx) if prt[9] else None
    org = xon_organization(prt[8], ctx) if prt[8] else None
    body = {"code": [_role_code(prt[4])], "practitioner": ref(who),
            "location": [ref(loc)] if loc else None, "organization": ref(org)}
    return ctx.builder.put("PractitionerRole", xcn_key(person), body)


def device(prt: Seg, ctx: Ctx, patient: str | None = None) -> str | None:
    """PRT-10 (device EI) + PRT-16..20 (UDI, dates, lot, serial) -> Device."""
    if not prt[10]:
        return None
    idents = [ei_typed(rep, ctx) for rep in prt[10].reps]
    udi = prt[16]
    if udi:
        idents.append(ei_typed(udi, ctx))
    body = {"identifier": idents, "manufactureDate": date(prt[17], ctx),
            "expirationDate": date(prt[18], ctx), "lotNumber": prt[19].v,
            "serialNumber": prt[20].v, "patient": ref(patient)}
    first = prt[10]
    key = first.raw.split(prt.seps.repetition)[0]
    return ctx.builder.put("Device", "EI|" + key, body)


def participation(prt: Seg, ctx: Ctx, with_device: bool = True,
                  device_patient: str | None = None) -> Participation:
    """One PRT -> its resources (DE/UN 'deleted/unchanged' participations are skipped)."""
    out = Participation()
    if prt[2][1].v in ("DE", "UN"):
        return out
    if prt[5]:
        out.role = practitioner_role(prt, ctx)
        return out
    if prt[8]:
        out.organization = xon_organization(prt[8], ctx)
    for pl in prt[9].reps:
        loc = pl_locations(pl, ctx)
        if loc:
            out.locations.append(loc)
            if out.organization:
                ctx.builder.update(loc, {"managingOrganization": ref(out.organization)})
    if with_device:
        out.device = device(prt, ctx, device_patient)
    return out
