"""The HL7 v2 -> FHIR R4 engine: walks the segment groups of a message and builds a batch Bundle.

Which groups a message has comes from its type (MSH-9): ``PLANS`` maps a message code (or
code^trigger) to the list of group builders to run. Segments no plan reads (Z-segments, and
segments not mapped yet) are ignored.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from engine.errors import TransformError
from protocols.hl7v2.message import Hl7Message

from .bundle import BundleBuilder
from .context import Ctx, Options
from .datatypes import dtm
from .groups import (
    account_insurance,
    charge_groups,
    charges,
    insurance_group,
    medication_orders,
    observation_results,
    participations,
    patient_clinical,
    patient_group,
)
from .header import event_provenance, message_header
from .message import Message

Plan = Callable[[Ctx, Message], None]


def merge_patients(ctx: Ctx, msg: Message) -> None:
    """ADT^A40 (merge): each PID / MRG pair -> Linkage (surviving source, historical)."""
    from .datatypes import cx

    for mrg in msg.all("MRG"):
        pid = msg.segs[mrg.index - 1] if mrg.index else None
        pid = pid if pid is not None and pid.id == "PID" else msg.first("PID")
        items = []
        if pid is not None and pid[3]:
            items.append({"type": "source", "resource": {"type": "Patient",
                                                         "identifier": cx(pid[3], ctx)}})
        if mrg[1]:
            items.append({"type": "historical", "resource": {"type": "Patient",
                                                             "identifier": cx(mrg[1], ctx)}})
        ctx.builder.put("Linkage", f"{pid.raw if pid else ''}|{mrg.raw}", {"item": items})
    evn = msg.first("EVN")
    if evn is not None:
        event_provenance(evn, msg.msh, ctx, msg.bundle_id)


PLANS: dict[str, list[Plan]] = {
    "ADT": [patient_group, patient_clinical, insurance_group],
    "ADT^A40": [merge_patients],
    "DFT": [patient_group, participations, charges, account_insurance],
    "DFT^P11": [patient_group, participations, charge_groups],
    "BAR": [patient_group, participations, patient_clinical, account_insurance],
    "MDM": [patient_group, observation_results],
    "OMG": [patient_group, observation_results, account_insurance],
    "OML": [patient_group, observation_results, account_insurance],
    "ORM": [patient_group, observation_results, account_insurance],
    "ORU^R01": [patient_group, observation_results],
    "OUL": [patient_group, observation_results],
    "RDS": [patient_group, participations, medication_orders, account_insurance],
    "REF": [patient_group, patient_clinical, account_insurance],
    "SIU": [patient_group, patient_clinical],
    "VXU": [patient_group, observation_results],
    "RDE": [patient_group, participations, medication_orders, account_insurance],
}
"""Message code (or code^trigger) -> the group builders that convert it, in order."""


def plan_for(hl7: Hl7Message) -> list[Plan]:
    """The group builders for a message type; TransformError for types not supported."""
    code, trigger = hl7.message_code, hl7.trigger_event
    plan = PLANS.get(f"{code}^{trigger}") or PLANS.get(code)
    if plan is None:
        shown = f"{code}^{trigger}" if trigger else code or "(empty MSH-9)"
        raise TransformError(f"HL7 v2 -> FHIR: unsupported message type {shown}; supported: "
                             + ", ".join(sorted(PLANS)), location="MSH-9")
    return plan


def convert(message: str | Hl7Message, options: Options | None = None) -> dict[str, Any]:
    """Convert an HL7 v2 message (text or parsed) to a FHIR R4 batch Bundle (a dict)."""
    hl7 = Hl7Message.parse(message) if isinstance(message, str) else message
    plan = plan_for(hl7)
    msg = Message(hl7)
    ctx = Ctx(BundleBuilder(), options or Options(), hl7.message_type)
    message_header(msg.msh, ctx, msg.bundle_id)
    for step in plan:
        step(ctx, msg)
    header: dict[str, Any] = {"identifier": {"value": hl7.control_id},
                              "timestamp": dtm(msg.msh[7], ctx)}
    return ctx.builder.to_bundle(msg.bundle_id, header)
