"""The message-level group builders the plans in hl7v2_to_fhir.py are made of."""

from __future__ import annotations

from .charges import financial_transactions
from .charges_p11 import financial_groups
from .clinical import (
    adverse_reactions,
    allergies,
    diagnoses,
    observation,
    patient_details,
    procedures,
    software,
)
from .context import Ctx
from .financial import guarantors, insurance
from .header import event_provenance
from .message import Message
from .orders import results
from .participations import participation
from .patient import account, encounter, mother, patient, related_persons
from .pharmacy import pharmacy_orders
from .rules import ref
from .tables_clinical import accident


def patient_group(ctx: Ctx, msg: Message) -> None:
    """SFT, PID, PD1, NK1, PV1, PV2, EVN, DB1 -> Patient, Account, RelatedPerson, Encounter."""
    software(msg.all("SFT"), ctx)
    ctx.refs["version"] = msg.hl7.version
    pid = msg.first("PID")
    nk1s = msg.all("NK1")
    if pid is not None:
        patient(pid, ctx, nk1s)
        account(pid, ctx)
        if nk1s:
            related_persons(nk1s, ctx, pid)
        else:
            mother(pid, ctx)
    pv1 = msg.first("PV1")
    if pv1 is not None:
        encounter(pv1, msg.first("PV2"), ctx)
    evn = msg.first("EVN")
    if evn is not None:
        event_provenance(evn, msg.msh, ctx, msg.bundle_id)
    patient_details(msg.first("PD1"), msg.all("DB1"), ctx)
    acc = msg.first("ACC")
    if acc is not None:
        accident(acc, ctx)


def patient_clinical(ctx: Ctx, msg: Message) -> None:
    """Patient-level OBX, AL1, IAM, DG1, PR1 (ADT, BAR)."""
    for obx in msg.all("OBX"):
        observation(obx, ctx)
    allergies(msg.all("AL1"), ctx)
    adverse_reactions(msg.all("IAM"), ctx)
    diagnoses(msg.all("DG1"), ctx)
    procedures(msg.all("PR1"), ctx)


def insurance_group(ctx: Ctx, msg: Message) -> None:
    """GT1, IN1, IN2 -> guarantors and Coverage."""
    guarantors(msg.all("GT1"), ctx)
    insurance(msg.all("IN1"), msg.all("IN2"), ctx)


def account_insurance(ctx: Ctx, msg: Message) -> None:
    """GT1, IN1, IN2 -> guarantors and Coverage, each Coverage also on the Account (as
    FHIR-Converter's order and financial templates do when the IN1 has IN2 segments)."""
    guarantors(msg.all("GT1"), ctx)
    coverages = insurance(msg.all("IN1"), msg.all("IN2"), ctx)
    account_ref = ctx.refs.get("account")
    if account_ref and coverages and msg.all("IN2"):
        ctx.builder.update(account_ref, {"coverage": [{"coverage": ref(c)} for c in coverages]})


def participations(ctx: Ctx, msg: Message) -> None:
    """PRT segments of the patient and of the visit (those before the first FT1)."""
    patient_ref = ctx.refs.get("patient")
    encounter_ref = ctx.refs.get("encounter")
    pv1 = msg.first("PV1")
    for prt in msg.all("PRT"):
        if any(s.id == "FT1" for s in msg.segs[:prt.index]):
            break
        visit = pv1 is not None and pv1.index < prt.index
        part = participation(prt, ctx, with_device=not visit, device_patient=patient_ref)
        if visit and encounter_ref:
            if part.role:
                ctx.builder.update(encounter_ref, {"participant": [
                    {"individual": ref(part.role)}]})
            if part.organization:
                ctx.builder.update(encounter_ref, {"serviceProvider": ref(part.organization)})
            elif part.locations:
                ctx.builder.update(encounter_ref, {"location": [
                    {"location": ref(loc)} for loc in part.locations]})
        elif not visit and patient_ref:
            if part.role:
                ctx.builder.update(patient_ref, {"generalPractitioner": [ref(part.role)]})
            if part.organization:
                ctx.builder.update(patient_ref, {"managingOrganization": ref(part.organization)})


def charges(ctx: Ctx, msg: Message) -> None:
    """FT1 groups -> ChargeItems (DFT^P03 / BAR layout)."""
    financial_transactions(msg.segs, ctx)


def charge_groups(ctx: Ctx, msg: Message) -> None:
    """DFT^P11: one financial group per FT1 -> ChargeItems."""
    financial_groups(msg.segs, ctx)


def medication_orders(ctx: Ctx, msg: Message) -> None:
    """RDE/RDS: pharmacy order groups."""
    pharmacy_orders(msg.segs, ctx)


def observation_results(ctx: Ctx, msg: Message) -> None:
    """ORU^R01: order groups with results."""
    results(msg.segs, ctx)
