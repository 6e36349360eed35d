"""Writers for shared segments (N1 loops, REF, DTM, PER, SAC, ITD...) and X12 number formats.

Values are written exactly: R (explicit decimal) numbers in plain notation, N2 amounts as
hundredths (ValueError if an amount has more than 2 decimals), dates as CCYYMMDD. A Money whose
currency is not the one in force at that point of the set raises ValueError, since X12 states a
currency once per set (CUR) or per line, not per amount.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

from protocols.x12 import Delimiters, Segment
from protocols.x12.writer import make_segment
from transforms.supply.models import (
    AllowanceCharge,
    Amount,
    Contact,
    DateRef,
    ItemId,
    Money,
    Note,
    Party,
    PaymentTerms,
    Reference,
    Tax,
)

from .codes import AMOUNT_KINDS, DATE_KINDS, INDICATORS, ITEM_ID_KINDS, PARTY_ID_KINDS, PARTY_ROLES

__all__ = ["SetWriter", "date8", "n2", "real"]


def real(value: Decimal | int | None) -> str | None:
    """An X12 R value: plain decimal notation, no exponent; None stays None."""
    if value is None:
        return None
    value = Decimal(value)
    return format(abs(value) if value == 0 else value, "f")


def n2(value: Decimal | None, what: str = "amount") -> str | None:
    """An X12 N2 value (hundredths, no decimal point); ValueError beyond 2 decimals."""
    if value is None:
        return None
    cents = value * 100
    if cents != cents.to_integral_value():
        raise ValueError(f"{what} {value} has more than 2 decimals; X12 N2 cannot carry it")
    return str(int(cents))


def date8(value: dt.date | None) -> str | None:
    """A CCYYMMDD date; None stays None."""
    if value is None:
        return None
    return f"{value.year:04d}{value.month:02d}{value.day:02d}"


def integer(value: int | None) -> str | None:
    """An X12 N0 value; None stays None."""
    return None if value is None else str(value)


class SetWriter:
    """Collects the body segments of one transaction set, in the target delimiters."""

    def __init__(self, delimiters: Delimiters, currency: str = "USD") -> None:
        self.delimiters = delimiters
        self.currency = currency
        self.segments: list[Segment] = []

    def add(self, seg_id: str, *values: str | None) -> None:
        """Append a segment; None values are empty, trailing empty elements are dropped."""
        self.segments.append(make_segment(seg_id, *values, delimiters=self.delimiters))

    def money(self, value: Money | None, where: str) -> Decimal | None:
        """The amount of `value`, after checking its currency is the one in force."""
        if value is None:
            return None
        if value.currency != self.currency:
            raise ValueError(f"{where} is in {value.currency} but the currency in force is "
                             f"{self.currency}; X12 states one currency per set or line")
        return value.amount

    def item_ids(self, ids: Sequence[ItemId], pairs: int, where: str) -> list[str | None]:
        """Qualifier/value elements for up to `pairs` item ids."""
        if len(ids) > pairs:
            raise ValueError(f"{where} carries at most {pairs} item ids, got {len(ids)}")
        out: list[str | None] = []
        for item in ids:
            out += [ITEM_ID_KINDS.code(item.kind), item.value]
        return out

    def baseline(self, seg_id: str, line: Any, currency: str, cur_entity: str) -> str:
        """A PO1/IT1 line's baseline item data (01-25), then a CUR when the line's price is in
        another currency than the set's; the line's currency stays in force for its loop.
        Returns the line's name for error messages ("PO1 line 3")."""
        line_currency = line.unit_price.currency if line.unit_price else currency
        self.currency = line_currency
        where = f"{seg_id} line {line.line_number or '?'}"
        price = self.money(line.unit_price, f"{where} unit price")
        self.add(seg_id, line.line_number, real(line.quantity.value), line.quantity.unit,
                 real(price), line.price_basis, *self.item_ids(line.item_ids, 10, where))
        if line_currency != currency:
            self.add("CUR", cur_entity, line_currency)
        return where

    def references(self, refs: Iterable[Reference]) -> None:
        """REF segments."""
        for ref in refs:
            self.add("REF", ref.kind, ref.value, ref.description)

    def dates(self, refs: Iterable[DateRef]) -> None:
        """DTM segments."""
        for ref in refs:
            self.add("DTM", DATE_KINDS.code(ref.kind), date8(ref.date), ref.time)

    def date(self, kind: str, value: dt.date | None) -> None:
        """One DTM for a named date field (nothing when it is None)."""
        if value is not None:
            self.add("DTM", DATE_KINDS.code(kind), date8(value))

    def contacts(self, contacts: Iterable[Contact]) -> None:
        """PER segments with TE / EM / FX numbers."""
        for c in contacts:
            comms: list[str | None] = []
            for kind, value in (("TE", c.phone), ("EM", c.email), ("FX", c.fax)):
                if value is not None:
                    comms += [kind, value]
            self.add("PER", c.function, c.name, *comms)

    def party(self, party: Party) -> None:
        """One N1 loop: N1, N2, N3, N4, REF, PER."""
        if len(party.ids) > 1:
            raise ValueError(f"party {party.role!r} has {len(party.ids)} ids; an X12 N1 "
                             "carries one")
        pid = party.ids[0] if party.ids else None
        self.add("N1", PARTY_ROLES.code(party.role), party.name,
                 PARTY_ID_KINDS.code(pid.kind) if pid else None, pid.value if pid else None)
        names = party.additional_names
        for k in range(0, len(names), 2):
            self.add("N2", *names[k:k + 2])
        addr = party.address
        if addr is not None:
            for k in range(0, len(addr.lines), 2):
                self.add("N3", *addr.lines[k:k + 2])
            if addr.city or addr.state or addr.postal_code or addr.country:
                self.add("N4", addr.city, addr.state, addr.postal_code, addr.country)
        self.references(party.references)
        self.contacts(party.contacts)

    def parties(self, parties: Iterable[Party]) -> None:
        """N1 loops."""
        for party in parties:
            self.party(party)

    def notes(self, notes: Iterable[Note]) -> None:
        """N9 loops: N9 + one MSG per line."""
        for note in notes:
            self.add("N9", note.kind, note.reference)
            for line in note.lines:
                self.add("MSG", line)

    def allowances_charges(self, items: Iterable[AllowanceCharge]) -> None:
        """SAC segments (amount as N2)."""
        for sac in items:
            amount = n2(self.money(sac.amount, "SAC05 amount"), "SAC05 amount")
            self.add("SAC", INDICATORS.code(sac.indicator), sac.code, None, None, amount,
                     sac.percent_basis, real(sac.percent), None, None, None, None,
                     sac.handling, sac.reference, None, sac.description)

    def taxes(self, taxes: Iterable[Tax]) -> None:
        """TXI segments."""
        for tax in taxes:
            self.add("TXI", tax.kind, real(self.money(tax.amount, "TXI02 tax amount")),
                     real(tax.percent), tax.jurisdiction_kind, tax.jurisdiction, None, None,
                     real(tax.basis_amount))

    def terms(self, terms: Iterable[PaymentTerms]) -> None:
        """ITD segments."""
        for t in terms:
            discount = n2(self.money(t.discount_amount, "ITD08 discount"), "ITD08 discount")
            self.add("ITD", t.kind, t.basis_date, real(t.discount_percent),
                     date8(t.discount_due_date), integer(t.discount_days),
                     date8(t.net_due_date), integer(t.net_days), discount, None, None, None,
                     t.description)

    def amounts(self, amounts: Iterable[Amount]) -> None:
        """AMT segments."""
        for a in amounts:
            self.add("AMT", AMOUNT_KINDS.code(a.kind), real(self.money(a.value, "AMT02")))

    def currency_segment(self, entity: str, currency: str | None) -> None:
        """CUR*entity*currency when a currency is stated."""
        if currency is not None:
            self.add("CUR", entity, currency)
