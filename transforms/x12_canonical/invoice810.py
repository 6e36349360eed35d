"""X12 810 invoice <-> canonical Invoice.

Mapped: BIG, CUR, REF, PER, N1 loops, ITD, DTM, N9/MSG; IT1 (quantity, price, item ids), line
CUR, CTP, PID, REF, SAC, TXI, DTM, N1; summary TDS (implied 2 decimals), TXI, AMT, SAC and CTT
(count checked). SAC/TXI found in the header are kept with the summary ones.
"""

from __future__ import annotations

from transforms.supply.finance import Invoice, InvoiceLine, LinePrice
from transforms.supply.models import Money

from .codes import INVOICE_TYPES, PURPOSES
from .common import (
    currency_of,
    read_allowance_charge,
    read_baseline,
    read_contact,
    read_dates,
    read_note,
    read_party,
    read_references,
    read_tax,
    read_terms,
    sections,
)
from .emit import SetWriter, date8, n2, real
from .po850 import read_amounts, split_summary
from .reading import Seg, SetReader, split_at

__all__ = ["read_810", "write_810"]


def _read_price(s: Seg, currency: str) -> LinePrice | None:
    """CTP02 price kind, CTP03 unit price, CTP04 quantity, CTP05 unit (None without price)."""
    price = s.decimal(3, "CTP03 unit price")
    if price is None:
        return None
    return LinePrice(kind=s.need(2, "CTP02 price identifier code"),
                     unit_price=Money(amount=price, currency=currency),
                     quantity=s.decimal(4, "CTP04 quantity"), unit=s.first_component(5))


def _read_line(loop: list[Seg], currency: str) -> InvoiceLine:
    """One IT1 loop."""
    it1 = loop[0]
    sec = sections(loop[1:])
    baseline, currency = read_baseline(it1, sec, currency, "IT102 quantity invoiced")
    _, dates = read_dates(sec.plain)
    prices = [_read_price(s, currency) for s in sec.of("CTP")]
    return InvoiceLine(
        **baseline, prices=[p for p in prices if p],
        allowances_charges=[read_allowance_charge(s, currency) for s in sec.of("SAC")],
        taxes=[read_tax(s, currency) for s in sec.of("TXI")],
        references=read_references(sec.plain), dates=dates,
        parties=[read_party(p) for p in sec.parties])


def read_810(r: SetReader) -> Invoice:
    """A canonical Invoice from an 810 set."""
    big = r.require("BIG", "beginning segment for invoice")
    tds = r.require("TDS", "total monetary value summary")
    body, summary = split_summary(r, "TDS")
    head_segs, line_loops = split_at(body, "IT1")
    head = sections(head_segs)
    stated = currency_of(head.first("CUR"), "") or None
    currency = stated or "USD"
    _, dates = read_dates(head.plain)
    lines = [_read_line(loop, currency) for loop in line_loops]
    r.check_count(next((s for s in summary if s.id == "CTT"), None), len(lines), "line items")
    kind = big.text(7)
    purpose = big.text(8)

    def money(n: int, what: str) -> Money | None:
        value = tds.implied(n, what)
        return None if value is None else Money(amount=value, currency=currency)

    total = money(1, "TDS01 total invoice amount")
    if total is None:
        raise tds.error("TDS01 total invoice amount is missing", 1)
    both = head.plain + summary
    return Invoice(
        invoice_number=big.need(2, "BIG02 invoice number"),
        invoice_date=big.need_date(1, "BIG01 invoice date"),
        po_date=big.date(3, "BIG03 purchase order date"), po_number=big.text(4),
        release_number=big.text(5),
        transaction_type=INVOICE_TYPES.word(kind) if kind else None,
        purpose=PURPOSES.word(purpose) if purpose else None, currency=stated,
        references=read_references(head.plain),
        contacts=[read_contact(s) for s in head.of("PER")],
        terms=[read_terms(s, currency) for s in head.of("ITD")], dates=dates,
        notes=[read_note(n) for n in head.notes], parties=[read_party(p) for p in head.parties],
        lines=lines, total=total,
        amount_subject_to_discount=money(2, "TDS02 amount subject to terms discount"),
        discounted_amount_due=money(3, "TDS03 discounted amount due"),
        terms_discount_amount=money(4, "TDS04 terms discount amount"),
        allowances_charges=[read_allowance_charge(s, currency) for s in both if s.id == "SAC"],
        taxes=[read_tax(s, currency) for s in both if s.id == "TXI"],
        amounts=read_amounts(both, currency), source=r.source())


def _write_line(w: SetWriter, line: InvoiceLine, currency: str) -> None:
    """One IT1 loop."""
    where = w.baseline("IT1", line, currency, "SE")
    for p in line.prices:
        w.add("CTP", None, p.kind, real(w.money(p.unit_price, f"{where} CTP03")),
              real(p.quantity), p.unit)
    if line.description is not None:
        w.add("PID", "F", None, None, None, line.description)
    w.references(line.references)
    w.allowances_charges(line.allowances_charges)
    w.taxes(line.taxes)
    w.dates(line.dates)
    w.parties(line.parties)
    w.currency = currency


def write_810(inv: Invoice, w: SetWriter) -> None:
    """The body segments of an 810 for `inv`."""
    currency = inv.currency or "USD"
    w.currency = currency
    w.add("BIG", date8(inv.invoice_date), inv.invoice_number, date8(inv.po_date), inv.po_number,
          inv.release_number, None,
          INVOICE_TYPES.code(inv.transaction_type) if inv.transaction_type else None,
          PURPOSES.code(inv.purpose) if inv.purpose else None)
    w.currency_segment("SE", inv.currency)
    w.references(inv.references)
    w.contacts(inv.contacts)
    w.terms(inv.terms)
    w.dates(inv.dates)
    w.notes(inv.notes)
    w.parties(inv.parties)
    for line in inv.lines:
        _write_line(w, line, currency)
    w.add("TDS", *(n2(w.money(m, f"TDS0{k}"), f"TDS0{k}") for k, m in enumerate(
        (inv.total, inv.amount_subject_to_discount, inv.discounted_amount_due,
         inv.terms_discount_amount), 1)))
    w.taxes(inv.taxes)
    w.amounts(inv.amounts)
    w.allowances_charges(inv.allowances_charges)
    w.add("CTT", str(len(inv.lines)))
