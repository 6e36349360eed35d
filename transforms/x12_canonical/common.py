"""Readers for the segments every supply-chain set shares: N1 loops, REF, DTM, PER, SAC, ITD..."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from transforms.supply.models import (
    Address,
    AllowanceCharge,
    Amount,
    Contact,
    DateRef,
    ItemId,
    Money,
    Note,
    Party,
    PartyId,
    PaymentTerms,
    Reference,
    Tax,
)

from .codes import AMOUNT_KINDS, DATE_KINDS, INDICATORS, ITEM_ID_KINDS, PARTY_ID_KINDS, PARTY_ROLES
from .reading import Seg

__all__ = [
    "Sections",
    "currency_of",
    "read_allowance_charge",
    "read_baseline",
    "read_amount",
    "read_contact",
    "read_dates",
    "read_description",
    "read_item_ids",
    "read_note",
    "read_party",
    "read_reference",
    "read_tax",
    "read_terms",
    "sections",
]

# Segments that stay in an N1 loop / N9 loop once it has started.
PARTY_MEMBERS = frozenset({"N2", "N3", "N4", "REF", "PER", "NX2", "SI", "FOB", "TD1", "TD5",
                           "TD3", "TD4", "PKG", "QTY"})
NOTE_MEMBERS = frozenset({"MSG"})
_CURRENCY = re.compile(r"^[A-Z]{3}$")


@dataclass
class Sections:
    """The segments of one level (header or line): plain ones, N1 loops and N9 loops."""

    plain: list[Seg] = field(default_factory=list)
    parties: list[list[Seg]] = field(default_factory=list)
    notes: list[list[Seg]] = field(default_factory=list)

    def of(self, *seg_ids: str) -> list[Seg]:
        """The plain segments with one of `seg_ids`, in order."""
        return [s for s in self.plain if s.id in seg_ids]

    def first(self, seg_id: str) -> Seg | None:
        """The first plain segment with `seg_id`, or None."""
        return next((s for s in self.plain if s.id == seg_id), None)


def sections(segs: Iterable[Seg]) -> Sections:
    """Sort one level's segments into plain segments, N1 loops and N9 loops."""
    out = Sections()
    state = ""
    for s in segs:
        if s.id == "N1":
            out.parties.append([s])
            state = "party"
        elif s.id == "N9":
            out.notes.append([s])
            state = "note"
        elif state == "party" and s.id in PARTY_MEMBERS:
            out.parties[-1].append(s)
        elif state == "note" and s.id in NOTE_MEMBERS:
            out.notes[-1].append(s)
        else:
            state = ""
            out.plain.append(s)
    return out


def currency_of(cur: Seg | None, default: str) -> str:
    """CUR02 of `cur` (checked to be a 3-letter code), or `default`."""
    if cur is None:
        return default
    code = cur.text(2)
    if code is None:
        return default
    if not _CURRENCY.match(code):
        raise cur.error(f"currency {code!r} is not an ISO 4217 code", 2)
    return code


def read_baseline(seg: Seg, sec: Sections, currency: str, quantity_what: str
                  ) -> tuple[dict[str, Any], str]:
    """The baseline item data of a PO1/IT1 line (01-25) plus its PID texts, as model fields,
    and the currency in force for the line (a CUR in the loop overrides `currency`)."""
    currency = currency_of(sec.first("CUR"), currency)
    quantity = seg.decimal(2, quantity_what)
    if quantity is None:
        raise seg.error(f"{quantity_what} is missing", 2)
    price = seg.decimal(4, f"{seg.id}04 unit price")
    return {
        "line_number": seg.text(1), "quantity": {"value": quantity, "unit": seg.text(3)},
        "unit_price": None if price is None else {"amount": price, "currency": currency},
        "price_basis": seg.text(5), "item_ids": read_item_ids(seg, 6, 25),
        "description": read_description(sec.of("PID")),
    }, currency


def read_item_ids(s: Seg, first: int, last: int) -> list[ItemId]:
    """Qualifier/value pairs from element `first` to `last` (e.g. PO106..PO125)."""
    out: list[ItemId] = []
    for n in range(first, min(last, len(s.seg.elements)) + 1, 2):  # only elements present
        value = s.text(n + 1)
        if value is None:
            continue
        kind = s.text(n)
        if kind is None:
            raise s.error(f"product id {value!r} has no qualifier", n)
        out.append(ItemId(kind=ITEM_ID_KINDS.word(kind), value=value))
    return out


def read_description(pids: Iterable[Seg]) -> str | None:
    """PID05 texts joined with a blank; None when there are none."""
    texts = [t for t in (p.text(5) for p in pids) if t]
    return " ".join(texts) or None


def read_reference(s: Seg) -> Reference | None:
    """REF01-03 (None for a REF with neither value nor description)."""
    value, description = s.text(2), s.text(3)
    if value is None and description is None:
        return None
    return Reference(kind=s.need(1, "REF01 reference qualifier"), value=value,
                     description=description)


def read_references(segs: Iterable[Seg]) -> list[Reference]:
    """Every usable REF of `segs`."""
    return [r for r in (read_reference(s) for s in segs if s.id == "REF") if r is not None]


