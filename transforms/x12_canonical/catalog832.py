"""X12 832 price/sales catalog -> canonical PriceCatalog (inbound only).

Mapped: BCT, CUR, REF, PER, DTM (007 effective, 036 expiration), N1 loops; LIN loops: LIN ids,
PID texts, REF, CUR, CTP prices (a DTM*007 right after a CTP is that price's effective date),
SLN packaging levels, other DTMs; CTT (count checked). CTB, MEA, PKL, TD4 are not mapped.
"""

from __future__ import annotations

from transforms.supply.catalog import CatalogItem, CatalogPackaging, CatalogPrice, PriceCatalog
from transforms.supply.models import DateRef, Money, Quantity

from .codes import PURPOSES
from .common import (
    currency_of,
    read_contact,
    read_date,
    read_dates,
    read_item_ids,
    read_party,
    read_references,
    sections,
)
from .po850 import split_summary
from .reading import Seg, SetReader, split_at

__all__ = ["read_832"]


def _read_item(loop: list[Seg], currency: str) -> CatalogItem:
    """One LIN loop."""
    lin = loop[0]
    sec = sections(loop[1:])
    currency = currency_of(sec.first("CUR"), currency)
    prices: list[CatalogPrice] = []
    dates: list[DateRef] = []
    packaging: list[CatalogPackaging] = []
    last: Seg | None = None
    for s in sec.plain:
        if s.id == "CTP":
            price = s.decimal(3, "CTP03 unit price")
            if price is not None:
                prices.append(CatalogPrice(
                    kind=s.need(2, "CTP02 price identifier code"), class_of_trade=s.text(1),
                    unit_price=Money(amount=price, currency=currency),
                    quantity=s.decimal(4, "CTP04 quantity"), unit=s.first_component(5)))
        elif s.id == "DTM":
            ref = read_date(s)
            if ref is None:
                pass
            elif (last is not None and last.id == "CTP" and prices and ref.kind == "effective"
                  and prices[-1].effective_date is None and ref.time is None):
                prices[-1] = prices[-1].model_copy(update={"effective_date": ref.date})
            else:
                dates.append(ref)
        elif s.id == "SLN":
            qty = s.decimal(4, "SLN04 quantity")
            if qty is not None:
                packaging.append(CatalogPackaging(
                    quantity=Quantity(value=qty, unit=s.first_component(5)),
                    item_ids=read_item_ids(s, 9, 28)))
        last = s
    return CatalogItem(
        line_number=lin.text(1), item_ids=read_item_ids(lin, 2, 31),
        descriptions=[t for t in (p.text(5) for p in sec.of("PID")) if t], prices=prices,
        packaging=packaging, references=read_references(sec.plain), dates=dates)


def read_832(r: SetReader) -> PriceCatalog:
    """A canonical PriceCatalog from an 832 set."""
    bct = r.require("BCT", "beginning segment for catalog")
    body, summary = split_summary(r)
    head_segs, loops = split_at(body, "LIN")
    head = sections(head_segs)
    stated = currency_of(head.first("CUR"), "") or None
    currency = stated or "USD"
    named, dates = read_dates(head.plain, {"007": "effective_date", "036": "expiration_date"})
    items = [_read_item(loop, currency) for loop in loops]
    r.check_count(next((s for s in summary if s.id == "CTT"), None), len(items), "items")
    purpose = bct.text(10)
    return PriceCatalog(
        catalog_id=bct.need(2, "BCT02 catalog number"),
        catalog_purpose=bct.need(1, "BCT01 catalog purpose code"), version=bct.text(3),
        revision=bct.text(4), description=bct.text(9),
        purpose=PURPOSES.word(purpose) if purpose else None, dates=dates, currency=stated,
        references=read_references(head.plain),
        contacts=[read_contact(s) for s in head.of("PER")],
        parties=[read_party(p) for p in head.parties], items=items, source=r.source(),
        **named)
