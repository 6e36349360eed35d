"""X12 855 purchase order acknowledgment <-> canonical OrderAcknowledgment.

Mapped: BAK, CUR, REF, PER, DTM, N9/MSG, N1 loops; PO1 (quantity, price, item ids), line CUR,
PID, REF, DTM, ACK (status, quantity, date, item ids), SCH, N9/MSG, N1; CTT and AMT.
"""

from __future__ import annotations

from transforms.supply.models import Quantity
from transforms.supply.orders import (
    ACK_STATUS_CODES,
    AckLine,
    LineStatus,
    OrderAcknowledgment,
    Schedule,
)

from .codes import ACK_TYPES, DATE_KINDS, PURPOSES
from .common import (
    currency_of,
    read_baseline,
    read_contact,
    read_dates,
    read_item_ids,
    read_note,
    read_party,
    read_references,
    sections,
)
from .emit import SetWriter, date8, real
from .po850 import read_amounts, split_summary
from .reading import Seg, SetReader, split_at

__all__ = ["read_855", "write_855"]


def _read_status(s: Seg) -> LineStatus:
    """One ACK segment."""
    code = s.need(1, "ACK01 line item status code")
    qty = s.decimal(2, "ACK02 quantity")
    kind = s.text(4)
    return LineStatus(status=ACK_STATUS_CODES.get(code, "other"), code=code,
                      quantity=None if qty is None else Quantity(value=qty, unit=s.text(3)),
                      date_kind=DATE_KINDS.word(kind) if kind else None,
                      date=s.date(5, "ACK05 date"), item_ids=read_item_ids(s, 7, 26))


def _read_schedule(s: Seg, r: SetReader) -> Schedule | None:
    """One SCH segment (None, with a warning, when it lacks quantity, qualifier or date)."""
    qty, kind, date = s.decimal(1, "SCH01 quantity"), s.text(5), s.date(6, "SCH06 date")
    if qty is None or kind is None or date is None:
        r.warn(f"{s.where()} lacks a quantity, date qualifier or date; not mapped")
        return None
    return Schedule(quantity=Quantity(value=qty, unit=s.text(2)),
                    date_kind=DATE_KINDS.word(kind), date=date)


def _read_line(loop: list[Seg], currency: str, r: SetReader) -> AckLine:
    """One PO1 loop of an 855."""
    po1 = loop[0]
    sec = sections(loop[1:])
    baseline, currency = read_baseline(po1, sec, currency, "PO102 quantity ordered")
    _, dates = read_dates(sec.plain)
    schedules = [_read_schedule(s, r) for s in sec.of("SCH")]
    return AckLine(
        **baseline,
        statuses=[_read_status(s) for s in sec.of("ACK")],
        schedules=[s for s in schedules if s is not None], dates=dates,
        references=read_references(sec.plain), notes=[read_note(n) for n in sec.notes],
        parties=[read_party(p) for p in sec.parties])


def read_855(r: SetReader) -> OrderAcknowledgment:
    """A canonical OrderAcknowledgment from an 855 set."""
    bak = r.require("BAK", "beginning segment for purchase order acknowledgment")
    body, summary = split_summary(r)
    head_segs, line_loops = split_at(body, "PO1")
    head = sections(head_segs)
    stated = currency_of(head.first("CUR"), "") or None
    currency = stated or "USD"
    _, dates = read_dates(head.plain)
    lines = [_read_line(loop, currency, r) for loop in line_loops]
    r.check_count(next((s for s in summary if s.id == "CTT"), None), len(lines), "line items")
    return OrderAcknowledgment(
        po_number=bak.need(3, "BAK03 purchase order number"),
        po_date=bak.need_date(4, "BAK04 purchase order date"),
        purpose=PURPOSES.word(bak.need(1, "BAK01 transaction set purpose code")),
        ack_type=ACK_TYPES.word(bak.need(2, "BAK02 acknowledgment type")),
        release_number=bak.text(5), contract_number=bak.text(7),
        seller_order_number=bak.text(8), ack_date=bak.date(9, "BAK09 date"), currency=stated,
        references=read_references(head.plain),
        contacts=[read_contact(s) for s in head.of("PER")], dates=dates,
        notes=[read_note(n) for n in head.notes], parties=[read_party(p) for p in head.parties],
        lines=lines, amounts=read_amounts(head.plain + summary, currency), source=r.source())


def _write_line(w: SetWriter, line: AckLine, currency: str) -> None:
    """One PO1 loop of an 855."""
    where = w.baseline("PO1", line, currency, "SE")
    if line.description is not None:
        w.add("PID", "F", None, None, None, line.description)
    w.references(line.references)
    w.dates(line.dates)
    for st in line.statuses:
        qty = st.quantity
        w.add("ACK", st.code, real(qty.value) if qty else None, qty.unit if qty else None,
              DATE_KINDS.code(st.date_kind) if st.date_kind else None, date8(st.date), None,
              *w.item_ids(st.item_ids, 10, f"{where} ACK"))
    for sch in line.schedules:
        w.add("SCH", real(sch.quantity.value), sch.quantity.unit, None, None,
              DATE_KINDS.code(sch.date_kind), date8(sch.date))
    w.notes(line.notes)
    w.parties(line.parties)
    w.currency = currency


def write_855(ack: OrderAcknowledgment, w: SetWriter) -> None:
    """The body segments of an 855 for `ack`."""
    currency = ack.currency or "USD"
    w.currency = currency
    w.add("BAK", PURPOSES.code(ack.purpose), ACK_TYPES.code(ack.ack_type), ack.po_number,
          date8(ack.po_date), ack.release_number, None, ack.contract_number,
          ack.seller_order_number, date8(ack.ack_date))
    w.currency_segment("SE", ack.currency)
    w.references(ack.references)
    w.contacts(ack.contacts)
    w.dates(ack.dates)
    w.notes(ack.notes)
    w.parties(ack.parties)
    for line in ack.lines:
        _write_line(w, line, currency)
    w.add("CTT", str(len(ack.lines)))
    w.amounts(ack.amounts)
