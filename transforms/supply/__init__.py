"""Canonical supply-chain models shared by the X12, HL7 v2, FHIR and ERP mappings."""

from .acks import AckedSet, AckError, FunctionalAcknowledgment
from .catalog import CatalogItem, CatalogPackaging, CatalogPrice, PriceCatalog
from .documents import DOCUMENT_TYPES, Document, dump_document, load_document
from .finance import (
    Adjustment,
    BankAccount,
    Invoice,
    InvoiceLine,
    LinePrice,
    Remittance,
    RemittanceLine,
)
from .models import (
    Address,
    AllowanceCharge,
    Amount,
    Contact,
    DateRef,
    ItemId,
    ItemLine,
    LotInfo,
    Money,
    Note,
    Party,
    PartyId,
    PaymentTerms,
    Quantity,
    Reference,
    SourceInfo,
    Tax,
)
from .orders import (
    AckLine,
    LineStatus,
    OrderAcknowledgment,
    Pack,
    PurchaseOrder,
    PurchaseOrderLine,
    Schedule,
)
from .shipping import Carrier, ShipmentItem, ShipmentOrder, ShipmentPack, ShipNotice

__all__ = [
    "DOCUMENT_TYPES", "AckError", "AckLine", "AckedSet", "Address", "Adjustment",
    "AllowanceCharge", "Amount", "BankAccount", "Carrier", "CatalogItem", "CatalogPackaging",
    "CatalogPrice", "Contact", "DateRef", "Document", "FunctionalAcknowledgment", "Invoice",
    "InvoiceLine", "ItemId", "ItemLine", "LinePrice", "LineStatus", "LotInfo", "Money", "Note",
    "OrderAcknowledgment", "Pack", "Party", "PartyId", "PaymentTerms", "PriceCatalog",
    "PurchaseOrder", "PurchaseOrderLine", "Quantity", "Reference", "Remittance", "RemittanceLine",
    "Schedule", "ShipNotice", "ShipmentItem", "ShipmentOrder", "ShipmentPack", "SourceInfo", "Tax",
    "dump_document", "load_document",
]
