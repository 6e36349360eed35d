"""The patient group: PID, PD1, NK1 -> Patient, Account, RelatedPerson; PV1, PV2 -> Encounter."""

from __future__ import annotations

from typing import Any

from .context import Ctx
from .datatypes import cx
from .rules import apply, ref
from .tables import (
    ACCOUNT_PID,
    ENCOUNTER,
    ENCOUNTER_PV2,
    EPISODE_OF_CARE,
    PATIENT,
    PATIENT_CONTACT_NK1,
    RELATED_PERSON_NK1,
)
from .values import Seg

UNKNOWN_CLASS = {"system": "http://terminology.hl7.org/CodeSystem/v3-NullFlavor", "code": "UNK",
                 "display": "unknown"}
"""Encounter.class (required) when PV1-2 is empty."""

MOTHER = {"coding": [{"code": "MTH", "system": "http://terminology.hl7.org/CodeSystem/v3-RoleCode"}]}


def patient_key(pid: Seg) -> str:
    """What identifies a patient across messages: the first PID-3 identifier and authority."""
    first = pid[3]
    return f"{first[1].v},{first[4].raw}" if first else "PID|" + pid.raw


def patient(pid: Seg, ctx: Ctx, nk1s: list[Seg]) -> str:
    """PID (+ NK1 contacts) -> Patient; records ctx.refs['patient']."""
    body = apply(PATIENT, pid, ctx)
    if nk1s:
        body["contact"] = [apply(PATIENT_CONTACT_NK1, nk1, ctx) for nk1 in nk1s]
    pref = ctx.builder.put("Patient", patient_key(pid), body)
    ctx.refs["patient"] = pref
    return pref


def account(pid: Seg, ctx: Ctx) -> str | None:
    """PID-18 -> Account for the patient."""
    if not pid[18]:
        return None
    body = apply(ACCOUNT_PID, pid, ctx)
    body["subject"] = [ref(ctx.refs.get("patient"))]
    acct = pid[18]
    key = f"{acct[1].v},{acct[4].raw}" if acct[1].v and acct[4] else acct.raw
    aref = ctx.builder.put("Account", f"{ctx.refs.get('patient')}|{key}", body)
    ctx.refs["account"] = aref
    return aref


def related_persons(nk1s: list[Seg], ctx: Ctx, pid: Seg | None = None) -> list[str]:
    """NK1 -> RelatedPerson (one per segment; PID-21, the mother, is merged into each)."""
    out = []
    for nk1 in nk1s:
        body = apply(RELATED_PERSON_NK1, nk1, ctx)
        body["patient"] = ref(ctx.refs.get("patient"))
        if pid is not None and pid[21]:
            body.setdefault("identifier", []).extend(cx(rep, ctx) for rep in pid[21].reps)
            body.setdefault("relationship", []).append(MOTHER)
        out.append(ctx.builder.put("RelatedPerson", f"{ctx.refs.get('patient')}|{nk1_key(nk1)}",
                                   body))
    return out


def nk1_key(nk1: Seg) -> str:
    """RelatedPerson id key of an NK1: its first identifier and authority, else the segment."""
    for field in (33, 12):
        ident = nk1[field]
        if ident[1].v and ident[4]:
            return f"{ident[1].v},{ident[4].raw}"
    return nk1.raw


def mother(pid: Seg, ctx: Ctx) -> str | None:
    """PID-21 (mother's identifier) -> RelatedPerson (when the message has no NK1)."""
    if not pid[21]:
        return None
    idents = [cx(rep, ctx) for rep in pid[21].reps]
    body: dict[str, Any] = {"identifier": idents, "relationship": [MOTHER],
                            "patient": ref(ctx.refs.get("patient"))}
    mid = pid[21]
    key = f"{mid[1].v},{mid[5].raw}" if mid[1].v and mid[5] else pid[6].raw or pid.raw
    return ctx.builder.put("RelatedPerson", f"{ctx.refs.get('patient')}|{key}", body)


def encounter(pv1: Seg, pv2: Seg | None, ctx: Ctx) -> str:
    """PV1 (+ PV2) -> Encounter (+ EpisodeOfCare); records ctx.refs['encounter']."""
    body = apply(ENCOUNTER, pv1, ctx)
    apply(ENCOUNTER_PV2, pv2, ctx, body)
    if pv1[54]:
        episode = apply(EPISODE_OF_CARE, pv1, ctx)
        episode["patient"] = ref(ctx.refs.get("patient"))
        eref = ctx.builder.put("EpisodeOfCare", "PV1-54|" + pv1[54].raw, episode)
        body["episodeOfCare"] = [ref(eref)]
        ctx.refs["episode"] = eref
    body.setdefault("status", "unknown")
    body.setdefault("class", UNKNOWN_CLASS)
    if ctx.refs.get("account"):
        body["account"] = [ref(ctx.refs["account"])]
    body["subject"] = ref(ctx.refs.get("patient"))
    visit = pv1[19]
    key = f"{visit[1].v},{visit[4].raw}" if visit[1].v and visit[4] else pv1.raw
    eref = ctx.builder.put("Encounter", f"{ctx.refs.get('patient')}|{key}", body)
    ctx.refs["encounter"] = eref
    if pv1[16] and ctx.refs.get("patient"):
        from .tables import SD, cwe

        importance = cwe()(pv1[16], ctx)
        if importance:
            ctx.builder.update(ctx.refs["patient"], {"extension": [
                {"url": SD + "patient-importance", "valueCodeableConcept": importance}]})
    return eref
