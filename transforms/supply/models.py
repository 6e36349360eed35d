"""Canonical supply-chain building blocks: item ids, quantities, money, parties, references.

These models are protocol-neutral: X12, HL7 v2, FHIR and ERP payloads map to and from them.
Every model forbids unknown fields, strips surrounding whitespace from strings and survives a
JSON round trip (`model_dump_json` / `model_validate_json`) without loss; decimals are serialised
as strings so no precision is lost.

Coded fields (an item id's `kind`, a party's `role`, a date's `kind`...) hold a lower-case word
from the vocabularies below when the value is one we know, and the sender's own code (for X12:
the qualifier as sent, e.g. "B6") otherwise, so nothing is dropped for want of a word.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

__all__ = [
    "ADDRESS_FIELDS",
    "ITEM_ID_KINDS",
    "PARTY_ID_KINDS",
    "PARTY_ROLES",
    "Address",
    "AllowanceCharge",
    "Amount",
    "CanonicalModel",
    "Code",
    "Contact",
    "DateRef",
    "ItemId",
    "LotInfo",
    "Money",
    "Note",
    "Party",
    "PartyId",
    "PaymentTerms",
    "Quantity",
    "Reference",
    "SourceInfo",
    "Tax",
    "Text",
    "check_named_dates",
]

# Vocabularies (words used for codes we know; unknown codes pass through as sent).
ITEM_ID_KINDS = (
    "gtin", "ean", "upc", "upc_case", "hibcc", "ndc", "isbn", "sku", "vendor_part",
    "vendor_item", "vendor_catalog", "buyer_part", "buyer_item", "buyer_catalog",
    "manufacturer_part", "model_number", "lot", "serial", "part_description",
)
PARTY_ROLES = (
    "buyer", "seller", "ship_to", "ship_from", "bill_to", "remit_to", "payer", "payee",
    "vendor", "supplier", "sold_to", "ordered_by", "manufacturer", "distributor", "carrier",
    "invoice_issuer", "buying_group", "remittance_receiver",
)
PARTY_ID_KINDS = (
    "duns", "duns4", "gln", "buyer_assigned", "seller_assigned", "hin", "san", "dea", "ein",
    "mutually_defined",
)
ADDRESS_FIELDS = ("lines", "city", "state", "postal_code", "country")

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
"""A non-empty string, surrounding whitespace removed."""
Code = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]
"""A vocabulary word or the sender's own code."""
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]


