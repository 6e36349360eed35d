"""MSH and EVN -> MessageHeader, Provenance, sender/receiver Organizations, source Device."""

from __future__ import annotations

from typing import Any

from .context import Ctx
from .datatypes import dtm, hd_identifiers, hd_system
from .elements import coded
from .references import device_hd, hd_key, hd_location, practitioner, xon_organization
from .rules import apply, ref
from .tables import PROVENANCE_EVN
from .values import Node, Seg

V2 = "http://terminology.hl7.org/CodeSystem/"
ABSENT = {"extension": [{"url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason",
                         "valueCode": "unknown"}]}
"""An element FHIR requires but the message does not give (data-absent-reason: unknown)."""


def _hd_organization(hd: Node, msh: Seg, parent: str | None, ctx: Ctx) -> str | None:
    """MSH-4 / MSH-6 -> Organization (identifiers from the HD, part of MSH-22 / MSH-23)."""
    if not (hd[1].v or hd[2].v or hd[3].v):
        return None
    body: dict[str, Any] = {"identifier": hd_identifiers(hd), "partOf": ref(parent),
                            "address": [{"country": msh[17].v}]}
    return ctx.builder.put("Organization", hd_key(hd), body)


def _endpoint(name_hd: Node, network: Node) -> dict[str, Any]:
    """MessageHeader source/destination: name and endpoint (network address or absent)."""
    if network and network[1].v:
        out: dict[str, Any] = {"name": network[1].v}
        system = hd_system(network)
        out["endpoint"] = system if system.startswith("urn:") else network[2].v or network[1].v
        return out
    return {"name": name_hd[1].v, "_endpoint": ABSENT}


def message_header(msh: Seg, ctx: Ctx, bundle_id: str) -> None:
    """MSH -> MessageHeader + Provenance (+ Organizations and the sending Device)."""
    responsible = xon_organization(msh[22], ctx) if msh[22][1].v else None
    receiving_parent = xon_organization(msh[23], ctx) if msh[23][1].v else None
    sender = _hd_organization(msh[4], msh, responsible, ctx)
    receiver = _hd_organization(msh[6], msh, receiving_parent, ctx)
    device = device_hd(msh[3], ctx) if msh[3] and msh[24] else None
    ctx.refs.update(sender=sender, responsible=responsible, device=device)
    destination = {**_endpoint(msh[5], msh[25]), "receiver": ref(receiving_parent or receiver)}
    header = {
        "source": _endpoint(msh[3], msh[24]),
        "destination": [destination],
        "meta": {"security": [{"display": msh[8].v}] if msh[8].v else None,
                 "tag": [{"code": msh[11][1].v, "system": V2 + "v2-0103"}]},
        "eventCoding": {"code": msh[9][2].v, "system": V2 + "v2-0003",
                        "display": msh[9].raw.replace(msh.seps.component, "^")},
        "language": msh[19][1].v,
        "sender": ref(sender),
        "responsible": ref(responsible),
    }
    ctx.builder.put("MessageHeader", "MSH|" + msh.raw, header)
    when = dtm(msh[7], ctx)
    provenance = {
        "occurredDateTime": when, "recorded": when,
        "agent": [{"type": coded("author", V2 + "provenance-participant-type"),
                   "who": ref(responsible or sender) or ABSENT}],
        "activity": {"coding": [{"display": msh[9].v and msh[9].raw}]},
        "entity": [{"role": "source", "what": ref(device)}] if device else None,
        "target": [{"reference": f"Bundle/{bundle_id}"}],
    }
    ctx.builder.put("Provenance", "MSH|" + msh.raw, provenance)


def event_provenance(evn: Seg, msh: Seg, ctx: Ctx, bundle_id: str) -> None:
    """EVN -> Provenance (recorded, reason, operator, event facility)."""
    body = apply(PROVENANCE_EVN, evn, ctx)
    who = practitioner(evn[5], ctx) if evn[5] else None
    body["agent"] = [{"who": {"reference": who} if who else ABSENT}]
    body["location"] = ref(hd_location(evn[7], ctx)) if evn[7] else None
    body["activity"] = {"text": msh[9].raw}
    body["target"] = [{"reference": f"Bundle/{bundle_id}"}]
    ctx.builder.put("Provenance", "EVN|" + evn.raw, body)
