"""Canonical invoices (X12 810) and remittance advice (X12 820)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Literal

from pydantic import Field

from .models import (
    AllowanceCharge,
    Amount,
    CanonicalModel,
    Code,
    Contact,
    DateRef,
    ItemLine,
    Money,
    Note,
    Party,
    PaymentTerms,
    Reference,
    SourceInfo,
    Tax,
    Text,
)

__all__ = [
    "Adjustment",
    "BankAccount",
    "Invoice",
    "InvoiceLine",
    "LinePrice",
    "Remittance",
    "RemittanceLine",
]


class LinePrice(CanonicalModel):
    """An additional price of an invoice line (X12 CTP: e.g. the retail unit cost)."""

    kind: Code = Field(description="Price identifier code as sent (CTP02: UCP, CAT, RES...)")
    unit_price: Money
    quantity: Decimal | None = Field(None, description="Quantity the price is for (CTP04)")
    unit: Code | None = Field(None, description="Unit of that quantity (CTP05)")


class InvoiceLine(ItemLine):
    """One invoiced item (X12 IT1 loop)."""

    prices: list[LinePrice] = Field(default_factory=list)
    allowances_charges: list[AllowanceCharge] = Field(default_factory=list)
    taxes: list[Tax] = Field(default_factory=list)
    references: list[Reference] = Field(default_factory=list)
    dates: list[DateRef] = Field(default_factory=list)
    parties: list[Party] = Field(default_factory=list)


class Invoice(CanonicalModel):
    """A supplier invoice (X12 810)."""

    doc_type: Literal["invoice"] = "invoice"
    source: SourceInfo | None = None
    invoice_number: Text = Field(description="BIG02")
    invoice_date: dt.date = Field(description="BIG01")
    po_number: Text | None = Field(None, description="BIG04")
    po_date: dt.date | None = Field(None, description="BIG03")
    release_number: Text | None = Field(None, description="BIG05")
    transaction_type: Code | None = Field(None, description="debit_invoice, credit_memo, "
                                          "debit_memo... or the BIG07 code as sent")
    purpose: Code | None = Field(None, description="BIG08 (original, ...)")
    currency: Code | None = None
    references: list[Reference] = Field(default_factory=list)
    contacts: list[Contact] = Field(default_factory=list)
    terms: list[PaymentTerms] = Field(default_factory=list)
    dates: list[DateRef] = Field(default_factory=list)
    notes: list[Note] = Field(default_factory=list)
    parties: list[Party] = Field(default_factory=list)
    lines: list[InvoiceLine] = Field(default_factory=list)
    total: Money = Field(description="Total invoice amount (TDS01, implied 2 decimals)")
    amount_subject_to_discount: Money | None = Field(None, description="TDS02")
    discounted_amount_due: Money | None = Field(None, description="TDS03")
    terms_discount_amount: Money | None = Field(None, description="TDS04")
    allowances_charges: list[AllowanceCharge] = Field(default_factory=list)
    taxes: list[Tax] = Field(default_factory=list)
    amounts: list[Amount] = Field(default_factory=list, description="Stated amounts (AMT)")


class BankAccount(CanonicalModel):
    """A bank account of a payment (X12 BPR DFI id + account)."""

    routing_kind: Code | None = Field(None, description="DFI id qualifier (01 = ABA routing)")
    routing_number: Text | None = None
    account_kind: Code | None = Field(None, description="DA demand deposit, SG savings...")
    account_number: Text | None = None


class Adjustment(CanonicalModel):
    """An adjustment to a payment (X12 ADX)."""

    amount: Money
    reason: Code | None = Field(None, description="Adjustment reason code as sent (ADX02)")
    reference_kind: Code | None = Field(None, description="ADX03")
    reference: Text | None = Field(None, description="ADX04")
    entity_number: int | None = Field(None, description="ENT01 of the entity it belongs to "
                                                        "(remittance-level adjustments)")
    references: list[Reference] = Field(default_factory=list)
    dates: list[DateRef] = Field(default_factory=list)


class RemittanceLine(CanonicalModel):
    """One paid (or credited) document (X12 RMR loop)."""

    entity_number: int | None = Field(None, description="ENT01 of the entity it belongs to")
    document_kind: Code = Field("invoice", description="invoice, purchase_order, credit_memo... "
                                                       "or the RMR01 code as sent")
    document_number: Text = Field(description="Invoice (or other document) number (RMR02)")
    payment_action: Code | None = Field(None, description="RMR03 as sent (PO, PI...)")
    amount_paid: Money = Field(description="RMR04")
    invoice_amount: Money | None = Field(None, description="Amount of the invoice (RMR05)")
    discount_amount: Money | None = Field(None, description="Discount taken (RMR06)")
    adjustments: list[Adjustment] = Field(default_factory=list)
    references: list[Reference] = Field(default_factory=list)
    dates: list[DateRef] = Field(default_factory=list)
    notes: list[Text] = Field(default_factory=list, description="NTE02 texts")


class Remittance(CanonicalModel):
    """A payment order / remittance advice (X12 820)."""

    doc_type: Literal["remittance"] = "remittance"
    source: SourceInfo | None = None
    payment_id: Text = Field(description="Trace number: check or EFT trace (TRN02)")
    trace_kind: Code = Field("1", description="TRN01 (1 current transaction trace numbers)")
    originator_id: Text | None = Field(None, description="Originating company id (TRN03)")
    handling: Code = Field(description="payment_with_remittance, remittance_only, "
                                       "payment_only... or the BPR01 code as sent")
    payment_amount: Money = Field(description="Total payment (BPR02)")
    credit_debit: Literal["C", "D"] = Field("C", description="BPR03 credit or debit")
    method: Code = Field(description="ach, check, wire, non_payment... or BPR04 as sent")
    payment_format: Code | None = Field(None, description="BPR05 (CTX, CCD, PBC...)")
    payer_bank: BankAccount | None = None
    payee_bank: BankAccount | None = None
    originating_company_id: Text | None = Field(None, description="BPR10")
    payment_date: dt.date | None = Field(None, description="Check issue or EFT effective date "
                                                           "(BPR16)")
    currency: Code | None = None
    references: list[Reference] = Field(default_factory=list)
    dates: list[DateRef] = Field(default_factory=list)
    parties: list[Party] = Field(default_factory=list, description="payer, payee...")
    adjustments: list[Adjustment] = Field(default_factory=list, description="Adjustments not "
                                          "tied to one document")
    lines: list[RemittanceLine] = Field(default_factory=list)

    def party(self, role: str) -> Party | None:
        """The first party with `role` ("payer", "payee"...), or None."""
        return next((p for p in self.parties if p.role == role), None)