class CanonicalModel(BaseModel):
    """Base of every canonical model: strict about unknown fields, whitespace-stripped strings."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ItemId(CanonicalModel):
    """One identifier of a product (GTIN, vendor part number, NDC...)."""

    kind: Code = Field(description="What the id is: " + ", ".join(ITEM_ID_KINDS)
                       + "; or the sender's qualifier (X12 235) when it has no word here")
    value: Text = Field(description="The identifier as sent")


class Quantity(CanonicalModel):
    """A number of something in a unit of measure."""

    value: Decimal = Field(description="The quantity (exact decimal)")
    unit: Code | None = Field(None, description="Unit of measure code as sent (X12 355: EA, CA, "
                                                "BX, LB...); None when the sender gave none")


class Money(CanonicalModel):
    """An amount of money in a currency."""

    amount: Decimal = Field(description="The amount (exact decimal, may be negative)")
    currency: Currency = Field("USD", description="ISO 4217 currency code")


class Amount(CanonicalModel):
    """A labelled monetary amount (X12 AMT: total, line items total, amount payable...)."""

    kind: Code = Field(description="What the amount is (word or the sender's AMT01 qualifier)")
    value: Money = Field(description="The amount")


class Address(CanonicalModel):
    """A postal address (X12 N3/N4)."""

    lines: list[Text] = Field(default_factory=list, description="Street lines, in order")
    city: Text | None = None
    state: Text | None = Field(None, description="State or province code")
    postal_code: Text | None = None
    country: Text | None = Field(None, description="Country code as sent (ISO 3166 usually)")

    @model_validator(mode="after")
    def _not_empty(self) -> Address:
        """An address must say something."""
        if not (self.lines or self.city or self.state or self.postal_code or self.country):
            raise ValueError("an address needs at least one of " + ", ".join(ADDRESS_FIELDS))
        return self


class PartyId(CanonicalModel):
    """An identifier of a trading party (DUNS, GLN, assigned by the buyer...)."""

    kind: Code = Field(description="Id kind: " + ", ".join(PARTY_ID_KINDS)
                       + "; or the sender's qualifier (X12 66) when it has no word here")
    value: Text


class Contact(CanonicalModel):
    """A named contact with phone, email and fax (X12 PER)."""

    function: Code | None = Field(None, description="Contact function code as sent "
                                                    "(X12 366: BD buyer, IC information...)")
    name: Text | None = None
    phone: Text | None = None
    email: Text | None = None
    fax: Text | None = None


class ItemLine(CanonicalModel):
    """The baseline item data every order, acknowledgment and invoice line has (X12 PO1/IT1
    elements 01-25 and PID05)."""

    line_number: Text | None = Field(None, description="Line number (PO101 / IT101)")
    quantity: Quantity = Field(description="Quantity and its unit (PO102/PO103, IT102/IT103)")
    unit_price: Money | None = Field(None, description="Unit price (PO104 / IT104)")
    price_basis: Code | None = Field(None, description="Basis of unit price code (PO105 / "
                                     "IT105: PE per each, CA per case, CT contract...)")
    item_ids: list[ItemId] = Field(default_factory=list,
                                   description="Qualifier/id pairs (PO106..PO125, IT106..)")
    description: Text | None = Field(None, description="Free-form description (PID05)")

    @property
    def amount(self) -> Money | None:
        """Extended amount: quantity x unit price (None without a price)."""
        if self.unit_price is None:
            return None
        return Money(amount=self.quantity.value * self.unit_price.amount,
                     currency=self.unit_price.currency)


class Reference(CanonicalModel):
    """A qualified reference number (X12 REF)."""

    kind: Code = Field(description="Reference qualifier as sent (X12 128: PO, IA, VR, BM...)")
    value: Text | None = Field(None, description="The reference number")
    description: Text | None = Field(None, description="Free-form description (REF03)")

    @model_validator(mode="after")
    def _has_content(self) -> Reference:
        """A reference carries a value or a description."""
        if self.value is None and self.description is None:
            raise ValueError("a reference needs a value or a description")
        return self


class DateRef(CanonicalModel):
    """A qualified date, optionally with a time (X12 DTM)."""

    kind: Code = Field(description="What the date is (word such as delivery_requested, "
                                   "shipped, effective; or the sender's DTM01 qualifier)")
    date: dt.date
    time: Annotated[str, StringConstraints(pattern=r"^\d{4}(\d{2}(\d{1,2})?)?$")] | None = Field(
        None, description="Time of day as sent, HHMM[SS[d[d]]]")


def check_named_dates(dates: list[DateRef], **named: dt.date | None) -> None:
    """ValueError when `dates` holds a date of a kind that has its own field left empty.

    Documents give some dates a field of their own (e.g. `requested_delivery_date` for kind
    delivery_requested); `dates` may repeat such a kind (a second date, or the date with its
    time) only when the field is set, so every document has one canonical form.
    """
    for kind, value in named.items():
        if value is None and any(d.kind == kind for d in dates):
            raise ValueError(f"a {kind} date belongs in its own field, which is empty")


class Note(CanonicalModel):
    """A referenced free-form note (X12 N9 loop: N9 + MSG lines)."""

    kind: Code = Field(description="Reference qualifier of the note (N901, e.g. L1, ZZ)")
    reference: Text | None = Field(None, description="Reference number or title (N902)")
    lines: list[Text] = Field(default_factory=list, description="Message text lines (MSG01)")


class Party(CanonicalModel):
    """A trading party with its role, ids, address and contacts (X12 N1 loop)."""

    role: Code = Field(description="Role: " + ", ".join(PARTY_ROLES)
                       + "; or the sender's entity code (X12 98) when it has no word here")
    name: Text | None = None
    ids: list[PartyId] = Field(default_factory=list, description="Identifiers of the party")
    additional_names: list[Text] = Field(default_factory=list, description="X12 N2 names")
    address: Address | None = None
    contacts: list[Contact] = Field(default_factory=list)
    references: list[Reference] = Field(default_factory=list)


class LotInfo(CanonicalModel):
    """Lot, serial number and expiry of shipped or used goods (traceability)."""

    lot: Text | None = Field(None, description="Lot or batch number")
    serial: Text | None = Field(None, description="Serial number")
    expiry_date: dt.date | None = Field(None, description="Expiration date")

    @model_validator(mode="after")
    def _has_content(self) -> LotInfo:
        """Lot info must say something."""
        if self.lot is None and self.serial is None and self.expiry_date is None:
            raise ValueError("lot info needs a lot, a serial or an expiry date")
        return self


class AllowanceCharge(CanonicalModel):
    """An allowance (discount) or charge (freight, tax, handling...) (X12 SAC)."""

    indicator: Code = Field(description="allowance, charge, no_charge, promotion, or the SAC01 "
                                        "code as sent")
    code: Code | None = Field(None, description="Allowance/charge code as sent (X12 1300: C310 "
                                                "discount, D240 freight, H850 tax...)")
    amount: Money | None = None
    percent: Decimal | None = Field(None, description="Percentage (SAC07)")
    percent_basis: Code | None = Field(None, description="What the percentage applies to (SAC06)")
    handling: Code | None = Field(None, description="Method of handling (SAC12: 02 off invoice, "
                                                    "06 charge to be paid by customer...)")
    reference: Text | None = Field(None, description="Agreement or promotion number (SAC13)")
    description: Text | None = Field(None, description="Free-form description (SAC15)")


class Tax(CanonicalModel):
    """A tax amount or rate (X12 TXI)."""

    kind: Code = Field(description="Tax type code as sent (X12 963: ST state, FD federal, "
                                   "CA city, GS GST, VA VAT...)")
    amount: Money | None = None
    percent: Decimal | None = None
    jurisdiction_kind: Code | None = Field(None, description="Jurisdiction code qualifier")
    jurisdiction: Text | None = Field(None, description="Jurisdiction code (e.g. state)")
    basis_amount: Decimal | None = Field(None, description="Amount the percentage applies to")


class PaymentTerms(CanonicalModel):
    """Terms of sale / payment (X12 ITD)."""

    kind: Code | None = Field(None, description="Terms type code as sent (X12 336: 01 basic, "
                                                "05 discount not applicable, 14 agreed...)")
    basis_date: Code | None = Field(None, description="Terms basis date code (X12 333)")
    discount_percent: Decimal | None = None
    discount_due_date: dt.date | None = None
    discount_days: int | None = None
    net_due_date: dt.date | None = None
    net_days: int | None = None
    discount_amount: Money | None = None
    description: Text | None = None


class SourceInfo(CanonicalModel):
    """Where a canonical document came from: envelope ids and control numbers."""

    set_id: Text = Field(description="Transaction set id (ST01: 850, 810...)")
    set_control_number: Text = Field(description="ST02")
    group_control_number: Text | None = Field(None, description="GS06")
    functional_id: Text | None = Field(None, description="GS01 (PO, IN, SH...)")
    version: Text | None = Field(None, description="GS08 (004010...)")
    application_sender: Text | None = Field(None, description="GS02")
    application_receiver: Text | None = Field(None, description="GS03")
    interchange_control_number: Text | None = Field(None, description="ISA13")
    sender_qualifier: Text | None = Field(None, description="ISA05")
    sender_id: Text | None = Field(None, description="ISA06")
    receiver_qualifier: Text | None = Field(None, description="ISA07")
    receiver_id: Text | None = Field(None, description="ISA08")
    warnings: list[Text] = Field(default_factory=list, description="Inconsistencies found while "
                                 "mapping that did not stop it (e.g. CTT count differs)")
