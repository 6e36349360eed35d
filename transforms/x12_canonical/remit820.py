"""X12 820 payment order / remittance advice <-> canonical Remittance.

Mapped: BPR (handling, amount, credit/debit, method, format, bank accounts, date), TRN, CUR,
REF, DTM, N1 loops; ENT (entity number); ADX (under an RMR: that document's adjustment; after an
ENT and before its first RMR, or before any ENT: a remittance-level adjustment) with its REF/DTM;
RMR (document, amounts) with NTE, REF and DTM. ENT02-ENT04 ids and NM1/IT1 detail are not mapped.
"""

from __future__ import annotations

from typing import Any

from transforms.supply.finance import Adjustment, BankAccount, Remittance, RemittanceLine
from transforms.supply.models import Money

from .codes import PAYMENT_HANDLING, PAYMENT_METHODS, REMIT_DOCUMENT_KINDS
from .common import currency_of, read_date, read_dates, read_party, read_reference, sections
from .emit import SetWriter, date8, real
from .reading import Seg, SetReader

__all__ = ["read_820", "write_820"]

_DETAIL = frozenset({"ENT", "RMR", "ADX"})


def _bank(s: Seg, first: int) -> BankAccount | None:
    """BPR DFI qualifier, DFI id, account qualifier, account number from element `first`."""
    values = [s.text(n) for n in range(first, first + 4)]
    if not any(values):
        return None
    return BankAccount(routing_kind=values[0], routing_number=values[1],
                       account_kind=values[2], account_number=values[3])


class _Detail:
    """Walks ENT / ADX / RMR segments, attaching REF, DTM and NTE to the right owner."""

    def __init__(self, currency: str) -> None:
        self.currency = currency
        self.entity: int | None = None
        self.lines: list[dict[str, Any]] = []
        self.adjustments: list[dict[str, Any]] = []
        self.line: dict[str, Any] | None = None  # current RMR of the current entity
        self.owner: dict[str, Any] | None = None  # where REF/DTM/NTE go

    def money(self, value: Any) -> Money | None:
        return None if value is None else Money(amount=value, currency=self.currency)

    def feed(self, s: Seg) -> None:
        """Take one detail segment."""
        if s.id == "ENT":
            self.entity = s.integer(1, "ENT01 assigned number")
            self.line = self.owner = None
        elif s.id == "RMR":
            paid = s.decimal(4, "RMR04 monetary amount")
            if paid is None:
                raise s.error("RMR04 amount paid is missing", 4)
            self.line = self.owner = {
                "entity_number": self.entity,
                "document_kind": REMIT_DOCUMENT_KINDS.word(s.need(1, "RMR01 qualifier")),
                "document_number": s.need(2, "RMR02 reference identification"),
                "payment_action": s.text(3), "amount_paid": self.money(paid),
                "invoice_amount": self.money(s.decimal(5, "RMR05 amount of invoice")),
                "discount_amount": self.money(s.decimal(6, "RMR06 discount amount")),
                "adjustments": [], "references": [], "dates": [], "notes": []}
            self.lines.append(self.line)
        elif s.id == "ADX":
            amount = s.decimal(1, "ADX01 adjustment amount")
            if amount is None:
                raise s.error("ADX01 adjustment amount is missing", 1)
            adx = {"amount": self.money(amount), "reason": s.text(2),
                   "reference_kind": s.text(3), "reference": s.text(4), "references": [],
                   "dates": []}
            if self.line is not None:
                self.line["adjustments"].append(adx)
            else:
                adx["entity_number"] = self.entity
                self.adjustments.append(adx)
            self.owner = adx
        elif self.owner is not None and s.id == "REF":
            ref = read_reference(s)
            if ref is not None:
                self.owner["references"].append(ref)
        elif self.owner is not None and s.id == "DTM":
            date = read_date(s)
            if date is not None:
                self.owner["dates"].append(date)
        elif self.owner is not None and "notes" in self.owner and s.id == "NTE" and s.text(2):
            self.owner["notes"].append(s.text(2))


