"""Mapping tables for financial transactions: FT1 -> ChargeItem, the cost-center Organization,
the supplied item (Device), the dispensed drug (MedicationDispense) and SupplyDelivery."""

from __future__ import annotations

from typing import Any

from . import codes
from .context import Ctx
from .datatypes import cq, dtm, money, number
from .elements import coded, cwe
from .references import practitioner, xon_organization
from .rules import Rule as R
from .rules import Table, ref
from .values import Node, Seg

EXAMPLE = "http://example.com/v2-to-fhir-converter/"


def _transaction_id(node: Node, ctx: Ctx) -> dict[str, Any] | None:
    """FT1-2 -> ChargeItem.identifier (system named after FT1-13.3, as FHIR-Converter does)."""
    value = node[1].v
    if not value:
        return None
    seg = ctx.segment
    dept_system = seg[13][3].v if seg is not None else ""
    return {"value": value,
            "system": EXAMPLE + "Identifier/" + dept_system if dept_system else None,
            "type": coded("TID", EXAMPLE + "CodeSystem/identifier-type-code",
                          "ChargeItem Transaction ID")}


def _occurrence(node: Node, ctx: Ctx) -> Any:
    """FT1-4 (DR) -> occurrenceDateTime, or a Period when it has an end."""
    if node[2].v:
        return None
    return dtm(node[1], ctx)


def _occurrence_period(node: Node, ctx: Ctx) -> Any:
    """FT1-4 with an end -> occurrencePeriod."""
    if not node[2].v:
        return None
    return {"start": dtm(node[1], ctx), "end": dtm(node[2], ctx)}


def _price(seg: Seg, ctx: Ctx) -> dict[str, Any] | None:
    """FT1-11 extended amount, else FT1-12 unit amount -> priceOverride (Money)."""
    for field in (11, 12):
        amount = money(seg[field][1], ctx)
        if amount is not None:
            return amount
    return None


def _xcn_ref(node: Node, ctx: Ctx) -> dict[str, str] | None:
    """XCN -> Reference(Practitioner)."""
    return ref(practitioner(node, ctx))


CHARGE_ITEM: Table = [
    R("identifier[]", 2, _transaction_id),
    R("occurrenceDateTime", 4, _occurrence),
    R("occurrencePeriod", 4, _occurrence_period),
    R("enteredDate", 5, dtm),
    R("code", 7, cwe()),
    R("quantity", 10, lambda n, c: {"value": v} if (v := number(n, c)) is not None else None),
    R("priceOverride", 0, _price),
    R("reason[]", "19*", cwe()),
    R("performer[].actor", 20, _xcn_ref),
    R("enterer", 24, _xcn_ref),
    R("performingOrganization", 32, lambda n, c: ref(xon_organization(n, c))),
    R("requestingOrganization", 33, lambda n, c: ref(xon_organization(n, c))),
]


def cost_center(cwe_node: Node, ctx: Ctx) -> str | None:
    """FT1-13 (department, CWE) -> Organization identified by code and coding system."""
    value = cwe_node[1].v
    if not value:
        return None
    system = cwe_node[3].v
    body = {"identifier": [{"value": value, "system": codes.system_uri(system, True)
                            if system else None}], "name": cwe_node[2].v}
    key = f"{value},{system}" if system else cwe_node.raw
    return ctx.builder.put("Organization", key, body)


MEDICATION_DISPENSE: Table = [
    R("medicationCodeableConcept", 29, cwe()),
    R("quantity", 43, cq),
    R("authorizingPrescription[]", 42, lambda n, c: {
        "identifier": {"value": n.v, "type": coded(
            "PRN", EXAMPLE + "CodeSystem/identifier-type-code", "Prescription Number")},
        "type": "MedicationRequest"} if n.v else None),
]


def supplied_item(ft1: Seg, ctx: Ctx, from_code: bool) -> str | None:
    """FT1-34 item number (v2.6+), or with `from_code` the FT1-7 charge code -> Device."""
    patient = ctx.refs.get("patient")
    item = ft1[34]
    if item and item[1].v:
        from .datatypes import ei

        body: dict[str, Any] = {"identifier": [ei(item, ctx)], "modelNumber": ft1[35].v,
                                "patient": ref(patient)}
        return ctx.builder.put("Device", "FT1-34|" + item.raw, body)
    if not from_code or not ft1[7][1].v:
        return None
    code_node = ft1[7]
    system = codes.system_uri(code_node[3].v, True) if code_node[3].v else None
    kind = ft1[25] if ft1[25] else code_node
    body = {"identifier": [{"value": code_node[1].v, "system": system}],
            "deviceName": [{"name": code_node[2].v, "type": "other"}] if code_node[2].v
            else None, "type": cwe()(kind, ctx), "patient": ref(patient)}
    return ctx.builder.put("Device", "FT1-7|" + code_node.raw, body)


def supply_delivery(ft1: Seg, item: str, ctx: Ctx) -> str:
    """FT1 + its supplied Device -> SupplyDelivery (what was used, how many, when, for whom)."""
    quantity = number(ft1[10], ctx)
    body = {"status": "completed", "patient": ref(ctx.refs.get("patient")),
            "suppliedItem": {"quantity": {"value": quantity} if quantity is not None else None,
                             "itemReference": ref(item)},
            "occurrenceDateTime": dtm(ft1[4][1], ctx),
            "supplier": ref(practitioner(ft1[20], ctx)) if ft1[20][1].v else None,
            "destination": ref(ctx.refs.get("location"))}
    return ctx.builder.put("SupplyDelivery", f"{ctx.refs.get('patient')}|{ft1.raw}", body)
