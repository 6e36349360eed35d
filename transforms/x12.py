"""X12 channel steps: interchange -> canonical JSON messages, canonical JSON -> interchange.

    transforms:
      - transforms.x12:to_canonical            # one JSON message per 850/855/856/810/820/832
    destinations:
      - name: supplier
        transforms:
          - use: transforms.x12:from_canonical  # PurchaseOrder -> 850, Remittance -> 820...
            with: {sender_qualifier: ZZ, sender_id: GOODHEALTH,
                   receiver_qualifier: ZZ, receiver_id: GMDSUPPLY}

Control numbers of outbound interchanges: ISA13 must never repeat for a trading partner, so in
production they must come from a persistent per-partner counter owned by the X12 destination.
Until that counter exists, `from_canonical` takes them from its arguments, then from the
message metadata (`x12_control_numbers`: {"interchange": n, "group": n, "transaction_set": n}),
and only as a last resort derives them from the message id (or, without one, from a hash of the
correlation id) - unique per store, not per partner, and not safe across store resets.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from engine.errors import TransformError
from engine.message import Message
from engine.steps import StepContext
from protocols.x12 import Delimiters, parse
from transforms.supply.documents import dump_document, load_document
from transforms.x12_canonical import OUTBOUND_SETS, ControlNumbers, from_x12, to_x12

__all__ = ["from_canonical", "to_canonical"]

_DOC_NUMBER = {"purchase_order": "po_number", "order_acknowledgment": "po_number",
               "ship_notice": "shipment_id", "invoice": "invoice_number",
               "remittance": "payment_id", "price_catalog": "catalog_id",
               "functional_acknowledgment": "group_control_number"}


def to_canonical(message: Message, context: StepContext) -> list[Message]:
    """One canonical JSON message per transaction set of the X12 interchange in `message`.

    Each gets correlation id ISA13-GS06-ST02 (the sender's control numbers) and metadata with
    the set id, document type and number, partner ids and control numbers. Raises ParseError
    when the content is not X12 and TransformError (located, e.g. ``ST02=0001 PO1[3].PO102``)
    when a set cannot be mapped.
    """
    out: list[Message] = []
    for ic in parse(message.content):
        for group in ic.groups:
            for ts in group.sets:
                doc = from_x12(ts, group, ic)
                src = doc.source
                assert src is not None
                isa13 = src.interchange_control_number or ""
                gs06 = src.group_control_number or ""
                meta: dict[str, Any] = {
                    "set_id": src.set_id, "document_type": doc.doc_type,
                    "document_number": getattr(doc, _DOC_NUMBER[doc.doc_type]),
                    "sender_qualifier": src.sender_qualifier, "sender_id": src.sender_id,
                    "receiver_qualifier": src.receiver_qualifier,
                    "receiver_id": src.receiver_id, "interchange_control_number": isa13,
                    "group_control_number": gs06, "set_control_number": src.set_control_number,
                }
                result = message.replace(dump_document(doc), "json")
                result.correlation_id = f"{isa13}-{gs06}-{src.set_control_number}"
                result.metadata.update(meta)
                out.append(result)
    if not out:
        raise TransformError("the interchange holds no transaction set", "ST")
    return out


def _derived_number(message: Message) -> int:
    """A stand-in control number (1..999999999) from the message id or correlation id."""
    if message.message_id is not None:
        return message.message_id % 999_999_999 + 1
    digest = hashlib.sha256(message.correlation_id.encode()).digest()
    return int.from_bytes(digest[:8], "big") % 999_999_999 + 1


def _control_numbers(message: Message, interchange: int | None, group: int | None,
                     transaction_set: int | None) -> ControlNumbers:
    """Explicit arguments, else metadata `x12_control_numbers`, else derived numbers."""
    meta = message.metadata.get("x12_control_numbers") or {}
    base = None

    def pick(value: int | None, key: str, default: int | None = None) -> int:
        nonlocal base
        if value is not None:
            return int(value)
        if key in meta:
            return int(meta[key])
        if default is not None:
            return default
        if base is None:
            base = _derived_number(message)
        return base

    return ControlNumbers(pick(interchange, "interchange"), pick(group, "group"),
                          pick(transaction_set, "transaction_set", 1))


def from_canonical(message: Message, context: StepContext, sender_qualifier: str,
                   sender_id: str, receiver_qualifier: str, receiver_id: str, *,
                   interchange_control_number: int | None = None,
                   group_control_number: int | None = None,
                   set_control_number: int | None = None, usage: str = "P",
                   version: str = "004010", application_sender: str | None = None,
                   application_receiver: str | None = None,
                   delimiters: dict[str, str] | None = None) -> Message:
    """The X12 interchange (content type "x12") for the canonical JSON document in `message`.

    PurchaseOrder -> 850, Remittance -> 820, OrderAcknowledgment -> 855, Invoice -> 810,
    ShipNotice -> 856. `delimiters` is optional: {"element": "*", "component": ":",
    "repetition": "^", "terminator": "~", "suffix": "\\n"}. Control numbers: see the module
    docstring. Raises ValidationError for JSON that is not a canonical document and
    TransformError when the document cannot be written as X12.
    """
    doc = load_document(message.content)
    numbers = _control_numbers(message, interchange_control_number, group_control_number,
                               set_control_number)
    try:
        d = Delimiters(**delimiters) if delimiters else None
        text = to_x12(doc, (sender_qualifier, sender_id), (receiver_qualifier, receiver_id),
                      numbers, d, when=datetime.now(UTC), usage=usage, version=version,
                      application_sender=application_sender,
                      application_receiver=application_receiver)
    except (TypeError, ValueError) as exc:
        raise TransformError(f"cannot write {doc.doc_type} as X12 "
                             f"(writable: {', '.join(OUTBOUND_SETS)}): {exc}",
                             doc.doc_type) from exc
    result = message.replace(text, "x12")
    result.metadata.update({
        "x12_control_numbers": numbers._asdict(), "document_type": doc.doc_type,
        "receiver_qualifier": receiver_qualifier, "receiver_id": receiver_id,
    })
    return result
