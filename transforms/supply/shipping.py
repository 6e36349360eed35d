"""Canonical ship notice (X12 856): the HL hierarchy flattened into orders -> packs -> items."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import Field, model_validator

from .models import (
    CanonicalModel,
    Code,
    DateRef,
    ItemId,
    LotInfo,
    Party,
    Quantity,
    Reference,
    SourceInfo,
    Text,
    check_named_dates,
)

__all__ = ["Carrier", "ShipNotice", "ShipmentItem", "ShipmentOrder", "ShipmentPack"]


class Carrier(CanonicalModel):
    """Who moves the goods and how to track them (X12 TD5 + REF BM/CN)."""

    code: Text | None = Field(None, description="Carrier id, usually the SCAC (TD503)")
    code_kind: Code | None = Field(None, description="What `code` is (TD502: 2 = SCAC)")
    transport_method: Code | None = Field(None, description="TD504: M motor, A air, U parcel...")
    routing: Text | None = Field(None, description="Carrier name or routing (TD505)")
    bill_of_lading: Text | None = Field(None, description="REF*BM")
    tracking_number: Text | None = Field(None, description="Carrier reference / PRO (REF*CN)")


class ShipmentItem(CanonicalModel):
    """One shipped item (X12 856 item level: LIN, SN1, PID, REF, DTM)."""

    line_number: Text | None = Field(None, description="Line number of the order (LIN01)")
    item_ids: list[ItemId] = Field(default_factory=list)
    description: Text | None = None
    shipped_quantity: Quantity | None = Field(None, description="SN102/SN103")
    ordered_quantity: Quantity | None = Field(None, description="SN105/SN106")
    lots: list[LotInfo] = Field(default_factory=list, description="Lots, serial numbers, expiry")
    references: list[Reference] = Field(default_factory=list)
    dates: list[DateRef] = Field(default_factory=list)


class ShipmentPack(CanonicalModel):
    """A pack or tare (pallet) and the items in it (X12 856 P / T level)."""

    level: Literal["pack", "tare"] = "pack"
    marks: list[Reference] = Field(default_factory=list, description="Marks and numbers (MAN: "
                                   "kind GM = SSCC-18, value = the label number)")
    items: list[ShipmentItem] = Field(default_factory=list)


class ShipmentOrder(CanonicalModel):
    """The part of a shipment that fills one purchase order (X12 856 O level)."""

    po_number: Text | None = Field(None, description="PRF01; None for items the notice does "
                                                     "not put under an order")
    release_number: Text | None = Field(None, description="PRF02")
    po_date: dt.date | None = Field(None, description="PRF04")
    references: list[Reference] = Field(default_factory=list)
    parties: list[Party] = Field(default_factory=list)
    packs: list[ShipmentPack] = Field(default_factory=list)
    items: list[ShipmentItem] = Field(default_factory=list, description="Items not in a pack")

    def all_items(self) -> list[ShipmentItem]:
        """Every item of the order: loose items first, then those of each pack."""
        return [*self.items, *(item for pack in self.packs for item in pack.items)]


class ShipNotice(CanonicalModel):
    """An advance ship notice (X12 856)."""

    doc_type: Literal["ship_notice"] = "ship_notice"
    source: SourceInfo | None = None
    shipment_id: Text | None = Field(None, description="Shipment identification (BSN02); "
                                                       "None only when the sender left it out")
    purpose: Code = Field("original", description="BSN01")
    notice_date: dt.date = Field(description="Date the notice was made (BSN03)")
    notice_time: Text | None = Field(None, description="BSN04, HHMM[SS]")
    structure: Code | None = Field(None, description="Hierarchical structure code (BSN05)")
    ship_date: dt.date | None = Field(None, description="Shipped date (DTM*011)")
    delivery_date: dt.date | None = Field(None, description="Estimated delivery (DTM*017)")
    dates: list[DateRef] = Field(default_factory=list)
    carrier: Carrier | None = None
    package_count: int | None = Field(None, description="Lading quantity (TD102)")
    package_code: Code | None = Field(None, description="Packaging code (TD101, e.g. CTN25)")
    weight: Quantity | None = Field(None, description="Shipment weight (TD107/TD108)")
    references: list[Reference] = Field(default_factory=list)
    parties: list[Party] = Field(default_factory=list)
    orders: list[ShipmentOrder] = Field(default_factory=list)

    @model_validator(mode="after")
    def _dates(self) -> ShipNotice:
        """shipped / estimated_delivery dates in `dates` need their own field set."""
        check_named_dates(self.dates, shipped=self.ship_date,
                          estimated_delivery=self.delivery_date)
        return self

    def all_items(self) -> list[ShipmentItem]:
        """Every shipped item of the notice, order by order."""
        return [item for order in self.orders for item in order.all_items()]
