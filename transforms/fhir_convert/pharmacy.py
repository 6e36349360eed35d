"""Pharmacy order groups (RDE^O11, RDS^O13): ORC + RXO/RXE (+ TQ1, RXR, RXC, FT1, BLG, CTI)
-> MedicationRequest (order and encoded order), Medication, ChargeItem, Account, ResearchStudy."""

from __future__ import annotations

from typing import Any

from .charges import charge_item, link
from .context import Ctx
from .elements import coded, cwe
from .references import practitioner, xcn_key, xon_organization
from .rules import apply, ref
from .tables_orders import order_id
from .tables_pharmacy import (
    ACCOUNT_BLG,
    MEDICATION_REQUEST_RXE,
    MEDICATION_REQUEST_RXO,
    MEDICATION_REQUEST_TQ1,
    RESEARCH_STUDY_CTI,
    dosage,
)
from .values import Node, Seg

V2 = "http://terminology.hl7.org/CodeSystem/"


def _role(xcn: Node, code_value: str, display: str, org: str | None, ctx: Ctx) -> str | None:
    """XCN -> PractitionerRole with an HL7 table 0443 role (and organization)."""
    person = practitioner(xcn, ctx)
    if person is None:
        return None
    body = {"code": [coded(code_value, V2 + "v2-0443", display)], "practitioner": ref(person),
            "organization": ref(org)}
    return ctx.builder.put("PractitionerRole", xcn_key(xcn), body)


def _dispenser(cwe_node: Node, ctx: Ctx) -> str | None:
    """RXO-32 / RXE-40 (dispensing pharmacy, CWE) -> Organization."""
    from .tables_charges import cost_center

    return cost_center(cwe_node, ctx)


def _medication(code: Node, form: Node, ingredients: list[dict[str, Any]], key: str,
                ctx: Ctx) -> str | None:
    """A drug code (RXO-1 / RXE-2) -> Medication with its form and ingredients."""
    if not code:
        return None
    body = {"code": cwe()(code, ctx), "form": cwe()(form, ctx) if form else None,
            "ingredient": ingredients}
    return ctx.builder.put("Medication", key, body)


def _ingredients(rxcs: list[Seg], ctx: Ctx) -> list[dict[str, Any]]:
    """RXC components -> Medication.ingredient entries (each its own Medication)."""
    from .tables_pharmacy import _qty

    out = []
    for rxc in rxcs:
        amount = _qty(rxc[3], rxc[4], ctx)
        item = ctx.builder.put("Medication", "RXC|" + rxc.raw, {
            "code": cwe()(rxc[2], ctx),
            "amount": {"numerator": amount, "denominator": {"value": 1}} if amount else None})
        strength = _qty(rxc[5], rxc[6], ctx)
        out.append({"strength": {"numerator": strength, "denominator": {"value": 1}}
                    if strength else None, "itemReference": ref(item)})
    return out


def _request(orc: Seg, ctx: Ctx) -> dict[str, Any]:
    """The MedicationRequest elements both the order and the encoded order take from ORC."""
    return {"identifier": [order_id("PLAC")(orc[2], ctx), order_id("FILL")(orc[3], ctx)],
            "status": "active", "authoredOn": _dtm(orc[9], ctx),
            "subject": ref(ctx.refs.get("patient")),
            "encounter": ref(ctx.refs.get("encounter"))}


def _dtm(node: Node, ctx: Ctx) -> str | None:
    from .datatypes import dtm

    return dtm(node, ctx)


def pharmacy_orders(segs: list[Seg], ctx: Ctx) -> list[str]:
    """Walk ORC groups of an RDE/RDS message -> MedicationRequests (and the rest)."""
    patient = ctx.refs.get("patient")
    orcs = [s for s in segs if s.id == "ORC"]
    out = []
    for n, orc in enumerate(orcs):
        end = orcs[n + 1].index if n + 1 < len(orcs) else len(segs)
        group = segs[orc.index + 1:end]
        ids = [s.id for s in group]
        rxo = group[ids.index("RXO")] if "RXO" in ids else None
        rxe = group[ids.index("RXE")] if "RXE" in ids else None
        split = rxe.index if rxe is not None else end
        before = [s for s in group if s.index < split]
        after = [s for s in group if s.index > split]
        rxcs = [s for s in group if s.id == "RXC"]
        ingredients = _ingredients(rxcs, ctx)
        org = xon_organization(orc[21], ctx) if orc[21] else None
        recorder = _role(orc[19], "IP", "Initiating Provider", None, ctx) if orc[19] else None
        order = None
        if rxo is not None:
            tq1 = next((s for s in before if s.id == "TQ1"), None)
            rxr = next((s for s in before if s.id == "RXR"), None)
            body = {**_request(orc, ctx), "intent": "original-order"}
            apply(MEDICATION_REQUEST_RXO, rxo, ctx, body)
            apply(MEDICATION_REQUEST_TQ1, tq1, ctx, body)
            body["dispenseRequest"] = {**body.get("dispenseRequest", {}),
                                       "performer": ref(_dispenser(rxo[32], ctx))}
            body["requester"] = ref(_role(rxo[14], "OP", "Ordering Provider", org, ctx))
            body["recorder"] = ref(recorder)
            body["medicationReference"] = ref(_medication(rxo[1], rxo[5], ingredients,
                                                          "RXO|" + rxo.raw, ctx))
            body["dosageInstruction"] = [dosage(rxo, tq1, rxr, ctx, encoded=False)]
            order = ctx.builder.put("MedicationRequest", f"{patient}|RXO|{orc.raw}|{rxo.raw}",
                                    body)
            out.append(order)
        if rxe is None:
            continue
        tq1 = next((s for s in after if s.id == "TQ1"), None)
        rxr = next((s for s in after if s.id == "RXR"), None)
        body = {**_request(orc, ctx), "intent": "filler-order"}
        previous = ctx.segment
        ctx.segment = rxe
        apply(MEDICATION_REQUEST_RXE, rxe, ctx, body)
        ctx.segment = previous
        apply(MEDICATION_REQUEST_TQ1, tq1, ctx, body)
        body["dispenseRequest"] = {**body.get("dispenseRequest", {}),
                                   "performer": ref(_dispenser(rxe[40], ctx))}
        body["requester"] = ref(_role(rxe[13], "OP", "Ordering Provider", org, ctx))
        body["recorder"] = ref(recorder)
        body["medicationReference"] = ref(_medication(rxe[2], rxe[6], ingredients,
                                                      "RXE|" + rxe.raw, ctx))
        body["basedOn"] = [ref(order)] if order else None
        body["dosageInstruction"] = [dosage(rxe, tq1, rxr, ctx, encoded=True)]
        accounts = [ctx.builder.put("Account", f"{patient}|BLG|{s[3].raw}",
                                    apply(ACCOUNT_BLG, s, ctx)) for s in after if s.id == "BLG"]
        studies = [ctx.builder.put("ResearchStudy", f"CTI|{s.raw}",
                                   apply(RESEARCH_STUDY_CTI, s, ctx))
                   for s in after if s.id == "CTI"]
        body["supportingInformation"] = [ref(r) for r in [*studies, *accounts]]
        encoded = ctx.builder.put("MedicationRequest", f"{patient}|RXE|{orc.raw}|{rxe.raw}",
                                  body)
        out.append(encoded)
        for ft1 in [s for s in after if s.id == "FT1"]:
            charge = charge_item(ft1, ctx, has_orders=True)
            link(ctx, charge, "supportingInformation", encoded)
            for account in accounts:
                if charge:
                    ctx.builder.update(charge, {"account": [ref(account)]})
    return out
