"""Patient-level clinical groups: DG1, PR1, AL1, IAM, OBX, PD1, DB1, SFT -> resources."""

from __future__ import annotations

from typing import Any

from .context import Ctx
from .datatypes import coding, xpn
from .elements import cwe
from .rules import apply, ref
from .tables_clinical import (
    ALLERGY_AL1,
    ALLERGY_IAM,
    CONDITION_DG1,
    OBSERVATION_OBX,
    PATIENT_DB1,
    PATIENT_PD1,
    PROCEDURE_PR1,
    obx_director,
    obx_responsible,
    obx_value,
    sft_device,
)
from .values import Seg


def condition_key(dg1: Seg) -> str:
    """Condition id key: code and onset (or asserted date), else the segment."""
    if dg1[3] and dg1[5]:
        return f"{dg1[3].raw},{dg1[5].raw}"
    if dg1[3] and dg1[19]:
        return f"{dg1[3].raw},{dg1[19].raw}"
    return dg1.raw


def diagnoses(dg1s: list[Seg], ctx: Ctx, link_encounter: bool = False) -> list[str]:
    """DG1 -> Condition; Encounter.diagnosis / EpisodeOfCare.diagnosis point at each."""
    patient = ctx.refs.get("patient")
    encounter = ctx.refs.get("encounter")
    episode = ctx.refs.get("episode")
    out = []
    for dg1 in dg1s:
        body = apply(CONDITION_DG1, dg1, ctx)
        body["subject"] = ref(patient)
        if link_encounter and encounter:
            body["encounter"] = ref(encounter)
        cond = ctx.builder.put("Condition", f"{patient}|{condition_key(dg1)}", body)
        out.append(cond)
        role = coding(dg1[6][1].v, table="diagnosis_type") if dg1[6] else None
        use = {"coding": [role]} if role else None
        if encounter:
            ctx.builder.update(encounter, {"diagnosis": [{"condition": ref(cond), "use": use}]})
        if episode:
            ctx.builder.update(episode, {"diagnosis": [{"condition": ref(cond), "role": use}]})
    ctx.refs.setdefault("conditions", []).extend(out)
    return out


def allergies(al1s: list[Seg], ctx: Ctx, link_encounter: bool = True) -> list[str]:
    """AL1 -> AllergyIntolerance."""
    patient = ctx.refs.get("patient")
    out = []
    for al1 in al1s:
        body = apply(ALLERGY_AL1, al1, ctx)
        body["patient"] = ref(patient)
        if link_encounter:
            body["encounter"] = ref(ctx.refs.get("encounter"))
        out.append(ctx.builder.put("AllergyIntolerance", f"{patient}|{al1[3].raw or al1.raw}",
                                   body))
    return out


def adverse_reactions(iams: list[Seg], ctx: Ctx) -> list[str]:
    """IAM -> AllergyIntolerance (with the reporting RelatedPerson as asserter)."""
    patient = ctx.refs.get("patient")
    out = []
    for iam in iams:
        body = apply(ALLERGY_IAM, iam, ctx)
        body["patient"] = ref(patient)
        if iam[14]:
            person = {"name": [xpn(iam[14], ctx)], "relationship": [cwe("relationship")(
                iam[15], ctx)], "patient": ref(patient)}
            body["asserter"] = ref(ctx.builder.put("RelatedPerson", f"{patient}|{iam.raw}",
                                                   person))
        key = iam[7].raw or iam.raw
        out.append(ctx.builder.put("AllergyIntolerance", f"{patient}|{key}", body))
    return out


def procedures(pr1s: list[Seg], ctx: Ctx) -> list[str]:
    """PR1 -> Procedure (performers from PR1-8/11/12)."""
    patient = ctx.refs.get("patient")
    out = []
    for pr1 in pr1s:
        body = apply(PROCEDURE_PR1, pr1, ctx)
        body["status"] = "unknown"
        body["subject"] = ref(patient)
        out.append(ctx.builder.put("Procedure", f"{patient}|{pr1.raw}", body))
    return out


def observation_key(obx: Seg) -> str:
    """Observation id key: OBX-21 filler/placer id, else the segment."""
    ident = obx[21]
    if ident[1].v and ident[2].v:
        return f"{ident[1].v},{ident[2].v}"
    if ident[1].v and ident[3].v:
        return f"{ident[1].v},{ident[3].v}"
    return ident.raw or obx.raw


def observation(obx: Seg, ctx: Ctx, extra: dict[str, Any] | None = None,
                link_encounter: bool = True) -> str:
    """OBX -> Observation for the current patient (and encounter)."""
    patient = ctx.refs.get("patient")
    body = apply(OBSERVATION_OBX, obx, ctx)
    body.update({k: v for k, v in obx_value(obx, ctx).items() if v})
    performers = [obx_responsible(x, ctx) for x in obx[16].reps]
    director = obx_director(obx, ctx)
    body["performer"] = [ref(p) for p in [*performers, director] if p]
    body.setdefault("status", "unknown")
    body.setdefault("code", {"text": "unknown"})
    body["subject"] = ref(patient)
    if link_encounter and ctx.refs.get("encounter"):
        body["encounter"] = ref(ctx.refs["encounter"])
    if extra:
        body.update(extra)
    return ctx.builder.put("Observation", f"{patient}|{observation_key(obx)}", body)


def patient_details(pd1: Seg | None, db1s: list[Seg], ctx: Ctx) -> None:
    """PD1 and DB1 (disability) -> more Patient elements."""
    patient = ctx.refs.get("patient")
    if patient is None:
        return
    if pd1 is not None:
        ctx.builder.update(patient, apply(PATIENT_PD1, pd1, ctx))
    for db1 in db1s:
        if db1[2][1].v == "PT":
            ctx.builder.update(patient, apply(PATIENT_DB1, db1, ctx))


def software(sfts: list[Seg], ctx: Ctx) -> list[str]:
    """SFT -> Device."""
    return [sft_device(sft, ctx) for sft in sfts]
