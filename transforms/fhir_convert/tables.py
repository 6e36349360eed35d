"""Segment -> resource mapping tables for patient administration (MSH, EVN, PID, PD1, NK1,
PV1, PV2). One Rule per FHIR element: (FHIR path, HL7 field, datatype converter).

Tables for other segments live in tables_clinical.py, tables_orders.py and
tables_financial.py; the engine (hl7v2_to_fhir.py) decides which tables run for which group.
"""

from __future__ import annotations

from typing import Any

from .context import Ctx
from .datatypes import coding, cx, date, dtm, number, xad, xpn, xtn
from .elements import (
    birth_time,
    code_ext,
    complex_ext,
    cwe,
    dln,
    ext,
    fixed,
    identifier_typed,
    mapped_code,
    omb,
    participant,
    ssn,
)
from .references import dld_location, pl_locations
from .rules import Converter, Table, ref
from .rules import Rule as R
from .values import Node

V2 = "http://terminology.hl7.org/CodeSystem/"
SD = "http://hl7.org/fhir/StructureDefinition/"
US_CORE = "http://hl7.org/fhir/us/core/StructureDefinition/"
OMB = "urn:oid:2.16.840.1.113883.6.238"


def _telecom(use: str) -> Converter:
    """XTN -> ContactPoint with a fixed use."""
    def conv(node: Node, ctx: Ctx) -> dict[str, Any] | None:
        value = xtn(node, ctx)
        if value is not None:
            value["use"] = value.get("use") or use
        return value
    return conv


def _location(status: str, temporary: bool = False) -> Converter:
    """PL -> Encounter.location entry."""
    def conv(node: Node, ctx: Ctx) -> dict[str, Any] | None:
        loc = pl_locations(node, ctx)
        if loc is None:
            return None
        out = {"status": status, "location": {"reference": loc}}
        if temporary:
            out["extension"] = [{"url": "http://hl7.org/fhir/uv/v2mappings/StructureDefinition/"
                                        "temporary-location", "valueBoolean": True}]
        return out
    return conv


# ------------------------------------------------------------------------------ PID -> Patient
PATIENT: Table = [
    R("identifier[]", 2, cx),
    R("identifier[]", "3*", cx),
    R("identifier[]", 4, cx),
    R("identifier[]", 19, ssn),
    R("identifier[]", 20, dln),
    R("name[]", "5*", xpn),
    R("name[]", "9*", xpn),
    R("birthDate", 7, date),
    R("_birthDate", 7, birth_time),
    R("gender", 8, mapped_code("gender")),
    R("address[]", "11*", xad),
    R("telecom[]", "13*", _telecom("home")),
    R("telecom[]", "14*", _telecom("work")),
    R("telecom[]", "40*", xtn),
    R("communication[].language", 15, cwe("language")),
    R("communication[].preferred", 15, fixed(True)),
    R("maritalStatus", 16, cwe("marital_status")),
    R("multipleBirthInteger", 25, number),
    R("deceasedDateTime", 29, dtm),
    R("meta.lastUpdated", 33, dtm),
    R("extension[]", 10, omb(US_CORE + "us-core-race", "race", OMB)),
    R("extension[]", 6, ext(SD + "patient-mothersMaidenName", "valueString",
                            lambda n, c: "--".join(p for p in (n[1][1].v, n[2].v, n[3].v) if p)
                            or None)),
    R("extension[]", 23, ext(SD + "patient-birthPlace", "valueAddress",
                             lambda n, c: {"text": n.v} if n.v else None)),
    R("extension[]", 17, ext(SD + "patient-religion", "valueCodeableConcept", cwe("religion"))),
    R("extension[]", 22, omb(US_CORE + "us-core-ethnicity", "ethnicity", OMB)),
    R("extension[]", 27, ext("http://example.com/v2-to-fhir-converter/StructureDefinition/"
                             "VeteranMilitaryStatus", "valueCodeableConcept", cwe())),
    R("extension[]", 0, complex_ext(SD + "patient-animal", [
        ("species", 35, "valueCodeableConcept", cwe()),
        ("breed", 36, "valueCodeableConcept", cwe())])),
    R("extension[]", "26*", code_ext(SD + "patient-citizenship")),
    R("extension[]", "39*", code_ext(SD + "patient-citizenship")),
    R("extension[]", 28, code_ext(SD + "patient-nationality")),
]

# ------------------------------------------------------------------------ PID-18 -> Account
ACCOUNT_PID: Table = [
    R("identifier[]", 18, cx),
    R("status", 18, fixed("active")),
]

