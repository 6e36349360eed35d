"""Insurance (IN1/IN2) and guarantor (GT1) groups -> Coverage, Organizations, RelatedPersons,
Account.guarantor."""

from __future__ import annotations

from typing import Any

from .context import Ctx
from .datatypes import cx, xpn, xtn
from .elements import cwe
from .references import xon_key, xon_organization
from .rules import apply, ref
from .tables_financial import (
    ACCOUNT_GUARANTOR_GT1,
    COVERAGE_IN1,
    COVERAGE_IN2,
    GUARANTOR_GT1,
    PATIENT_IN2,
    PAYOR_IN1,
    POLICY_HOLDER_IN1,
    POLICY_HOLDER_IN2,
    POLICY_HOLDER_PERSON_IN2,
    SUBSCRIBER_IN1,
    SUBSCRIBER_IN2,
)
from .values import Seg


def _payor(in1: Seg, ctx: Ctx) -> str:
    """IN1-3/4/5/6/7 -> the insurance company Organization."""
    body = apply(PAYOR_IN1, in1, ctx)
    if in1[4]:
        key = xon_key(in1[4])
    elif in1[3]:
        key = f"{in1[3][1].v},{in1[3][4].raw}"
    else:
        key = in1.raw
    return ctx.builder.put("Organization", key, body)


def _policy_holder_org(in1: Seg, ctx: Ctx) -> str | None:
    """IN1-10/11 (insured's group employer) -> Organization."""
    if in1[11] and in1[11].v.strip():
        key = xon_key(in1[11])
    elif in1[10]:
        key = f"{in1[10][1].v},{in1[10][4].raw}"
    else:
        return None
    body = apply(POLICY_HOLDER_IN1, in1, ctx)
    return ctx.builder.put("Organization", key, body)


def insurance(in1s: list[Seg], in2s: list[Seg] | None, ctx: Ctx,
              related: dict[int, list[Seg]] | None = None) -> list[str]:
    """Each IN1 -> Coverage. The IN2s are `in2s` for every IN1 (FHIR-Converter's ADT and DFT^P03
    templates use every IN2 of the message), or per IN1 from `related` (position -> IN2s)."""
    patient = ctx.refs.get("patient")
    coverages = []
    for in1 in in1s:
        in2_list = in2s if in2s is not None else (related or {}).get(in1.index, [])
        body = apply(COVERAGE_IN1, in1, ctx)
        body["beneficiary"] = ref(patient)
        body["payor"] = [ref(_payor(in1, ctx))]
        holder = _policy_holder_org(in1, ctx)
        self_insured = in1[17][1].v == "SEL"
        insured = in1[49]
        key = f"{insured[1].v},{insured[4].raw}" if insured else in1.raw
        subscriber = patient if self_insured else ctx.builder.put(
            "RelatedPerson", f"{patient}|{key}",
            {**apply(SUBSCRIBER_IN1, in1, ctx), "patient": ref(patient)})
        for in2 in in2_list:
            if not self_insured and subscriber:
                ctx.builder.update(subscriber, apply(SUBSCRIBER_IN2, in2, ctx))
            if not (in1[10] and in1[11]) and in2[3]:
                person = apply(POLICY_HOLDER_PERSON_IN2, in2, ctx)
                person["patient"] = ref(patient)
                holder = ctx.builder.put("RelatedPerson",
                                         f"{patient}|{in2[3][1].v},{in2[3][9].raw}", person)
            if holder and holder.startswith("Organization/"):
                ctx.builder.update(holder, apply(POLICY_HOLDER_IN2, in2, ctx))
            apply(COVERAGE_IN2, in2, ctx, body)
            if patient:
                ctx.builder.update(patient, apply(PATIENT_IN2, in2, ctx))
        body["policyHolder"] = ref(holder)
        body["subscriber"] = ref(subscriber)
        coverages.append(ctx.builder.put("Coverage", f"{patient}|IN1|{in1.raw}", body))
    ctx.refs["coverages"] = coverages
    return coverages


def _employer(gt1: Seg, ctx: Ctx) -> str | None:
    """GT1-21 (guarantor organization) with its contact (GT1-45/46/47) -> Organization."""
    if not gt1[21].v.strip():
        return None
    contact = {"telecom": [xtn(t, ctx) for t in gt1[46].reps],
               "purpose": cwe()(gt1[47], ctx) if gt1[47] else None}
    people = [{"name": xpn(n, ctx)} for n in gt1[45].reps]
    return xon_organization(gt1[21], ctx, contact=[contact, *people])


def guarantors(gt1s: list[Seg], ctx: Ctx, account: str | None = None) -> None:
    """GT1 -> guarantor RelatedPerson (or Organization) and Account.guarantor."""
    patient = ctx.refs.get("patient")
    for gt1 in gt1s:
        party: str | None = None
        if gt1[21]:
            party = _employer(gt1, ctx)
        elif gt1[11][1].v == "SEL":
            party = patient
            if patient and gt1[2]:
                ctx.builder.update(patient, {"identifier": [cx(r, ctx) for r in gt1[2].reps]})
        else:
            body = apply(GUARANTOR_GT1, gt1, ctx)
            body["patient"] = ref(patient)
            ident = gt1[2]
            key = f"{ident[1].v},{ident[4].raw}" if ident else gt1.raw
            party = ctx.builder.put("RelatedPerson", f"{patient}|{key}", body)
        account = account or ctx.refs.get("account")
        if account is None:
            account = ctx.builder.put("Account", f"{patient}|GT1|{gt1.raw}",
                                      {"status": "active", "subject": [ref(patient)]})
            ctx.refs["account"] = account
        guarantor: dict[str, Any] = apply(ACCOUNT_GUARANTOR_GT1, gt1, ctx)
        guarantor["party"] = ref(party)
        if party:
            ctx.builder.update(account, {"guarantor": [guarantor]})
