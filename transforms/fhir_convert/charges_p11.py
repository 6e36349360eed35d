"""DFT^P11: the message split at each FT1 into financial groups, each with its own orders,
procedures, diagnoses, guarantors and insurance (FHIR-Converter's DFT_P11 layout)."""

from __future__ import annotations

from .charges import (
    charge_item,
    charge_order,
    diagnoses_for_charge,
    link,
    participations_of,
    procedures,
)
from .clinical import diagnoses
from .context import Ctx
from .financial import guarantors, insurance
from .orders import OrderGroup
from .rules import apply, ref
from .tables import ACCOUNT_PID
from .values import Seg


def _orders(segs: list[Seg], ctx: Ctx) -> list[OrderGroup]:
    """ORC (+ OBR, OBX) groups of a segment list -> orders with their observations."""
    groups = []
    for pos, orc in enumerate(segs):
        if orc.id != "ORC":
            continue
        group_segs = []
        for seg in segs[pos + 1:]:
            if seg.id == "ORC":
                break
            group_segs.append(seg)
        groups.append(charge_order(orc, group_segs, ctx))
    return groups


def _in2_of(segs: list[Seg]) -> dict[int, list[Seg]]:
    """IN1 position -> the IN2 segments that follow it."""
    out: dict[int, list[Seg]] = {}
    current: int | None = None
    for seg in segs:
        if seg.id == "IN1":
            current = seg.index
            out[current] = []
        elif seg.id == "IN2" and current is not None:
            out[current].append(seg)
    return out


def _group_account(group: list[Seg], ctx: Ctx, pid: Seg | None) -> str | None:
    """The Account a financial group's charge belongs to (FHIR-Converter keys it by the
    group's guarantor or insurance when it has one)."""
    patient = ctx.refs.get("patient")
    gt1 = next((s for s in group if s.id == "GT1"), None)
    in1 = next((s for s in group if s.id == "IN1"), None)
    if pid is None or not pid[18]:
        return ctx.refs.get("account")
    if gt1 is not None and gt1[2]:
        key = f"{patient}|PID-18+GT1|{pid[18].raw}|{gt1[2].raw}"
    elif in1 is not None and in1[2]:
        key = f"{patient}|PID-18+IN1|{pid[18].raw}|{in1[2].raw}"
    else:
        return ctx.refs.get("account")
    body = apply(ACCOUNT_PID, pid, ctx)
    body["subject"] = [ref(patient)]
    return ctx.builder.put("Account", key, body)


def financial_groups(segs: list[Seg], ctx: Ctx) -> list[str]:
    """DFT^P11 -> ChargeItems, one per FT1 group, each linked to its group's resources."""
    ft1_positions = [s.index for s in segs if s.id == "FT1"]
    end = ft1_positions[0] if ft1_positions else len(segs)
    prefix = segs[:end]
    pid = next((s for s in prefix if s.id == "PID"), None)
    common = _orders(prefix, ctx)
    prefix_dg1 = [s for s in prefix if s.id == "DG1"]
    conditions = diagnoses(prefix_dg1, ctx, link_encounter=True)
    guarantors([s for s in prefix if s.id == "GT1"], ctx)
    coverages = insurance([s for s in prefix if s.id == "IN1"], None, ctx, _in2_of(prefix))
    if ctx.refs.get("account"):
        for cov in coverages:
            ctx.builder.update(ctx.refs["account"], {"coverage": [{"coverage": ref(cov)}]})
    orc_numbers = "".join(s[2].v for s in prefix if s.id == "ORC")
    charges = []
    bounds = [*ft1_positions, len(segs)]
    for n, start in enumerate(ft1_positions):
        ft1, group = segs[start], segs[start + 1:bounds[n + 1]]
        first_orc = next((s for s in group if s.id == "ORC"), None)
        orc_numbers += first_orc[2].v if first_orc is not None else ""
        charge = charge_item(ft1, ctx, bool(orc_numbers), with_account=False)
        pr1s = [s for s in group if s.id == "PR1"]
        if charge:
            first_pr1 = pr1s[0].index if pr1s else None
            participations_of([s for s in group if s.id == "PRT" and (
                first_pr1 is None or s.index < first_pr1)], ctx, charge)
        procedures(pr1s, segs, ctx, charge)
        own_orders = _orders(group, ctx)
        for order in own_orders or common:
            link(ctx, charge, "supportingInformation", order.service_request)
            for obs in order.observations or [o for c in common for o in c.observations]:
                link(ctx, charge, "service", obs)
        group_dg1 = [s for s in group if s.id == "DG1"]
        if group_dg1:
            diagnoses_for_charge(group_dg1, ctx, charge)
        else:
            for cond in conditions:
                link(ctx, charge, "supportingInformation", cond)
        account = _group_account(group, ctx, pid)
        if charge and account:
            ctx.builder.update(charge, {"account": [ref(account)]})
        guarantors([s for s in group if s.id == "GT1"], ctx, account)
        for cov in insurance([s for s in group if s.id == "IN1"], None, ctx, _in2_of(group)):
            if account:
                ctx.builder.update(account, {"coverage": [{"coverage": ref(cov)}]})
        if charge:
            charges.append(charge)
    return charges
