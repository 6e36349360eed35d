"""Mapping tables for clinical segments: DG1 -> Condition, PR1 -> Procedure, AL1/IAM ->
AllergyIntolerance, OBX -> Observation, PD1 / DB1 -> Patient additions."""

from __future__ import annotations

from typing import Any

from .context import Ctx
from .datatypes import codeable, coding, cx, dtm, ei, quantity
from .elements import cwe, ext, fixed, mapped_code, practitioner_ref
from .references import practitioner, xon_organization
from .rules import Rule as R
from .rules import Table, ref
from .values import Node

V2 = "http://terminology.hl7.org/CodeSystem/"
EXAMPLE_SD = "http://example.com/v2-to-fhir-converter/StructureDefinition/"
SD = "http://hl7.org/fhir/StructureDefinition/"


def ei_typed(node: Node, ctx: Ctx) -> dict[str, Any] | None:
    """EI -> Identifier typed by its universal id type (HL7 table 0301); an EI with only an
    assigning authority still gives an Identifier (system and type)."""
    ident = ei(node, ctx)
    kind = node[4].v
    if ident is None:
        if not (node[3].v and kind):
            return None
        from .datatypes import ei_authority, hd_system

        ident = {"system": hd_system(ei_authority(node))}
    if kind:
        ident["type"] = {"coding": [coding(kind, table="universal_id_type")]}
    return ident


def _due_to(node: Node, ctx: Ctx) -> dict[str, Any] | None:
    """DG1-22 (parent diagnosis EI) -> condition-dueTo extension to a Condition."""
    ident = ei_typed(node, ctx)
    if ident is None and not node[3].v:
        ident = {"system": None}
    patient = ctx.refs.get("patient")
    cond = ctx.builder.put("Condition", f"{patient}|{node.raw}",
                           {"identifier": [ident], "subject": ref(patient)})
    return {"url": SD + "condition-dueTo", "valueReference": {"reference": cond}}


CONDITION_DG1: Table = [
    R("identifier[]", 20, ei_typed),
    R("code", 3, cwe()),
    R("onsetDateTime", 5, dtm),
    R("asserter", 16, practitioner_ref),
    R("extension[]", 19, ext(SD + "condition-assertedDate", "valueDateTime", dtm)),
    R("extension[]", 22, _due_to),
]

ALLERGY_AL1: Table = [
    R("category[]", 2, mapped_code("allergy_category")),
    R("code", 3, cwe()),
    R("reaction[].manifestation[]", "5*", lambda n, c: {"coding": [{"display": n.v}]}
      if n.v else None),
    R("reaction[].onset", 6, dtm),
    R("reaction[].severity", 4, mapped_code("allergy_severity")),
    R("clinicalStatus", 1, fixed({"coding": [{"code": "active", "display": "Active", "system":
                                               V2 + "allergyintolerance-clinical"}]})),
]

ALLERGY_IAM: Table = [
    R("identifier[]", 7, ei_typed),
    R("category[]", 2, mapped_code("allergy_category")),
    R("code", 3, cwe()),
    R("code.coding[]", 27, lambda n, c: (codeable(n, c) or {}).get("coding")),
    R("clinicalStatus", 6, cwe("allergy_clinical_status")),
    R("verificationStatus", 17, cwe("allergy_verification_status")),
    R("onsetDateTime", 11, dtm),
    R("recorder", 23, practitioner_ref),
    R("recordedDate", 24, dtm),
    R("meta.lastUpdated", 26, dtm),
    R("type", 9, lambda n, c: "allergy" if n[1].v else None),
]

PROCEDURE_PR1: Table = [
    R("identifier[]", 19, ei),
    R("code", 3, cwe()),
    R("performedDateTime", 5, dtm),
    R("category", 6, cwe()),
    R("reasonCode[]", 15, cwe()),
]

OBSERVATION_OBX: Table = [
    R("identifier[]", 21, ei_typed),
    R("code", 3, cwe()),
    R("interpretation[]", "8*", cwe("interpretation")),
    R("status", 11, mapped_code("observation_status")),
    R("extension[]", 11, ext("http://example.com/v2-to-fhir-converter/Observation_Status",
                             "valueCodeableConcept", cwe("observation_status_v2"))),
    R("effectiveDateTime", 14, dtm),
    R("method", 17, cwe()),
    R("bodySite", 20, cwe()),
    R("referenceRange[].text", 7, lambda n, c: n.v or None),
]


def obx_value(obx: Any, ctx: Ctx) -> dict[str, Any]:
    """OBX-5 by its OBX-2 value type -> value[x] (or components for repetitions)."""
    kind = obx[2].v
    values = obx[5].reps
    if not values:
        return {}
    if kind in ("NM", "SN"):
        unit = obx[6] if obx[6] else None
        if len(values) > 1:
            comps = [{"code": codeable(obx[3], ctx), "valueQuantity": quantity(v, unit, ctx)}
                     for v in values]
            return {"component": comps}
        return {"valueQuantity": quantity(values[0], unit, ctx)}
    if kind in ("CWE", "CE", "CNE", "CF", "IS", "ID"):
        return {"valueCodeableConcept": codeable(values[0], ctx)}
    if kind in ("DT", "DTM", "TS"):
        return {"valueDateTime": dtm(values[0], ctx)}
    if kind in ("ST", "TX", "FT"):
        text = "\n".join(v.v for v in values) if kind != "ST" else values[0].v
        return {"valueString": text}
    return {}


