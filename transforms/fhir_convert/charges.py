"""DFT / BAR financial groups: FT1 (+ its PRT, ORC/OBR/OBX, PR1, DG1) -> ChargeItem and the
resources it points at (Procedure, MedicationDispense, Device, SupplyDelivery, Condition)."""

from __future__ import annotations

from .clinical import condition_key, observation
from .context import Ctx
from .datatypes import coding
from .elements import cwe
from .orders import OrderGroup, order_group
from .participations import participation
from .rules import apply, ref
from .tables_charges import (
    CHARGE_ITEM,
    MEDICATION_DISPENSE,
    cost_center,
    supplied_item,
    supply_delivery,
)
from .tables_clinical import CONDITION_DG1, PROCEDURE_PR1
from .values import Seg


def _between(segs: list[Seg], start: int, stop_ids: tuple[str, ...]) -> list[Seg]:
    """Segments after position `start` up to the next segment whose id is in `stop_ids`."""
    out = []
    for seg in segs[start + 1:]:
        if seg.id in stop_ids:
            break
        out.append(seg)
    return out


def link(ctx: Ctx, charge: str | None, element: str, target: str | None) -> None:
    """Append a reference to a ChargeItem list element."""
    if charge and target:
        ctx.builder.update(charge, {element: [ref(target)]})


def charge_order(orc: Seg, group_segs: list[Seg], ctx: Ctx) -> OrderGroup:
    """One ORC group of a charge message (its OBR, TQ1s and OBXs) -> the order, its report
    and its observations."""
    obr = next((s for s in group_segs if s.id == "OBR"), None)
    group = order_group(orc, obr, ctx, report=obr is not None, specimen=False,
                        link_encounter=True, tq1s=[s for s in group_segs if s.id == "TQ1"])
    for obx in [s for s in group_segs if s.id == "OBX"]:
        obs = observation(obx, ctx, {"basedOn": [ref(group.service_request)]},
                          link_encounter=False)
        group.observations.append(obs)
        if group.report:
            ctx.builder.update(group.report, {"result": [ref(obs)]})
    return group


def common_orders(segs: list[Seg], ctx: Ctx, charges: list[str]) -> None:
    """ORC/OBR/OBX groups before the first FT1 -> orders linked to every charge."""
    first_ft1 = next((s.index for s in segs if s.id == "FT1"), len(segs))
    for orc in [s for s in segs if s.id == "ORC"]:
        group = charge_order(orc, _between(segs, orc.index, ("ORC", "FT1")), ctx)
        if orc.index < first_ft1:
            for obs in group.observations:
                for charge in charges:
                    link(ctx, charge, "service", obs)
            for charge in charges:
                link(ctx, charge, "supportingInformation", group.service_request)
        ctx.refs.setdefault("orders", {})[orc.index] = group


def charge_item(ft1: Seg, ctx: Ctx, has_orders: bool, with_account: bool = True) -> str | None:
    """FT1 (type CG) -> ChargeItem with its Procedure, MedicationDispense and Device."""
    if ft1[6][1].v != "CG":
        return None
    patient = ctx.refs.get("patient")
    body = apply(CHARGE_ITEM, ft1, ctx)
    body["status"] = "unknown"
    body["subject"] = ref(patient)
    if with_account and ctx.refs.get("account"):
        body["account"] = [ref(ctx.refs["account"])]
    body["context"] = ref(ctx.refs.get("encounter"))
    body["costCenter"] = ref(cost_center(ft1[13], ctx)) if ft1[13] else None
    services = []
    if has_orders and ft1[25]:
        proc = ctx.builder.put("Procedure", f"{patient}|FT1-25|{ft1[25].raw}", {
            "code": cwe()(ft1[25], ctx), "status": "unknown", "subject": ref(patient)})
        services.append({"reference": proc, "type": "Procedure"})
    if has_orders and ft1[29]:
        disp = apply(MEDICATION_DISPENSE, ft1, ctx)
        disp.update(status="unknown", subject=ref(patient))
        dispense = ctx.builder.put("MedicationDispense", f"{patient}|FT1-29|{ft1[29].raw}",
                                   disp)
        services.append({"reference": dispense, "type": "MedicationDispense"})
    body["service"] = services
    item = supplied_item(ft1, ctx, from_code=ctx.options.supply_delivery
                         and not _has_item_field(ctx))
    body["productReference"] = ref(item)
    charge = ctx.builder.put("ChargeItem", f"{patient}|{ft1.raw}", body)
    if item and ctx.options.supply_delivery:
        supply_delivery(ft1, item, ctx)
    return charge


