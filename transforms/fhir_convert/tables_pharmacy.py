"""Mapping tables for pharmacy orders: RXO (order) / RXE (encoded order) -> MedicationRequest,
RXO-1 / RXE-2 / RXC -> Medication, TQ1 -> dosage timing, RXR -> route and site, BLG -> Account,
CTI -> ResearchStudy."""

from __future__ import annotations

from typing import Any

from .context import Ctx
from .datatypes import cx, number
from .elements import coded, cwe, mapped_code
from .rules import Rule as R
from .rules import Table
from .tables_clinical import ei_typed
from .tables_orders import _cq_units, timing
from .values import Node, Seg

V2 = "http://terminology.hl7.org/CodeSystem/"
UCUM = "http://unitsofmeasure.org"
EXAMPLE = "http://example.com/v2-to-fhir-converter/"


def _qty(value: Node, unit: Node | None, ctx: Ctx) -> dict[str, Any] | None:
    """A number and a CWE unit (its text) -> Quantity."""
    amount = number(value, ctx)
    if amount is None:
        return None
    text = (unit[2].v or unit[1].v) if unit is not None else ""
    return {"value": amount, "unit": text or None}


def _per_day(numerator: dict[str, Any] | None) -> dict[str, Any] | None:
    """maxDosePerPeriod: the numerator per one day."""
    if numerator is None:
        return None
    return {"numerator": numerator,
            "denominator": {"value": 1, "unit": "d", "system": UCUM, "code": "d"}}


def dosage(seg: Seg, tq1: Seg | None, rxr: Seg | None, ctx: Ctx, encoded: bool
           ) -> dict[str, Any]:
    """RXO / RXE + TQ1 + RXR -> one Dosage."""
    if encoded:
        dose = _qty(seg[3], seg[5], ctx)
        rate = _qty(seg[23], seg[24], ctx)
        instructions = [{"coding": [{"code": r.v}]} for r in seg[7].reps if r.v]
        text_parts = ["", tq1[11].v if tq1 is not None else ""]
        numerator = {"value": v} if (v := number(seg[19], ctx)) is not None else None
    else:
        dose = _qty(seg[2], seg[4], ctx)
        rate = _qty(seg[21], seg[22], ctx)
        instructions = []
        text_parts = [seg[6][2].v, tq1[10].v if tq1 is not None else ""]
        numerator = _cq_units(seg[23], ctx) if seg[23] else None
    out = {
        "doseAndRate": [{"doseQuantity": dose, "rateQuantity": rate}],
        "additionalInstruction": instructions,
        "patientInstruction": None if encoded else seg[7][2].v or None,
        "text": "+".join(text_parts) if any(text_parts) else None,
        "maxDosePerPeriod": _per_day(numerator),
        "route": cwe()(rxr[1], ctx) if rxr is not None and rxr[1] else None,
        "site": cwe()(rxr[2], ctx) if rxr is not None and rxr[2] else None,
        "sequence": 1,
        "timing": timing(tq1, ctx, V2 + "v2-0335"),
    }
    if encoded and tq1 is not None and tq1[10].v:
        out["asNeededCodeableConcept"] = {"text": tq1[10].v}
    return out


def _prescription_number(node: Node, ctx: Ctx) -> dict[str, Any] | None:
    """RXE-15 -> Identifier (system named after RXE-40.3, as FHIR-Converter does)."""
    if not node.v:
        return None
    seg = ctx.segment
    authority = seg[40][3].v if seg is not None else ""
    return {"value": node.v, "system": EXAMPLE + "Identifier/" + authority if authority else None,
            "type": coded("PRN", EXAMPLE + "CodeSystem/identifier-type-code",
                          "Prescription Number")}


MEDICATION_REQUEST_RXO: Table = [
    R("substitution.allowedCodeableConcept", 9, cwe(system=V2 + "v2-0161")),
    R("dispenseRequest.quantity", 0, lambda s, c: _qty(s[11], s[12], c)),
    R("dispenseRequest.numberOfRepeatsAllowed", 13, number),
    R("dispenseRequest.dispenseInterval", 28, lambda n, c: {
        "value": v, "code": "d", "system": UCUM, "unit": "days"}
        if (v := number(n, c)) is not None else None),
    R("reasonCode[]", 20, cwe()),
]

MEDICATION_REQUEST_RXE: Table = [
    R("identifier[]", 15, _prescription_number),
    R("dispenseRequest.quantity", 0, lambda s, c: _qty(s[10], s[11], c)),
    R("dispenseRequest.numberOfRepeatsAllowed", 12, number),
    R("dispenseRequest.initialFill.quantity", 0, lambda s, c: _qty(s[39], s[11], c)),
]

MEDICATION_REQUEST_TQ1: Table = [
    R("priority", 9, mapped_code("request_priority")),
]

ACCOUNT_BLG: Table = [
    R("identifier[]", 3, cx),
    R("status", 3, lambda n, c: "active"),
]

RESEARCH_STUDY_CTI: Table = [
    R("identifier[]", 1, ei_typed),
    R("phase", 2, cwe()),
    R("status", 1, lambda n, c: "active"),
]
