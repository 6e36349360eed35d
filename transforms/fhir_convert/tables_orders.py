"""Mapping tables for orders and results: ORC/OBR -> ServiceRequest, DiagnosticReport and the
order's Specimen; SPM -> Specimen."""

from __future__ import annotations

from typing import Any

from .context import Ctx
from .datatypes import codeable, dtm, hd_system
from .elements import coded, cwe, mapped_code
from .references import practitioner, xcn_key
from .rules import Converter, Table, ref
from .rules import Rule as R
from .values import Node

V2 = "http://terminology.hl7.org/CodeSystem/"


def order_id(type_code: str) -> Converter:
    """EI (placer / filler / group number) -> Identifier typed PLAC / FILL / PGN."""
    def conv(node: Node, ctx: Ctx) -> dict[str, Any] | None:
        value = node[1].v
        if not value:
            return None
        authority = Node(node.seps.subcomponent.join([node[2].raw, node[3].raw, node[4].raw]),
                         node.seps, 2)
        return {"value": value, "system": hd_system(authority),
                "type": {"coding": [{"code": type_code, "system": V2 + "v2-0203"}]}}
    return conv


def practitioner_role(role: str | None, display: str = "") -> Converter:
    """XCN -> PractitionerRole (with an HL7 table 0443 role code) for its Practitioner."""
    def conv(xcn: Node, ctx: Ctx) -> dict[str, str] | None:
        person = practitioner(xcn, ctx)
        if person is None:
            return None
        body: dict[str, Any] = {"practitioner": ref(person)}
        if role:
            body["code"] = [coded(role, V2 + "v2-0443", display)]
        return ref(ctx.builder.put("PractitionerRole", xcn_key(xcn), body))
    return conv


SERVICE_REQUEST_ORC: Table = [
    R("identifier[]", 2, order_id("PLAC")),
    R("identifier[]", 3, order_id("FILL")),
    R("identifier[]", 4, order_id("PGN")),
    R("status", 5, mapped_code("order_status")),
    R("requester", 12, practitioner_role("OP", "Ordering Provider")),
]

SERVICE_REQUEST_OBR: Table = [
    R("identifier[]", 2, order_id("PLAC")),
    R("identifier[]", 3, order_id("FILL")),
    R("code", 4, cwe()),
    R("requester", 16, practitioner_role("OP", "Ordering Provider")),
    R("reasonCode[]", "31*", cwe()),
]

DIAGNOSTIC_REPORT_OBR: Table = [
    R("identifier[]", 2, order_id("PLAC")),
    R("identifier[]", 3, order_id("FILL")),
    R("code", 4, cwe()),
    R("effectiveDateTime", 7, dtm),
    R("issued", 22, dtm),
    R("status", 25, mapped_code("report_status")),
    R("resultsInterpreter[]", 32, lambda n, c: results_interpreter(n, c)),
]


def results_interpreter(ndl: Node, ctx: Ctx) -> dict[str, str] | None:
    """OBR-32 (NDL: CNN name, point of care, room, bed, facility...) -> PractitionerRole."""
    person_node = ndl[1]
    if not ndl:
        return None
    from .references import pl_locations

    cnn_id = person_node[1].v
    person = ctx.builder.put("Practitioner", "CNN|" + person_node.raw, {
        "identifier": [{"value": cnn_id}] if cnn_id else None,
        "name": [{"family": person_node[2].v, "given": [person_node[3].v]}]})
    # NDL.4.. follow PL's layout from the point of care on
    pl = Node(ndl.seps.component.join(
        [ndl[i].raw for i in (4, 5, 6, 7, 8, 9, 10, 11)]), ndl.seps, 1)
    loc = pl_locations(pl, ctx)
    body = {"practitioner": ref(person), "location": [ref(loc)] if loc else None}
    return ref(ctx.builder.put("PractitionerRole", "NDL|" + ndl.raw, body))