def read_date(s: Seg) -> DateRef | None:
    """DTM01-03 as a DateRef (None when DTM02 is empty, e.g. a date range in DTM06)."""
    date = s.date(2, "DTM02 date")
    if date is None:
        return None
    kind = s.need(1, "DTM01 date/time qualifier")
    return DateRef(kind=DATE_KINDS.word(kind), date=date, time=s.time(3))


def read_dates(segs: Iterable[Seg], named: Mapping[str, str] | None = None
               ) -> tuple[dict[str, dt.date], list[DateRef]]:
    """DTMs split into named fields and the rest.

    `named` maps a DTM01 code to a field name: the first DTM with that code fills the field
    (its date); when it also has a time it is kept in the rest too, so nothing is lost.
    """
    values: dict[str, dt.date] = {}
    others: list[DateRef] = []
    named = named or {}
    for s in segs:
        if s.id != "DTM":
            continue
        ref = read_date(s)
        if ref is None:
            continue
        name = named.get(DATE_KINDS.code(ref.kind))
        if name and name not in values:
            values[name] = ref.date
            if ref.time is None:
                continue
        others.append(ref)
    return values, others


def read_contact(s: Seg) -> Contact:
    """PER: function, name and the TE / EM / FX communication numbers."""
    comms: dict[str, str] = {}
    for n in (3, 5, 7):
        kind, value = s.text(n), s.text(n + 1)
        if kind in ("TE", "EM", "FX") and value and kind not in comms:
            comms[kind] = value
    return Contact(function=s.text(1), name=s.text(2), phone=comms.get("TE"),
                   email=comms.get("EM"), fax=comms.get("FX"))


def read_party(loop: list[Seg]) -> Party:
    """One N1 loop: N1 role/name/id, N2 names, N3/N4 address, REF and PER."""
    n1 = loop[0]
    ids: list[PartyId] = []
    value = n1.text(4)
    if value is not None:
        kind = n1.text(3)
        if kind is None:
            raise n1.error(f"party id {value!r} has no qualifier", 3)
        ids.append(PartyId(kind=PARTY_ID_KINDS.word(kind), value=value))
    names = [t for s in loop if s.id == "N2" for t in (s.text(1), s.text(2)) if t]
    lines = [t for s in loop if s.id == "N3" for t in (s.text(1), s.text(2)) if t]
    n4 = next((s for s in loop if s.id == "N4"), None)
    address = None
    parts = (n4.text(1), n4.text(2), n4.text(3), n4.text(4)) if n4 else (None,) * 4
    if lines or any(parts):
        address = Address(lines=lines, city=parts[0], state=parts[1], postal_code=parts[2],
                          country=parts[3])
    return Party(role=PARTY_ROLES.word(n1.need(1, "N101 entity identifier code")),
                 name=n1.text(2), ids=ids, additional_names=names, address=address,
                 contacts=[read_contact(s) for s in loop if s.id == "PER"],
                 references=read_references(loop))


def read_note(loop: list[Seg]) -> Note:
    """One N9 loop: N901 qualifier, N902 (or N903) reference and the MSG lines."""
    n9 = loop[0]
    return Note(kind=n9.need(1, "N901 reference qualifier"), reference=n9.text(2) or n9.text(3),
                lines=[t for t in (s.text(1) for s in loop if s.id == "MSG") if t])


def read_allowance_charge(s: Seg, currency: str) -> AllowanceCharge:
    """SAC: indicator, code, amount (N2), percent and description."""
    amount = s.implied(5, "SAC05 amount")
    return AllowanceCharge(
        indicator=INDICATORS.word(s.need(1, "SAC01 allowance or charge indicator")),
        code=s.text(2),
        amount=None if amount is None else Money(amount=amount, currency=currency),
        percent_basis=s.text(6), percent=s.decimal(7, "SAC07 percent"), handling=s.text(12),
        reference=s.text(13), description=s.text(15))


def read_tax(s: Seg, currency: str) -> Tax:
    """TXI: tax type, amount (R), percent, jurisdiction and basis amount."""
    amount = s.decimal(2, "TXI02 tax amount")
    return Tax(kind=s.need(1, "TXI01 tax type code"),
               amount=None if amount is None else Money(amount=amount, currency=currency),
               percent=s.decimal(3, "TXI03 percent"), jurisdiction_kind=s.text(4),
               jurisdiction=s.text(5), basis_amount=s.decimal(8, "TXI08 basis amount"))


def read_terms(s: Seg, currency: str) -> PaymentTerms:
    """ITD: terms type, basis date, discount %/date/days, net date/days, discount amount."""
    discount = s.implied(8, "ITD08 terms discount amount")
    return PaymentTerms(
        kind=s.text(1), basis_date=s.text(2), discount_percent=s.decimal(3, "ITD03 percent"),
        discount_due_date=s.date(4, "ITD04 discount due date"),
        discount_days=s.integer(5, "ITD05 discount days"),
        net_due_date=s.date(6, "ITD06 net due date"), net_days=s.integer(7, "ITD07 net days"),
        discount_amount=None if discount is None else Money(amount=discount, currency=currency),
        description=s.text(12))


def read_amount(s: Seg, currency: str) -> Amount | None:
    """AMT01/AMT02 as a labelled amount (None when AMT02 is empty)."""
    value = s.decimal(2, "AMT02 amount")
    if value is None:
        return None
    return Amount(kind=AMOUNT_KINDS.word(s.need(1, "AMT01 amount qualifier")),
                  value=Money(amount=value, currency=currency))