def read_820(r: SetReader) -> Remittance:
    """A canonical Remittance from an 820 set."""
    bpr = r.require("BPR", "beginning segment for payment order/remittance advice")
    trn = r.require("TRN", "trace")
    at = next((k for k, s in enumerate(r.segments) if s.id in _DETAIL), len(r.segments))
    head = sections(s for s in r.segments[:at] if s.id not in ("BPR", "TRN"))
    stated = currency_of(head.first("CUR"), "") or None
    currency = stated or "USD"
    amount = bpr.decimal(2, "BPR02 payment amount")
    if amount is None:
        raise bpr.error("BPR02 payment amount is missing", 2)
    flag = bpr.text(3) or "C"
    if flag not in ("C", "D"):
        raise bpr.error(f"BPR03 credit/debit flag {flag!r} is not C or D", 3)
    detail = _Detail(currency)
    for s in r.segments[at:]:
        detail.feed(s)
    _, dates = read_dates(head.plain)
    return Remittance(
        payment_id=trn.need(2, "TRN02 trace number"), trace_kind=trn.need(1, "TRN01 trace type"),
        originator_id=trn.text(3),
        handling=PAYMENT_HANDLING.word(bpr.need(1, "BPR01 transaction handling code")),
        payment_amount=Money(amount=amount, currency=currency), credit_debit=flag,
        method=PAYMENT_METHODS.word(bpr.need(4, "BPR04 payment method code")),
        payment_format=bpr.text(5), payer_bank=_bank(bpr, 6),
        originating_company_id=bpr.text(10), payee_bank=_bank(bpr, 12),
        payment_date=bpr.date(16, "BPR16 date"), currency=stated,
        references=[x for x in (read_reference(s) for s in head.of("REF")) if x],
        dates=dates, parties=[read_party(p) for p in head.parties],
        adjustments=[Adjustment(**a) for a in detail.adjustments],
        lines=[RemittanceLine(**line) for line in detail.lines], source=r.source())


def _write_adjustment(w: SetWriter, adx: Adjustment) -> None:
    """ADX + its REF and DTM."""
    w.add("ADX", real(w.money(adx.amount, "ADX01 adjustment amount")), adx.reason,
          adx.reference_kind, adx.reference)
    w.references(adx.references)
    w.dates(adx.dates)


def write_820(rem: Remittance, w: SetWriter) -> None:
    """The body segments of an 820 for `rem`."""
    w.currency = rem.currency or "USD"
    payer, payee = rem.payer_bank, rem.payee_bank

    def bank(b: BankAccount | None) -> list[str | None]:
        if b is None:
            return [None] * 4
        return [b.routing_kind, b.routing_number, b.account_kind, b.account_number]

    w.add("BPR", PAYMENT_HANDLING.code(rem.handling),
          real(w.money(rem.payment_amount, "BPR02 payment amount")), rem.credit_debit,
          PAYMENT_METHODS.code(rem.method), rem.payment_format, *bank(payer),
          rem.originating_company_id, None, *bank(payee), date8(rem.payment_date))
    w.add("TRN", rem.trace_kind, rem.payment_id, rem.originator_id)
    w.currency_segment("PR", rem.currency)
    w.references(rem.references)
    w.dates(rem.dates)
    w.parties(rem.parties)
    pending = list(rem.adjustments)
    for adx in [a for a in pending if a.entity_number is None]:
        _write_adjustment(w, adx)
    pending = [a for a in pending if a.entity_number is not None]
    entity: int | None = None
    for line in rem.lines:
        if line.entity_number != entity:
            if line.entity_number is None:
                raise ValueError("remittance lines without an entity number must come before "
                                 "those with one")
            entity = line.entity_number
            _write_entity(w, entity, pending)
        w.add("RMR", REMIT_DOCUMENT_KINDS.code(line.document_kind), line.document_number,
              line.payment_action, real(w.money(line.amount_paid, "RMR04")),
              real(w.money(line.invoice_amount, "RMR05")),
              real(w.money(line.discount_amount, "RMR06")))
        for note in line.notes:
            w.add("NTE", None, note)
        w.references(line.references)
        w.dates(line.dates)
        for adx in line.adjustments:
            _write_adjustment(w, adx)
    while pending:
        _write_entity(w, pending[0].entity_number or 0, pending)


def _write_entity(w: SetWriter, number: int, pending: list[Adjustment]) -> None:
    """ENT*number and the remittance-level adjustments of that entity (removed from
    `pending`)."""
    w.add("ENT", str(number))
    for adx in [a for a in pending if a.entity_number == number]:
        _write_adjustment(w, adx)
        pending.remove(adx)
