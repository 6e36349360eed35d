"""The canonical document union and JSON helpers."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, TypeAdapter
from pydantic import ValidationError as PydanticValidationError

from engine.errors import ValidationError

from .acks import FunctionalAcknowledgment
from .catalog import PriceCatalog
from .finance import Invoice, Remittance
from .orders import OrderAcknowledgment, PurchaseOrder
from .shipping import ShipNotice

__all__ = ["DOCUMENT_TYPES", "Document", "dump_document", "load_document"]

Document = Annotated[
    PurchaseOrder | OrderAcknowledgment | ShipNotice | Invoice | Remittance | PriceCatalog
    | FunctionalAcknowledgment,
    Field(discriminator="doc_type"),
]
"""Any canonical supply-chain document, told apart by its `doc_type`."""

DOCUMENT_TYPES: dict[str, type] = {
    "purchase_order": PurchaseOrder,
    "order_acknowledgment": OrderAcknowledgment,
    "ship_notice": ShipNotice,
    "invoice": Invoice,
    "remittance": Remittance,
    "price_catalog": PriceCatalog,
    "functional_acknowledgment": FunctionalAcknowledgment,
}

_ADAPTER: TypeAdapter[Document] = TypeAdapter(Document)


def load_document(data: bytes | str) -> Document:
    """A canonical document from its JSON; ValidationError naming the first bad field."""
    try:
        return _ADAPTER.validate_json(data)
    except PydanticValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or None
        raise ValidationError(f"not a canonical document: {first['msg']} "
                              f"({exc.error_count()} error(s))", where) from exc


def dump_document(doc: Document) -> str:
    """The canonical JSON of a document (compact, decimals as strings, None fields omitted)."""
    return doc.model_dump_json(exclude_none=True)