# --------------------------------------------------------------- NK1 -> RelatedPerson, contact
RELATED_PERSON_NK1: Table = [
    R("identifier[]", 12, cx),
    R("identifier[]", "33*", cx),
    R("identifier[]", 37, lambda n, c: {"value": n.v, "system": "http://hl7.org/fhir/sid/us-ssn"}
      if n.v else None),
    R("name[]", "2*", xpn),
    R("name[]", "30*", xpn),
    R("relationship[]", 3, cwe("relationship")),
    R("relationship[]", 7, cwe("relationship")),
    R("address[]", "4*", xad),
    R("address[]", "32*", xad),
    R("telecom[]", "5*", _telecom("home")),
    R("telecom[]", 6, _telecom("work")),
    R("telecom[]", "31*", xtn),
    R("telecom[]", "40*", xtn),
    R("telecom[]", "41*", xtn),
    R("period.start", 8, date),
    R("period.end", 9, date),
    R("gender", 15, mapped_code("gender")),
    R("birthDate", 16, date),
    R("communication[].language", 20, cwe("language")),
    R("communication[].preferred", 20, fixed(True)),
    R("extension[]", 35, omb(US_CORE + "us-core-race", "race", OMB)),
]

PATIENT_CONTACT_NK1: Table = [
    R("name", 2, xpn),
    R("relationship[]", 7, cwe("contact_role")),
    R("address", 4, xad),
    R("telecom[]", "5*", xtn),
    R("telecom[]", 6, xtn),
    R("period.start", 8, date),
    R("period.end", 9, date),
    R("gender", 15, mapped_code("gender")),
]

# ------------------------------------------------------------------------ PV1 -> Encounter
ENCOUNTER: Table = [
    R("class", 2, lambda n, c: _encounter_class(n)),
    R("type[]", 4, cwe("admission_type")),
    R("hospitalization.preAdmissionIdentifier", 5, cx),
    R("location[]", 3, _location("active")),
    R("location[]", 6, _location("completed")),
    R("location[]", 11, _location("planned", temporary=True)),
    R("location[]", 42, _location("planned")),
    R("location[]", 43, _location("completed", temporary=True)),
    R("participant[]", "7*", participant("ATND", "attender")),
    R("participant[]", "8*", participant("REF", text="referrer")),
    R("participant[]", "9*", participant("CON", text="consultant")),
    R("participant[]", "17*", participant("ADM", text="admitter")),
    R("participant[]", "52*", participant("PART", text="Participation")),
    R("serviceType", 10, cwe()),
    R("hospitalization.reAdmission", 13, cwe("readmission")),
    R("hospitalization.admitSource", 14, cwe()),
    R("identifier[]", 19, identifier_typed("VN", V2 + "v2-0203", text="visit number")),
    R("identifier[]", "50*", cx),
    R("hospitalization.dischargeDisposition", 36, cwe()),
    R("hospitalization.destination", 37, lambda n, c: ref(dld_location(n, c))),
    R("hospitalization.dietPreference[]", "38*", cwe()),
    R("period.start", 44, dtm),
    R("period.end", 45, dtm),
]

ENCOUNTER_PV2: Table = [
    R("location[]", 1, _location("planned")),
    R("reasonCode[]", 3, cwe()),
    R("participant[]", "13*", participant("REF", text="referrer")),
    R("length", 11, lambda n, c: {"value": v, "unit": "d", "system":
                                  "http://unitsofmeasure.org/"} if (v := number(n, c)) else None),
    R("meta.security[]", 22, lambda n, c: _first_coding(cwe("visit_protection")(n, c))),
    R("priority", 25, cwe("encounter_priority")),
    R("extension[]", 38, ext(SD + "encounter-modeOfArrival", "valueCoding",
                             lambda n, c: _first_coding(cwe("mode_of_arrival")(n, c)))),
]

EPISODE_OF_CARE: Table = [
    R("identifier[]", 54, cx),
    R("status", 54, fixed("active")),
]

# ------------------------------------------------------------------------ EVN -> Provenance
PROVENANCE_EVN: Table = [
    R("recorded", 2, dtm),
    R("reason[]", 4, cwe("event_reason")),
    R("occurredDateTime", 6, dtm),
]


def _encounter_class(node: Node) -> dict[str, str] | None:
    """PV1-2 -> Encounter.class Coding (v3 ActCode via the encounter_class table)."""
    value = node[1].v
    return coding(value, node[2].v, table="encounter_class") if value else None


def _first_coding(concept: dict[str, Any] | None) -> dict[str, Any] | None:
    """The first Coding of a CodeableConcept."""
    return concept["coding"][0] if concept and concept.get("coding") else None