def obx_director(obx: Any, ctx: Ctx) -> str | None:
    """OBX-23 (performing organization) + OBX-25 (its medical director) -> PractitionerRole."""
    director = obx[25]
    if not director:
        return None
    person = ctx.builder.put("Practitioner", "OBX-25|" + director.raw, {
        "identifier": [{"type": {"coding": [{"code": director[1].v}]}}],
        "name": [{"family": director[2].v, "given": [director[3].v]}]})
    org = xon_organization(obx[23], ctx) if obx[23] else None
    body = {"code": [{"coding": [{"code": "MDIR", "display": "Medical Director",
                                  "system": V2 + "v2-0443"}]}],
            "practitioner": ref(person), "organization": ref(org)}
    return ctx.builder.put("PractitionerRole", "OBX-25|" + director.raw, body)


def obx_responsible(xcn: Node, ctx: Ctx) -> str | None:
    """OBX-16 (responsible observer) -> PractitionerRole (role RO) for its Practitioner."""
    person = practitioner(xcn, ctx)
    if person is None:
        return None
    body = {"code": [{"coding": [{"code": "RO", "display": "Responsible Observer",
                                  "system": V2 + "v2-0443"}]}], "practitioner": ref(person)}
    return ctx.builder.put("PractitionerRole", "OBX-16|" + xcn.raw, body)


PATIENT_PD1: Table = [
    R("generalPractitioner[]", 3, lambda n, c: ref(xon_organization(n, c))),
    R("generalPractitioner[]", 4, lambda n, c: ref(_pd1_practitioner(n, c))),
    R("extension[]", 14, ext(SD + "patient-congregation", "valueString", lambda n, c: n.v or None)),
    R("active", 16, lambda n, c: {"A": True, "I": False}.get(n[1].v)),
]


def _pd1_practitioner(xcn: Node, ctx: Ctx) -> str | None:
    """PD1-4 -> Practitioner (kept even when only the identifier type is given)."""
    if not xcn:
        return None
    return practitioner(xcn, ctx)


PATIENT_DB1: Table = [
    R("identifier[]", 3, cx),
    R("extension[]", 0, lambda s, c: {"url": EXAMPLE_SD + "DisabilityPeriod", "valuePeriod": {
        "start": dtm(s[5], c), "end": dtm(s[6], c)}} if s[5] or s[6] else None),
]


def sft_device(sft: Any, ctx: Ctx) -> str:
    """SFT -> Device (the sending software)."""
    body = {"manufacturer": sft[1][1].v, "version": [{"value": sft[2].v}],
            "deviceName": [{"name": sft[3].v, "type": "manufacturer-name"}],
            "modelNumber": sft[4].v, "note": [{"text": sft[5].v}]}
    key = sft[2].v or sft.raw
    return ctx.builder.put("Device", key, body)


ACCIDENT_INDICATORS = (
    (5, "AJRI", "Accident Job Related Indicator"),
    (6, "ADI", "Accident Death Indicator"),
    (10, "PNI", "Police Notified Indicator"),
)


def accident(acc: Any, ctx: Ctx) -> str:
    """ACC -> Observation (injury incident) with its place (Location) and recorder."""
    example = "http://example.com/v2-to-fhir-converter/CodeSystem/"
    patient = ctx.refs.get("patient")
    components = []
    for field, code_value, display in ACCIDENT_INDICATORS:
        value = coding(acc[field][1].v, table="yes_no") if acc[field] else None
        if value:
            components.append({"code": {"coding": [{"code": code_value, "display": display,
                                                    "system": example + "accident-indicator"}]},
                               "valueCodeableConcept": {"coding": [value]}})
    place = None
    if acc[3] or acc[11]:
        street = acc[11][1]
        place = ctx.builder.put("Location", "ACC|" + acc.raw, {
            "name": acc[3].v,
            "address": {"line": [street[1].v, street[2].v, acc[11][2].v],
                        "postalCode": acc[11][5].v} if acc[11] else None})
    body = {
        "identifier": [ei(acc[13], ctx)],
        "status": "final",
        "code": {"coding": [{"code": "injury-incident", "system": example + "observation-code",
                             "display": "Injury Incident Description Narrative"}]},
        "component": components, "valueString": acc[8].v,
        "effectiveDateTime": dtm(acc[1], ctx),
        "subject": ref(patient), "encounter": ref(ctx.refs.get("encounter")),
        "performer": [ref(practitioner(acc[7], ctx))] if acc[7] else None,
        "extension": [{"url": "http://hl7.org/fhir/us/vrdr/StructureDefinition/"
                              "Observation-Location", "valueReference": ref(place)}]
        if place else None}
    return ctx.builder.put("Observation", f"{patient}|ACC|{acc.raw}", body)
