"""X12 850 purchase order <-> canonical PurchaseOrder.

Mapped: BEG, CUR, REF, PER, SAC, ITD, DTM, N9/MSG loops, N1 loops (N2, N3, N4, REF, PER) at
header and line level; PO1 (quantity, unit, price, basis, PO106-PO125 item ids), line CUR, PO4,
PID, REF, SAC, DTM, N9/MSG, N1; CTT (count checked, warning on mismatch) and AMT. Other segments
(FOB, TD5, PKG, TC2, MEA...) are not mapped.
"""

from __future__ import annotations

from transforms.supply.models import Amount
from transforms.supply.orders import Pack, PurchaseOrder, PurchaseOrderLine

from .codes import ORDER_TYPES, PURPOSES
from .common import (
    Sections,
    currency_of,
    read_allowance_charge,
    read_amount,
    read_baseline,
    read_contact,
    read_dates,
    read_note,
    read_party,
    read_references,
    read_terms,
    sections,
)
from .emit import SetWriter, date8, integer, real
from .reading import Seg, SetReader, split_at

__all__ = ["read_850", "write_850"]

_DATES = {"002": "requested_delivery_date"}


def split_summary(r: SetReader, starter: str = "CTT") -> tuple[list[Seg], list[Seg]]:
    """The set's segments before the summary (CTT...) and the summary segments."""
    segs = r.segments
    at = next((k for k, s in enumerate(segs) if s.id == starter), len(segs))
    return segs[:at], segs[at:]


def read_amounts(segs: list[Seg], currency: str) -> list[Amount]:
    """Every AMT of `segs` with a value."""
    return [a for a in (read_amount(s, currency) for s in segs if s.id == "AMT") if a]


def _read_line(loop: list[Seg], currency: str) -> PurchaseOrderLine:
    """One PO1 loop."""
    po1 = loop[0]
    sec: Sections = sections(loop[1:])
    baseline, currency = read_baseline(po1, sec, currency, "PO102 quantity ordered")
    po4 = sec.first("PO4")
    pack = None
    if po4 is not None and (po4.text(1) or po4.text(2) or po4.text(3)):
        pack = Pack(pack=po4.integer(1, "PO401 pack"), size=po4.decimal(2, "PO402 size"),
                    unit=po4.text(3))
    named, dates = read_dates(sec.plain, _DATES)
    return PurchaseOrderLine(
        **baseline, pack=pack,
        requested_delivery_date=named.get("requested_delivery_date"), dates=dates,
        references=read_references(sec.plain),
        allowances_charges=[read_allowance_charge(s, currency) for s in sec.of("SAC")],
        notes=[read_note(n) for n in sec.notes], parties=[read_party(p) for p in sec.parties])


def read_850(r: SetReader) -> PurchaseOrder:
    """A canonical PurchaseOrder from an 850 set."""
    beg = r.require("BEG", "beginning segment for purchase order")
    body, summary = split_summary(r)
    head_segs, line_loops = split_at(body, "PO1")
    head = sections(head_segs)
    cur = head.first("CUR")
    stated = currency_of(cur, "") or None
    currency = stated or "USD"
    named, dates = read_dates(head.plain, _DATES)
    lines = [_read_line(loop, currency) for loop in line_loops]
    r.check_count(next((s for s in summary if s.id == "CTT"), None), len(lines), "line items")
    return PurchaseOrder(
        po_number=beg.need(3, "BEG03 purchase order number"),
        order_date=beg.need_date(5, "BEG05 purchase order date"),
        purpose=PURPOSES.word(beg.need(1, "BEG01 transaction set purpose code")),
        order_type=ORDER_TYPES.word(beg.need(2, "BEG02 purchase order type code")),
        release_number=beg.text(4), contract_number=beg.text(6), currency=stated,
        references=read_references(head.plain),
        contacts=[read_contact(s) for s in head.of("PER")],
        terms=[read_terms(s, currency) for s in head.of("ITD")],
        requested_delivery_date=named.get("requested_delivery_date"), dates=dates,
        allowances_charges=[read_allowance_charge(s, currency) for s in head.of("SAC")],
        notes=[read_note(n) for n in head.notes], parties=[read_party(p) for p in head.parties],
        lines=lines, amounts=read_amounts(head.plain + summary, currency),
        source=r.source())


def _write_line(w: SetWriter, line: PurchaseOrderLine, currency: str) -> None:
    """One PO1 loop."""
    w.baseline("PO1", line, currency, "BY")
    if line.pack is not None:
        w.add("PO4", integer(line.pack.pack), real(line.pack.size), line.pack.unit)
    if line.description is not None:
        w.add("PID", "F", None, None, None, line.description)
    w.references(line.references)
    w.allowances_charges(line.allowances_charges)
    w.date("delivery_requested", line.requested_delivery_date)
    w.dates(line.dates)
    w.notes(line.notes)
    w.parties(line.parties)
    w.currency = currency


def write_850(po: PurchaseOrder, w: SetWriter) -> None:
    """The body segments (between ST and SE) of an 850 for `po`."""
    currency = po.currency or "USD"
    w.currency = currency
    w.add("BEG", PURPOSES.code(po.purpose), ORDER_TYPES.code(po.order_type), po.po_number,
          po.release_number, date8(po.order_date), po.contract_number)
    w.currency_segment("BY", po.currency)
    w.references(po.references)
    w.contacts(po.contacts)
    w.allowances_charges(po.allowances_charges)
    w.terms(po.terms)
    w.date("delivery_requested", po.requested_delivery_date)
    w.dates(po.dates)
    w.notes(po.notes)
    w.parties(po.parties)
    for line in po.lines:
        _write_line(w, line, currency)
    hash_total = sum((line.quantity.value for line in po.lines), start=0)
    w.add("CTT", str(len(po.lines)), real(hash_total))
    w.amounts(po.amounts)