REPORT_IDS_ORC: Table = [
    R("identifier[]", 2, order_id("PLAC")),
    R("identifier[]", 3, order_id("FILL")),
    R("identifier[]", 4, order_id("PGN")),
]

SPECIMEN_OBR: Table = [
    R("identifier[]", 2, order_id("PLAC")),
    R("identifier[]", 3, order_id("FILL")),
    R("collection.collectedDateTime", 7, dtm),
    R("collection.collector", 10, practitioner_role(None)),
]


def _specimen_type(node: Node, ctx: Ctx) -> dict[str, Any] | None:
    """SPM-4 -> Specimen.type (HL7 table 0487)."""
    concept = codeable(node, ctx, system="http://terminology.hl7.org/CodeSystem/v2-0487",
                       alternate=False)
    return concept


SPECIMEN_SPM: Table = [
    R("identifier[]", "2.1", lambda n, c: {"value": n.v, "type": coded("PGN", V2 + "v2-0203")}
      if n[1].v else None),
    R("type", 4, _specimen_type),
    R("collection.collectedDateTime", "17.1", dtm),
    R("receivedTime", 18, dtm),
]


def _cq_units(node: Node, ctx: Ctx) -> dict[str, Any] | None:
    """CQ with a CWE unit in subcomponents (e.g. ``1^d&Day&ANS+``) -> Quantity."""
    from . import codes
    from .datatypes import number

    value = number(node[1], ctx)
    if value is None:
        return None
    unit = node[2]
    out: dict[str, Any] = {"value": value, "unit": unit[2].v or unit[1].v or None,
                           "code": unit[1].v or None}
    if unit[3].v:
        out["system"] = codes.system_uri(unit[3].v)
    return out


_MINUTES = {"s": 1 / 60, "sec": 1 / 60, "min": 1, "h": 60, "hr": 60, "d": 1440}


def timing(tq1: Any, ctx: Ctx, code_system: str | None = None) -> dict[str, Any] | None:
    """TQ1 (repeat pattern, service duration or start/end, occurrences) -> Timing; the
    repeat-pattern code gets `code_system` (HL7 table 0335 for medication orders)."""
    from .datatypes import number

    if tq1 is None:
        return None
    rpt = tq1[3]
    pattern = rpt[1]
    code_value = pattern[1].v
    code = {"coding": [{"code": code_value, "display": pattern[2].v or None,
                        "system": code_system}]} if code_value else None
    bounds: dict[str, Any] = {}
    if tq1[7] or tq1[8]:
        bounds["boundsPeriod"] = {"start": dtm(tq1[7], ctx), "end": dtm(tq1[8], ctx)}
    elif tq1[6]:
        bounds["boundsDuration"] = _cq_units(tq1[6], ctx)
    offset = number(rpt[9], ctx)
    if offset is not None:
        minutes = offset * _MINUTES.get(rpt[10][1].v, 1)
        offset = int(minutes) if float(minutes).is_integer() else minutes
    repeat = {"period": number(rpt[5], ctx), "periodUnit": rpt[6][1].v or None,
              "when": [rpt[8].v] if rpt[8].v else None, "offset": offset, **bounds,
              "duration": number(tq1[13][1], ctx) if tq1[13] else None,
              "durationUnit": tq1[13][2][1].v or None, "count": number(tq1[14], ctx)}
    return {"code": code, "repeat": repeat}


SERVICE_REQUEST_TQ1: Table = [
    R("quantityQuantity", 2, lambda n, c: _cq_units(n, c)),
    R("occurrenceTiming", 0, lambda s, c: timing(s, c)),
    R("priority", 9, mapped_code("request_priority")),
    R("asNeededCodeableConcept", 10, lambda n, c: {"text": n.v} if n.v else None),
    R("note[]", 11, lambda n, c: {"text": n.v} if n.v else None),
]

SERVICE_REQUEST_WHEN: Table = [
    R("occurrenceDateTime", 6, dtm),
]
