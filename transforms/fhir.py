"""Channel steps for FHIR: HL7 v2 -> FHIR R4 Bundle, and FHIR ChargeItem -> HL7 v2 DFT^P03.

Use from a channel file, e.g.::

    transforms:
      - use: transforms.fhir:hl7v2_to_fhir
        with: {timezone: preserve}
    filters:
      - use: transforms.fhir:resource_type_in
        with: {types: [ChargeItem]}
"""

from __future__ import annotations

import json
from datetime import datetime

from engine.errors import TransformError, ValidationError
from engine.message import Message
from engine.steps import StepContext
from transforms.fhir_convert import Options, chargeitems_to_dft, convert


def hl7v2_to_fhir(message: Message, context: StepContext, timezone: str = "preserve",
                  naive_offset: str = "Z", supply_delivery: bool = True) -> Message:
    """HL7 v2 message -> FHIR R4 batch Bundle (content type fhir+json, correlation id kept)."""
    try:
        options = Options(timezone=timezone, naive_offset=naive_offset,
                          supply_delivery=supply_delivery)
        bundle = convert(message.hl7, options)
    except ValueError as exc:  # a bad option value (e.g. an invalid timezone offset)
        raise TransformError(f"HL7 v2 -> FHIR: {exc}") from exc
    body = json.dumps(bundle, ensure_ascii=False, separators=(",", ":"))
    return message.replace(body.encode("utf-8"), "fhir+json")


def resource_type_in(message: Message, context: StepContext, types: list[str]) -> bool:
    """True when the resource, or an entry of the Bundle, is of one of `types`."""
    try:
        document = json.loads(message.content)
    except (ValueError, UnicodeDecodeError):
        return False
    if not isinstance(document, dict):
        return False
    if document.get("resourceType") in types:
        return True
    entries = document.get("entry") if document.get("resourceType") == "Bundle" else None
    return isinstance(entries, list) and any(
        isinstance(e, dict) and isinstance(e.get("resource"), dict)
        and e["resource"].get("resourceType") in types for e in entries)


def chargeitem_to_dft(message: Message, context: StepContext, sending_application: str = "PLEXUS",
                      sending_facility: str = "", receiving_application: str = "",
                      receiving_facility: str = "", processing_id: str = "P") -> Message:
    """FHIR ChargeItem (or a Bundle of them) JSON -> HL7 v2.5.1 DFT^P03 (content type hl7v2)."""
    try:
        document = json.loads(message.content)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValidationError(f"not JSON: {exc}", location="body") from exc
    if not isinstance(document, dict):
        raise ValidationError("expected a JSON object (ChargeItem or Bundle)", location="body")
    control_id = message.correlation_id[:20] if message.correlation_id else None
    text = chargeitems_to_dft(document, sending_application=sending_application,
                              sending_facility=sending_facility,
                              receiving_application=receiving_application,
                              receiving_facility=receiving_facility, control_id=control_id,
                              timestamp=datetime.now().astimezone(), processing_id=processing_id)
    return message.replace(text, "hl7v2")