def _has_item_field(ctx: Ctx) -> bool:
    """True for HL7 versions (2.6+) where FT1-34 carries the item number."""
    version = ctx.refs.get("version", "")
    parts = version.split(".")
    try:
        return (int(parts[0]), int(parts[1] if len(parts) > 1 else 0)) >= (2, 6)
    except ValueError:
        return True


def participations_of(prts: list[Seg], ctx: Ctx, charge: str | None) -> None:
    """PRTs of an FT1 -> ChargeItem.performer (role, organization, device) and locations."""
    for prt in prts:
        part = participation(prt, ctx)
        for actor in (part.role, part.organization, part.device):
            if actor and charge:
                ctx.builder.update(charge, {"performer": [{"actor": ref(actor)}]})
        if not part.organization:
            for loc in part.locations:
                link(ctx, charge, "supportingInformation", loc)


def procedures(pr1s: list[Seg], segs: list[Seg], ctx: Ctx, charge: str | None) -> None:
    """PR1 under an FT1 -> Procedure (performers/locations from its PRTs), ChargeItem.service."""
    patient = ctx.refs.get("patient")
    for pr1 in pr1s:
        body = apply(PROCEDURE_PR1, pr1, ctx)
        body.update(status="unknown", subject=ref(patient))
        proc = ctx.builder.put("Procedure", f"{patient}|{pr1.raw}", body)
        link(ctx, charge, "service", proc)
        for prt in [s for s in _between(segs, pr1.index, ("PR1", "FT1")) if s.id == "PRT"]:
            part = participation(prt, ctx)
            for actor in (part.role, part.organization, part.device):
                if actor:
                    ctx.builder.update(proc, {"performer": [{"actor": ref(actor)}]})
            if not part.organization and not pr1[23]:
                for loc in part.locations[:1]:
                    ctx.builder.update(proc, {"location": ref(loc)})


def diagnoses_for_charge(dg1s: list[Seg], ctx: Ctx, charge: str | None) -> None:
    """Every DG1 -> Condition (with encounter) supporting the charge; Encounter.diagnosis."""
    patient = ctx.refs.get("patient")
    encounter = ctx.refs.get("encounter")
    for dg1 in dg1s:
        body = apply(CONDITION_DG1, dg1, ctx)
        body["subject"] = ref(patient)
        body["encounter"] = ref(encounter)
        cond = ctx.builder.put("Condition", f"{patient}|{condition_key(dg1)}", body)
        link(ctx, charge, "supportingInformation", cond)
        role = coding(dg1[6][1].v, table="diagnosis_type") if dg1[6] else None
        if encounter:
            ctx.builder.update(encounter, {"diagnosis": [
                {"condition": ref(cond), "use": {"coding": [role]} if role else None}]})
        if ctx.refs.get("episode"):
            ctx.builder.update(ctx.refs["episode"], {"diagnosis": [
                {"condition": ref(cond), "role": {"coding": [role]} if role else None}]})


def financial_transactions(segs: list[Seg], ctx: Ctx) -> list[str]:
    """The FT1 groups of a DFT/BAR message -> ChargeItems (and everything they reference)."""
    ft1s = [s for s in segs if s.id == "FT1"]
    has_orders = any(s[2].v for s in segs if s.id == "ORC")
    charges = [charge_item(ft1, ctx, has_orders) for ft1 in ft1s]
    common_orders(segs, ctx, [c for c in charges if c])
    dg1s = [s for s in segs if s.id == "DG1"]
    for ft1, charge in zip(ft1s, charges, strict=True):
        group = _between(segs, ft1.index, ("FT1",))
        pr1s = [s for s in group if s.id == "PR1"]
        first_pr1 = pr1s[0].index if pr1s else None
        own_prts = [s for s in group if s.id == "PRT" and (
            first_pr1 is None or s.index < first_pr1 or _parent(segs, s) != first_pr1)]
        if charge:
            participations_of(own_prts, ctx, charge)
        for orc in [s for s in group if s.id == "ORC"]:
            order = ctx.refs.get("orders", {}).get(orc.index)
            if order is not None and charge:
                link(ctx, charge, "supportingInformation", order.service_request)
                for obs in order.observations:
                    link(ctx, charge, "service", obs)
        procedures(pr1s, segs, ctx, charge)
        diagnoses_for_charge(dg1s, ctx, charge)
    return [c for c in charges if c]


def _parent(segs: list[Seg], seg: Seg) -> int | None:
    """Position of the nearest PR1 or FT1 before `seg`."""
    for prev in reversed(segs[:seg.index]):
        if prev.id in ("PR1", "FT1"):
            return prev.index
    return None
