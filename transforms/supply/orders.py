"""Canonical purchase orders (X12 850) and order acknowledgments (X12 855)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Literal

from pydantic import Field, model_validator

from .models import (
    AllowanceCharge,
    Amount,
    CanonicalModel,
    Code,
    Contact,
    DateRef,
    ItemId,
    ItemLine,
    Note,
    Party,
    PaymentTerms,
    Quantity,
    Reference,
    SourceInfo,
    Text,
    check_named_dates,
)

__all__ = [
    "ACK_STATUS_CODES",
    "AckLine",
    "LineStatus",
    "LineStatusKind",
    "OrderAcknowledgment",
    "Pack",
    "PurchaseOrder",
    "PurchaseOrderLine",
    "Schedule",
]

LineStatusKind = Literal["accepted", "backordered", "rejected", "changed", "on_hold", "other"]

# X12 668 line item status codes -> canonical status.
ACK_STATUS_CODES: dict[str, LineStatusKind] = {
    "IA": "accepted", "AC": "accepted", "AR": "accepted", "IE": "accepted", "SP": "accepted",
    "IB": "backordered", "BP": "backordered",
    "IR": "rejected", "ID": "rejected", "R1": "rejected", "R2": "rejected", "R3": "rejected",
    "R4": "rejected",
    "IC": "changed", "IP": "changed", "IQ": "changed", "IS": "changed", "DR": "changed",
    "IH": "on_hold", "IF": "on_hold", "IW": "on_hold",
}
# The code written when a status has no code of its own.
DEFAULT_STATUS_CODES: dict[str, str] = {
    "accepted": "IA", "backordered": "IB", "rejected": "IR", "changed": "IC", "on_hold": "IH",
}


class Pack(CanonicalModel):
    """Packaging of an ordered item (X12 PO4): `pack` inner units of `size` `unit` each."""

    pack: int | None = Field(None, description="Number of inner packs per outer pack (PO401)")
    size: Decimal | None = Field(None, description="Size of each inner pack (PO402)")
    unit: Code | None = Field(None, description="Unit of the size (PO403)")

    @model_validator(mode="after")
    def _has_content(self) -> Pack:
        """A pack must say something."""
        if self.pack is None and self.size is None and self.unit is None:
            raise ValueError("a pack needs a pack count, a size or a unit")
        return self


class PurchaseOrderLine(ItemLine):
    """One ordered item (X12 PO1 loop)."""

    pack: Pack | None = None
    requested_delivery_date: dt.date | None = Field(None, description="DTM*002")
    dates: list[DateRef] = Field(default_factory=list, description="Other line dates")
    references: list[Reference] = Field(default_factory=list)
    allowances_charges: list[AllowanceCharge] = Field(default_factory=list)
    notes: list[Note] = Field(default_factory=list)
    parties: list[Party] = Field(default_factory=list, description="Line-level parties "
                                                                   "(e.g. a per-line ship-to)")

    @model_validator(mode="after")
    def _dates(self) -> PurchaseOrderLine:
        """A delivery_requested date in `dates` needs `requested_delivery_date` set."""
        check_named_dates(self.dates, delivery_requested=self.requested_delivery_date)
        return self


class PurchaseOrder(CanonicalModel):
    """A purchase order (X12 850)."""

    doc_type: Literal["purchase_order"] = "purchase_order"
    source: SourceInfo | None = Field(None, description="Envelope of the inbound message")
    po_number: Text = Field(description="Purchase order number (BEG03)")
    order_date: dt.date = Field(description="Purchase order date (BEG05)")
    purpose: Code = Field("original", description="original, cancel, change, replace, "
                                                  "confirmation, duplicate... (BEG01)")
    order_type: Code = Field("stand_alone", description="stand_alone, blanket, release, "
                                                        "new_order, dropship... (BEG02)")
    release_number: Text | None = Field(None, description="BEG04")
    contract_number: Text | None = Field(None, description="BEG06")
    currency: Code | None = Field(None, description="Currency the buyer states (CUR02); "
                                                    "amounts default to USD when absent")
    references: list[Reference] = Field(default_factory=list)
    contacts: list[Contact] = Field(default_factory=list)
    terms: list[PaymentTerms] = Field(default_factory=list)
    requested_delivery_date: dt.date | None = Field(None, description="DTM*002")
    dates: list[DateRef] = Field(default_factory=list, description="Other header dates")
    allowances_charges: list[AllowanceCharge] = Field(default_factory=list)
    notes: list[Note] = Field(default_factory=list)
    parties: list[Party] = Field(default_factory=list)
    lines: list[PurchaseOrderLine] = Field(default_factory=list)
    amounts: list[Amount] = Field(default_factory=list, description="Stated totals (AMT)")

    @model_validator(mode="after")
    def _dates(self) -> PurchaseOrder:
        """A delivery_requested date in `dates` needs `requested_delivery_date` set."""
        check_named_dates(self.dates, delivery_requested=self.requested_delivery_date)
        return self

    def party(self, role: str) -> Party | None:
        """The first party with `role` (e.g. "ship_to"), or None."""
        return next((p for p in self.parties if p.role == role), None)


class LineStatus(CanonicalModel):
    """The seller's answer for (part of) a line (X12 ACK)."""

    status: LineStatusKind = Field(description="accepted, backordered, rejected, changed, "
                                               "on_hold or other")
    code: Code | None = Field(None, description="The sender's status code (X12 668: IA, IB, IR, "
                                                "IC...); filled in from `status` when absent")
    quantity: Quantity | None = Field(None, description="Quantity this status applies to")
    date_kind: Code | None = Field(None, description="What `date` is (ACK04 qualifier)")
    date: dt.date | None = Field(None, description="Scheduled date (ACK05)")
    item_ids: list[ItemId] = Field(default_factory=list, description="Item ids (e.g. a "
                                                                     "substitute) ACK07..")

    @model_validator(mode="after")
    def _code_matches(self) -> LineStatus:
        """Fill `code` from `status`, or check that a known code agrees with `status`."""
        if self.code is None:
            if self.status == "other":
                raise ValueError("status 'other' needs the sender's code")
            object.__setattr__(self, "code", DEFAULT_STATUS_CODES[self.status])
        else:
            expected = ACK_STATUS_CODES.get(self.code, "other")
            if expected != self.status:
                raise ValueError(f"status code {self.code!r} means {expected!r}, "
                                 f"not {self.status!r}")
        return self


