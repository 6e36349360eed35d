"""Converter factories used by the mapping tables (so tables stay one line per element)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import codes
from .context import Ctx
from .datatypes import codeable, coding, cx, date, dtm, string
from .references import practitioner
from .rules import ref
from .values import Node, Seg

Conv = Callable[[Any, Ctx], Any]


def cwe(table: str | None = None, system: str | None = None, alternate: bool = True) -> Conv:
    """CWE/CE -> CodeableConcept, codes mapped through `table` when given."""
    return lambda node, ctx: codeable(node, ctx, table, system, alternate)



def mapped_code(table: str) -> Conv:
    """ID/IS -> the FHIR code `table` maps it to (None when unmapped)."""
    def conv(node: Node, ctx: Ctx) -> str | None:
        value = node[1].v if node.level < 2 else node.v
        found = codes.lookup(table, value) if value else None
        return found["code"] if found else None
    return conv



def fixed(value: Any) -> Conv:
    """A constant, set whenever the source field is present."""
    return lambda node, ctx: value


def coded(code_value: str, system: str, display: str = "", text: str = "") -> dict[str, Any]:
    """A CodeableConcept literal."""
    c = {"code": code_value, "system": system, "display": display}
    out: dict[str, Any] = {"coding": [{k: v for k, v in c.items() if v}]}
    if text:
        out["text"] = text
    return out


def ext(url: str, value_key: str, conv: Conv) -> Conv:
    """A simple extension {url, value[x]} from a converter."""
    def make(node: Any, ctx: Ctx) -> dict[str, Any] | None:
        value = conv(node, ctx)
        return {"url": url, value_key: value} if value is not None else None
    return make


def complex_ext(url: str, parts: list[tuple[str, int, str, Conv]]) -> Conv:
    """An extension with sub-extensions read from several fields of the segment."""
    def make(seg: Seg, ctx: Ctx) -> dict[str, Any] | None:
        subs = []
        for sub_url, field, key, conv in parts:
            for node in seg[field].reps:
                value = conv(node, ctx)
                if value is not None:
                    subs.append({"url": sub_url, key: value})
        return {"url": url, "extension": subs} if subs else None
    return make


def code_ext(url: str, sub_url: str = "code") -> Conv:
    """Extension {url, extension: [{url: code, valueCodeableConcept}]} from a CWE."""
    conv = cwe()

    def make(node: Node, ctx: Ctx) -> dict[str, Any] | None:
        value = conv(node, ctx)
        if value is None:
            return None
        return {"url": url, "extension": [{"url": sub_url, "valueCodeableConcept": value}]}
    return make


def omb(url: str, table: str | None, system: str) -> Conv:
    """US Core race / ethnicity extension from every repetition of a CWE field."""
    def make(seg_field: Node, ctx: Ctx) -> dict[str, Any] | None:
        subs: list[dict[str, Any]] = []
        texts: list[str] = []
        for rep in seg_field.reps:
            c = coding(rep[1].v, rep[2].v, rep[3].v, table=table)
            if c is None:
                continue
            subs.append({"url": "ombCategory", "valueCoding": c})
            texts.append(c.get("display") or rep[2].v or rep[1].v)
        if not subs:
            return None
        subs.append({"url": "text", "valueString": "+".join(texts)})
        return {"url": url, "extension": subs}
    return make



def practitioner_ref(node: Node, ctx: Ctx) -> dict[str, str] | None:
    """XCN -> Reference(Practitioner)."""
    return ref(practitioner(node, ctx))


def participant(code_value: str, display: str = "", text: str = "") -> Conv:
    """XCN -> Encounter.participant with a v3-ParticipationType type."""
    system = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"

    def make(node: Node, ctx: Ctx) -> dict[str, Any] | None:
        who = practitioner(node, ctx)
        if who is None:
            return None
        return {"type": [coded(code_value, system, display, text)],
                "individual": {"reference": who}}
    return make


def identifier_typed(type_code: str, system: str = "", display: str = "",
                     text: str = "") -> Conv:
    """CX/EI/ST -> Identifier with a fixed type coding."""
    def make(node: Node, ctx: Ctx) -> dict[str, Any] | None:
        ident = cx(node, ctx) if node.level < 2 else {"value": node.v}
        if ident is None:
            return None
        ident["type"] = coded(type_code, system, display, text)
        return ident
    return make


def ssn(node: Node, ctx: Ctx) -> dict[str, Any] | None:
    """PID-19 -> US SSN identifier."""
    value = string(node, ctx)
    if not value:
        return None
    return {"value": value, "system": "http://hl7.org/fhir/sid/us-ssn",
            "type": {"coding": [{"code": "SB",
                                 "system": "http://terminology.hl7.org/CodeSystem/v2-0203"}]}}


def dln(node: Node, ctx: Ctx) -> dict[str, Any] | None:
    """DLN (driver's license number ^ issuing state ^ expiry) -> Identifier."""
    value = node[1].v
    if not value:
        return None
    return {"value": value, "type": {"coding": [{"code": "DL"}]},
            "system": codes.system_uri(node[2].v) if node[2].v else None,
            "period": {"end": date(node[3], ctx)}}


def birth_time(node: Node, ctx: Ctx) -> dict[str, Any] | None:
    """PID-7 with a time -> the patient-birthTime extension on birthDate."""
    value = node[1].v
    if len(value) <= 8:
        return None
    return {"extension": [{"url": "http://hl7.org/fhir/StructureDefinition/patient-birthTime",
                           "valueDateTime": dtm(node, ctx)}]}
