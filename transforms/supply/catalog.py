"""Canonical price/sales catalog (X12 832)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Literal

from pydantic import Field, model_validator

from .models import (
    CanonicalModel,
    Code,
    Contact,
    DateRef,
    ItemId,
    Money,
    Party,
    Quantity,
    Reference,
    SourceInfo,
    Text,
    check_named_dates,
)

__all__ = ["CatalogItem", "CatalogPackaging", "CatalogPrice", "PriceCatalog"]


class CatalogPrice(CanonicalModel):
    """One price of a catalog item (X12 CTP); a `quantity` makes it a price break."""

    kind: Code = Field(description="Price identifier code as sent (CTP02: CAT catalog, SLP "
                                   "suggested list, CON contract, C01..)")
    class_of_trade: Code | None = Field(None, description="CTP01 (DI distributor, BG buying "
                                                          "group...)")
    unit_price: Money
    quantity: Decimal | None = Field(None, description="Quantity the price applies from / to "
                                                       "(CTP04): the price break")
    unit: Code | None = Field(None, description="Unit of measure of the price (CTP05)")
    effective_date: dt.date | None = Field(None, description="DTM*007 after the CTP")


class CatalogPackaging(CanonicalModel):
    """A packaging level of a catalog item with its own ids (X12 SLN)."""

    quantity: Quantity = Field(description="How many `unit` the level holds")
    item_ids: list[ItemId] = Field(default_factory=list)


class CatalogItem(CanonicalModel):
    """One catalog item (X12 LIN loop)."""

    line_number: Text | None = Field(None, description="LIN01")
    item_ids: list[ItemId] = Field(default_factory=list)
    descriptions: list[Text] = Field(default_factory=list, description="PID05 texts, in order")
    prices: list[CatalogPrice] = Field(default_factory=list)
    packaging: list[CatalogPackaging] = Field(default_factory=list)
    references: list[Reference] = Field(default_factory=list)
    dates: list[DateRef] = Field(default_factory=list)

    @property
    def description(self) -> str | None:
        """The first description, or None."""
        return self.descriptions[0] if self.descriptions else None

    @property
    def unit(self) -> str | None:
        """The unit of measure the item is priced in (that of its first price with one)."""
        return next((p.unit for p in self.prices if p.unit), None)


class PriceCatalog(CanonicalModel):
    """A price/sales catalog (X12 832)."""

    doc_type: Literal["price_catalog"] = "price_catalog"
    source: SourceInfo | None = None
    catalog_id: Text = Field(description="Catalog number (BCT02)")
    catalog_purpose: Code = Field(description="BCT01 as sent (PC price catalog, RC resale...)")
    version: Text | None = Field(None, description="BCT03")
    revision: Text | None = Field(None, description="BCT04")
    description: Text | None = Field(None, description="BCT09")
    purpose: Code | None = Field(None, description="Transaction purpose (BCT10: original...)")
    effective_date: dt.date | None = Field(None, description="DTM*007")
    expiration_date: dt.date | None = Field(None, description="DTM*036")
    dates: list[DateRef] = Field(default_factory=list)
    currency: Code | None = None
    references: list[Reference] = Field(default_factory=list)
    contacts: list[Contact] = Field(default_factory=list)
    parties: list[Party] = Field(default_factory=list)
    items: list[CatalogItem] = Field(default_factory=list)

    @model_validator(mode="after")
    def _dates(self) -> PriceCatalog:
        """effective / expiration dates in `dates` need their own field set."""
        check_named_dates(self.dates, effective=self.effective_date,
                          expiration=self.expiration_date)
        return self