class Schedule(CanonicalModel):
    """A delivery or ship schedule entry of a line (X12 SCH)."""

    quantity: Quantity
    date_kind: Code = Field(description="What `date` is (SCH05 qualifier, e.g. 002 delivery)")
    date: dt.date


class AckLine(ItemLine):
    """One acknowledged line (X12 855 PO1 loop)."""

    statuses: list[LineStatus] = Field(default_factory=list, description="ACK segments")
    schedules: list[Schedule] = Field(default_factory=list, description="SCH segments")
    dates: list[DateRef] = Field(default_factory=list)
    references: list[Reference] = Field(default_factory=list)
    notes: list[Note] = Field(default_factory=list)
    parties: list[Party] = Field(default_factory=list)

    @property
    def status(self) -> LineStatusKind | None:
        """The line's status: that of its first ACK, None when the seller gave none."""
        return self.statuses[0].status if self.statuses else None


class OrderAcknowledgment(CanonicalModel):
    """A seller's acknowledgment of a purchase order (X12 855)."""

    doc_type: Literal["order_acknowledgment"] = "order_acknowledgment"
    source: SourceInfo | None = None
    po_number: Text = Field(description="The acknowledged purchase order number (BAK03)")
    po_date: dt.date = Field(description="Date of that purchase order (BAK04)")
    purpose: Code = Field("original", description="BAK01")
    ack_type: Code = Field(description="accepted_with_changes, accepted_no_changes, "
                                       "rejected_with_detail... or the BAK02 code as sent")
    release_number: Text | None = Field(None, description="BAK05")
    contract_number: Text | None = Field(None, description="BAK07")
    seller_order_number: Text | None = Field(None, description="BAK08")
    ack_date: dt.date | None = Field(None, description="Acknowledgment date (BAK09)")
    currency: Code | None = None
    references: list[Reference] = Field(default_factory=list)
    contacts: list[Contact] = Field(default_factory=list)
    dates: list[DateRef] = Field(default_factory=list)
    notes: list[Note] = Field(default_factory=list)
    parties: list[Party] = Field(default_factory=list)
    lines: list[AckLine] = Field(default_factory=list)
    amounts: list[Amount] = Field(default_factory=list)
