"""Mapping tables for insurance and guarantors: IN1, IN2 -> Coverage, payor and policy-holder
Organizations, subscriber RelatedPerson; GT1 -> guarantor RelatedPerson / Account.guarantor."""

from __future__ import annotations

from typing import Any

from .context import Ctx
from .datatypes import cx, date, dtm, money, xad, xpn, xtn
from .elements import coded, cwe, fixed, mapped_code
from .rules import Converter, Table
from .rules import Rule as R
from .values import Node

V2 = "http://terminology.hl7.org/CodeSystem/"
COVERAGE_CLASS = V2 + "coverage-class"
SSN = "http://hl7.org/fhir/sid/us-ssn"


def _class(kind: str, display: str, name_field: int | None = None) -> Converter:
    """IN1-2 / IN1-8 -> Coverage.class."""
    def conv(node: Node, ctx: Ctx) -> dict[str, Any] | None:
        value = node[1].v if kind == "plan" else node.v
        if not value:
            return None
        seg = ctx.segment
        name = node[2].v if kind == "plan" else "+".join(
            r[1].v or r[10].v for r in seg[name_field].reps) if seg and name_field else ""
        return {"value": value, "name": name, "type": {"coding": [
            {"system": COVERAGE_CLASS, "code": kind, "display": display}]}}
    return conv


def _typed(code_value: str, system: str, type_system: str, display: str = "") -> Converter:
    """ST/CX -> Identifier with a fixed system and type."""
    def conv(node: Node, ctx: Ctx) -> dict[str, Any] | None:
        value = node[1].v
        if not value:
            return None
        return {"value": value, "system": system, "type": coded(code_value, type_system, display)}
    return conv


def _cost(node: Node, ctx: Ctx) -> dict[str, Any] | None:
    """IN1-37 (CP: price & price type) -> Coverage.costToBeneficiary."""
    amount = money(node[1], ctx)
    kind = node[2].v
    if amount is None and not kind:
        return None
    from .datatypes import coding

    type_coding = coding(kind, table="price_type")
    return {"type": {"coding": [type_coding]} if type_coding else None, "valueMoney": amount}


def _language(node: Node, ctx: Ctx) -> dict[str, Any] | None:
    """CWE language -> RelatedPerson.communication (preferred)."""
    lang = cwe("language")(node, ctx)
    return {"language": lang, "preferred": True} if lang else None


COVERAGE_IN1: Table = [
    R("class[]", 2, _class("plan", "Plan")),
    R("class[]", 8, _class("group", "Group", 9)),
    R("network", "2.2", lambda n, c: n.v or None),
    R("period.start", 12, dtm),
    R("period.end", 13, dtm),
    R("type", 15, cwe("plan_type")),
    R("identifier[]", 36, _typed("PLN", "http://example.com/v2-to-fhir-converter/Identifier/"
                                 "policy-id", "http://example.com/CodeSystem/"
                                 "additional-identifier", "Policy Number")),
    R("costToBeneficiary[]", 37, _cost),
    R("subscriberId", "49.1", lambda n, c: n.v or None),
    R("status", 0, fixed("active")),
]

COVERAGE_IN2: Table = [
    R("identifier[]", 6, _typed("MC", "http://hl7.org/fhir/sid/us-medicare", V2 + "v2-0203",
                                "Patient's Medicare number")),
    R("identifier[]", 8, _typed("MA", "http://example.com/v2-to-fhir-converter/sid/us-medicaid",
                                V2 + "v2-0203", "Patient Medicaid number")),
    R("identifier[]", "61*", cx),
    R("relationship", 72, cwe("subscriber_relationship")),
]

PATIENT_IN2: Table = [
    R("identifier[]", 6, _typed("MC", "http://hl7.org/fhir/sid/us-medicare", V2 + "v2-0203",
                                "Patient's Medicare number")),
    R("identifier[]", 8, _typed("MA", "http://example.com/v2-to-fhir-converter/sid/us-medicaid",
                                V2 + "v2-0203", "Patient Medicaid number")),
    R("identifier[]", 10, _typed("MI", "http://example.com/v2-to-fhir-converter/sid/"
                                 "us-military", V2 + "v2-0203", "Military ID number")),
    R("identifier[]", "61*", cx),
]

PAYOR_IN1: Table = [
    R("identifier[]", "3*", cx),
    R("name", 4, lambda n, c: n[1].v or None),
    R("address[]", "5*", xad),
    R("contact[].name", 6, xpn),
    R("telecom[]", "7*", xtn),
]

POLICY_HOLDER_IN1: Table = [
    R("identifier[]", "10*", cx),
    R("name", 11, lambda n, c: n[1].v or None),
    R("address[]", "44*", xad),
]

POLICY_HOLDER_IN2: Table = [
    R("contact[].name", 49, xpn),
    R("contact[].telecom[]", "50*", xtn),
    R("telecom[]", "64*", xtn),
]

SUBSCRIBER_IN1: Table = [
    R("identifier[]", "49*", cx),
    R("relationship[]", 17, cwe("relationship")),
    R("name[]", "16*", xpn),
    R("birthDate", 18, date),
    R("address[]", "19*", xad),
    R("gender", 43, mapped_code("gender")),
]

SUBSCRIBER_IN2: Table = [
    R("identifier[]", "1*", cx),
    R("identifier[]", 2, _typed("SS", SSN, V2 + "v2-0203", "Social Security number")),
    R("telecom[]", "63*", xtn),
    R("communication[]", 34, _language),
]

POLICY_HOLDER_PERSON_IN2: Table = [
    R("identifier[]", 3, lambda n, c: {"value": n[1].v} if n[1].v else None),
    R("relationship[]", 3, fixed(coded("E", V2 + "v2-0131", "Employer"))),
    R("telecom[]", "63*", xtn),
]

GUARANTOR_GT1: Table = [
    R("identifier[]", "2*", cx),
    R("identifier[]", "19*", cx),
    R("identifier[]", 12, _typed("SB", SSN, V2 + "v2-0203", "Social Beneficiary Identifier")),
    R("relationship[]", 11, cwe("relationship")),
    R("name[]", "3*", xpn),
    R("address[]", "5*", xad),
    R("telecom[]", "6*", xtn),
    R("telecom[]", "7*", xtn),
    R("birthDate", 8, date),
    R("gender", 9, mapped_code("gender")),
    R("communication[]", 36, _language),
]

ACCOUNT_GUARANTOR_GT1: Table = [
    R("period.start", 13, dtm),
    R("period.end", 14, dtm),
]
