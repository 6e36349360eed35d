"""Order and result groups: ORC/OBR (+ OBX, SPM, NTE) -> ServiceRequest, DiagnosticReport,
Observation, Specimen."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .clinical import observation
from .context import Ctx
from .rules import apply, ref
from .tables_orders import (
    DIAGNOSTIC_REPORT_OBR,
    REPORT_IDS_ORC,
    SERVICE_REQUEST_OBR,
    SERVICE_REQUEST_ORC,
    SERVICE_REQUEST_TQ1,
    SERVICE_REQUEST_WHEN,
    SPECIMEN_OBR,
    SPECIMEN_SPM,
)
from .values import Seg


@dataclass
class OrderGroup:
    """The resources of one ORC/OBR group."""

    service_request: str | None = None
    report: str | None = None
    specimen: str | None = None
    observations: list[str] = field(default_factory=list)


def order_key(orc: Seg | None, obr: Seg | None, ctx: Ctx) -> str:
    """ServiceRequest id key (placer order number and service), as FHIR-Converter builds it."""
    if orc is not None and obr is not None and orc[2] and obr[4]:
        return f"{orc[2].raw},{obr[4].raw}"
    if orc is not None and obr is None:
        return orc.raw
    if obr is not None:
        if obr[2] and obr[4]:
            return f"{obr[2].raw},{obr[4].raw}"
        if obr[3] and obr[4]:
            return f"{obr[2].raw},{obr[4].raw}"
        return obr.raw
    return orc.raw if orc is not None else ""


def report_key(obr: Seg) -> str:
    """DiagnosticReport id key: placer order number, else filler, else the segment."""
    placer = obr[2]
    if placer[1].v and placer[2].v:
        return f"{placer[1].v},{placer[2].v}"
    if placer[3].v and placer[4].v:
        return f"{placer[3].v},{placer[4].v}"
    return obr.raw


def service_request(orc: Seg | None, obr: Seg | None, ctx: Ctx,
                    link_encounter: bool = True, tq1s: list[Seg] | None = None) -> str:
    """ORC + OBR (+ TQ1 timing) -> ServiceRequest."""
    body: dict[str, Any] = {}
    apply(SERVICE_REQUEST_ORC, orc, ctx, body)
    apply(SERVICE_REQUEST_OBR, obr, ctx, body)
    if tq1s:
        for tq1 in tq1s:
            apply(SERVICE_REQUEST_TQ1, tq1, ctx, body)
    else:
        apply(SERVICE_REQUEST_WHEN, obr, ctx, body)
    body.setdefault("status", "unknown")
    body["intent"] = "order"
    body["subject"] = ref(ctx.refs.get("patient"))
    if link_encounter and ctx.refs.get("encounter"):
        body["encounter"] = ref(ctx.refs["encounter"])
    patient = ctx.refs.get("patient")
    return ctx.builder.put("ServiceRequest", f"{patient}|{order_key(orc, obr, ctx)}", body)


def order_group(orc: Seg | None, obr: Seg | None, ctx: Ctx, report: bool = True,
                specimen: bool = True, link_encounter: bool = False,
                tq1s: list[Seg] | None = None) -> OrderGroup:
    """OBR (with its ORC) -> ServiceRequest, its Specimen and (for results) DiagnosticReport."""
    patient = ctx.refs.get("patient")
    group = OrderGroup()
    group.service_request = service_request(orc, obr, ctx, link_encounter, tq1s)
    if specimen and obr is not None:
        body = apply(SPECIMEN_OBR, obr, ctx)
        group.specimen = ctx.builder.put("Specimen", f"{patient}|OBR|{report_key(obr)}", body)
        ctx.builder.update(group.service_request, {"specimen": [ref(group.specimen)]})
    if report and obr is not None:
        body = apply(DIAGNOSTIC_REPORT_OBR, obr, ctx)
        if orc is not None:
            apply(REPORT_IDS_ORC, orc, ctx, body)
        body["subject"] = ref(patient)
        if ctx.refs.get("encounter"):
            body["encounter"] = ref(ctx.refs["encounter"])
        body.setdefault("status", "unknown")
        body["basedOn"] = [ref(group.service_request)]
        body["specimen"] = [ref(group.specimen)] if group.specimen else None
        group.report = ctx.builder.put("DiagnosticReport", f"{patient}|{report_key(obr)}", body)
    return group


def specimen(spm: Seg, ctx: Ctx) -> str:
    """SPM -> Specimen."""
    patient = ctx.refs.get("patient")
    body = apply(SPECIMEN_SPM, spm, ctx)
    ident = spm[2][1]
    if ident[1].v and ident[2].v:
        key = f"{ident[1].v},{ident[2].v}"
    elif ident[1].v and ident[3].v:
        key = f"{ident[1].v},{ident[3].v}"
    else:
        key = ident.v or spm[2].raw or spm.raw
    return ctx.builder.put("Specimen", f"{patient}|{key}", body)


def results(segs: list[Seg], ctx: Ctx) -> list[OrderGroup]:
    """Walk ORC/OBR/OBX/SPM/NTE segments -> order groups with their observations."""
    groups: list[OrderGroup] = []
    orc: Seg | None = None
    current: OrderGroup | None = None
    last_specimen: str | None = None
    for seg in segs:
        sid = seg.id
        if sid == "ORC":
            orc = seg
        elif sid == "OBR":
            current = order_group(orc, seg, ctx)
            groups.append(current)
            orc = None
        elif sid == "OBX" and current is not None:
            extra: dict[str, Any] = {"basedOn": [ref(current.service_request)]}
            if last_specimen:
                extra["specimen"] = ref(last_specimen)
            obs = observation(seg, ctx, extra, link_encounter=False)
            current.observations.append(obs)
            if current.report:
                ctx.builder.update(current.report, {"result": [ref(obs)]})
        elif sid == "SPM":
            last_specimen = specimen(seg, ctx)
    return groups
