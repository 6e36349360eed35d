"""Sample canonical documents and hypothesis strategies shared by the canonical tests."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from hypothesis import strategies as st
from pydantic import BaseModel

from transforms.supply import (
    AckLine,
    Address,
    AllowanceCharge,
    Amount,
    CatalogItem,
    CatalogPrice,
    Contact,
    DateRef,
    Invoice,
    InvoiceLine,
    ItemId,
    LineStatus,
    LotInfo,
    Money,
    Note,
    OrderAcknowledgment,
    Pack,
    Party,
    PartyId,
    PaymentTerms,
    PriceCatalog,
    PurchaseOrder,
    PurchaseOrderLine,
    Quantity,
    Reference,
    Remittance,
    RemittanceLine,
    ShipmentItem,
    ShipmentOrder,
    ShipmentPack,
    ShipNotice,
    SourceInfo,
    Tax,
)
from transforms.supply.models import ITEM_ID_KINDS, PARTY_ID_KINDS, PARTY_ROLES


def sample_po() -> PurchaseOrder:
    """A purchase order touching every field."""
    return PurchaseOrder(
        source=SourceInfo(set_id="850", set_control_number="0001", sender_id="GOODHEALTH",
                          warnings=["CTT01 says 3 line items, the set holds 2"]),
        po_number="PO-77120", order_date=dt.date(2024, 1, 16), purpose="original",
        order_type="stand_alone", release_number="R1", contract_number="C-9", currency="USD",
        references=[Reference(kind="VR", value="54321", description="vendor id")],
        contacts=[Contact(function="BD", name="Pat Buyer", phone="555-0100",
                          email="pat@example.test", fax="555-0101")],
        terms=[PaymentTerms(kind="01", basis_date="3", discount_percent=Decimal("2"),
                            discount_due_date=dt.date(2024, 2, 1), discount_days=10,
                            net_due_date=dt.date(2024, 2, 15), net_days=30,
                            discount_amount=Money(amount=Decimal("7.20")),
                            description="2% 10 NET 30")],
        requested_delivery_date=dt.date(2024, 1, 20),
        dates=[DateRef(kind="delivery_requested", date=dt.date(2024, 1, 21), time="1200"),
               DateRef(kind="ship_no_later", date=dt.date(2024, 1, 18))],
        allowances_charges=[AllowanceCharge(indicator="charge", code="D240",
                                            amount=Money(amount=Decimal("12.50")),
                                            description="freight")],
        notes=[Note(kind="L1", reference="NOTES", lines=["Deliver to dock 4", "Call first"])],
        parties=[Party(role="ship_to", name="GOOD HEALTH HOSPITAL",
                       ids=[PartyId(kind="gln", value="0614141000005")],
                       additional_names=["Central Supply"],
                       address=Address(lines=["1 Main St", "Dock 4"], city="Springfield",
                                       state="IL", postal_code="62701", country="US"),
                       contacts=[Contact(name="Receiving", phone="555-0199")],
                       references=[Reference(kind="DP", value="SURG")])],
        lines=[PurchaseOrderLine(
            line_number="1", quantity=Quantity(value=Decimal("100"), unit="EA"),
            unit_price=Money(amount=Decimal("0.42")), price_basis="PE",
            item_ids=[ItemId(kind="vendor_catalog", value="GMD-88291"),
                      ItemId(kind="gtin", value="00614141999996"),
                      ItemId(kind="B6", value="sender's own qualifier")],
            description="Gauze pad 4x4 sterile", pack=Pack(pack=10, size=Decimal("10"),
                                                           unit="EA"),
            requested_delivery_date=dt.date(2024, 1, 19),
            dates=[DateRef(kind="ship_requested", date=dt.date(2024, 1, 17))],
            references=[Reference(kind="CT", value="GPO-1")],
            allowances_charges=[AllowanceCharge(indicator="allowance", code="C310",
                                                percent=Decimal("5"), percent_basis="3")],
            notes=[Note(kind="ZZ", lines=["latex free"])],
            parties=[Party(role="ship_to", name="OR 3")])],
        amounts=[Amount(kind="total", value=Money(amount=Decimal("42.00")))],
    )


def sample_documents() -> list[BaseModel]:
    """One instance of every document type."""
    return [
        sample_po(),
        OrderAcknowledgment(
            po_number="PO-1", po_date=dt.date(2024, 1, 2), ack_type="accepted_with_changes",
            lines=[AckLine(quantity=Quantity(value=Decimal("5"), unit="CA"),
                           statuses=[LineStatus(status="accepted",
                                                quantity=Quantity(value=Decimal("3"))),
                                     LineStatus(status="backordered", code="BP",
                                                date_kind="estimated_delivery",
                                                date=dt.date(2024, 2, 1))])]),
        ShipNotice(shipment_id="SH1", notice_date=dt.date(2024, 1, 3),
                   orders=[ShipmentOrder(po_number="PO-1", packs=[ShipmentPack(
                       marks=[Reference(kind="GM", value="00106141411234567897")],
                       items=[ShipmentItem(item_ids=[ItemId(kind="gtin", value="1")],
                                           shipped_quantity=Quantity(value=Decimal("2")),
                                           lots=[LotInfo(lot="L1", expiry_date=dt.date(
                                               2026, 1, 31))])])])]),
        Invoice(invoice_number="INV-1", invoice_date=dt.date(2024, 1, 4),
                total=Money(amount=Decimal("10.00")),
                lines=[InvoiceLine(quantity=Quantity(value=Decimal("1")),
                                   unit_price=Money(amount=Decimal("10")),
                                   taxes=[Tax(kind="ST", percent=Decimal("8.25"))])]),
        Remittance(payment_id="CHK-1", handling="payment_with_remittance",
                   payment_amount=Money(amount=Decimal("10.00")), method="check",
                   lines=[RemittanceLine(document_number="INV-1",
                                         amount_paid=Money(amount=Decimal("10.00")))]),
        PriceCatalog(catalog_id="CAT-1", catalog_purpose="PC",
                     items=[CatalogItem(item_ids=[ItemId(kind="hibcc", value="+H123")],
                                        prices=[CatalogPrice(kind="CON", unit_price=Money(
                                            amount=Decimal("1.25")), quantity=Decimal("100"),
                                            unit="EA")])]),
    ]


_SAFE = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 -./#&,()'"
_text = st.text(alphabet=_SAFE, min_size=1, max_size=24).map(str.strip).filter(bool)
_opt_text = st.none() | _text
_dates = st.dates(min_value=dt.date(1950, 1, 1), max_value=dt.date(2099, 12, 31))
_units = st.sampled_from(["EA", "CA", "BX", "PK", "LB", "KG", "DZ", "CS"])
_times = st.sampled_from(["0800", "1445", "235959"])


def _decimals(places: int, low: int = -10**6, high: int = 10**7) -> st.SearchStrategy[Decimal]:
    return st.decimals(min_value=low, max_value=high, places=places, allow_nan=False,
                       allow_infinity=False)


def _money(currency: str) -> st.SearchStrategy[Money]:
    return st.builds(Money, amount=_decimals(2), currency=st.just(currency))


_item_ids = st.lists(st.builds(ItemId, kind=st.sampled_from(
    [*ITEM_ID_KINDS, "B6", "PR", "TP", "EC"]), value=_text), max_size=10)
_refs = st.lists(st.builds(Reference, kind=st.sampled_from(["VR", "DP", "CT", "ZZ"]),
                           value=_text, description=_opt_text), max_size=2)
_other_dates = st.lists(st.builds(DateRef, kind=st.sampled_from(
    ["ship_requested", "ship_no_later", "cancel_after", "999"]), date=_dates,
    time=st.none() | _times), max_size=2)
_contacts = st.lists(st.builds(Contact, function=st.none() | st.sampled_from(["BD", "IC"]),
                               name=_opt_text, phone=_opt_text, email=_opt_text,
                               fax=_opt_text), max_size=2)
_addresses = st.none() | st.builds(
    Address, lines=st.lists(_text, max_size=3), city=_text, state=_opt_text,
    postal_code=_opt_text, country=st.none() | st.just("US"))
_parties = st.lists(st.builds(
    Party, role=st.sampled_from([*PARTY_ROLES, "Z7"]), name=_opt_text,
    ids=st.lists(st.builds(PartyId, kind=st.sampled_from([*PARTY_ID_KINDS, "ZX"]),
                           value=_text), max_size=1),
    additional_names=st.lists(_text, max_size=3), address=_addresses, contacts=_contacts,
    references=_refs), max_size=3)
_notes = st.lists(st.builds(Note, kind=st.sampled_from(["L1", "ZZ"]), reference=_opt_text,
                            lines=st.lists(_text, max_size=3)), max_size=2)


def _sacs(currency: str) -> st.SearchStrategy[list[AllowanceCharge]]:
    return st.lists(st.builds(
        AllowanceCharge, indicator=st.sampled_from(["allowance", "charge", "no_charge", "Q"]),
        code=st.none() | st.sampled_from(["C310", "D240", "H850"]),
        amount=st.none() | _money(currency), percent=st.none() | _decimals(3, 0, 100),
        percent_basis=st.none() | st.just("3"), handling=st.none() | st.just("02"),
        reference=_opt_text, description=_opt_text), max_size=2)


@st.composite
def _lines(draw: st.DrawFn, currency: str) -> PurchaseOrderLine:
    line_currency = draw(st.sampled_from([currency, currency, "EUR"]))
    price = draw(st.none() | _money(line_currency))
    sac_currency = price.currency if price else currency
    return PurchaseOrderLine(
        line_number=draw(_opt_text), quantity=Quantity(value=draw(_decimals(4)),
                                                       unit=draw(st.none() | _units)),
        unit_price=price, price_basis=draw(st.none() | st.sampled_from(["PE", "CA", "CT"])),
        item_ids=draw(_item_ids), description=draw(_opt_text),
        pack=draw(st.none() | st.builds(Pack, pack=st.integers(1, 999),
                                        size=st.none() | _decimals(2, 0), unit=_units)),
        requested_delivery_date=draw(st.none() | _dates), dates=draw(_other_dates),
        references=draw(_refs), allowances_charges=draw(_sacs(sac_currency)),
        notes=draw(_notes), parties=draw(st.lists(st.builds(
            Party, role=st.sampled_from(["ship_to", "Z7"]), name=_opt_text), max_size=1)))


@st.composite
def purchase_orders(draw: st.DrawFn, min_lines: int = 1, max_lines: int = 60) -> PurchaseOrder:
    """Random purchase orders: 1-60 lines, random decimals, units, ids and parties."""
    stated = draw(st.none() | st.sampled_from(["USD", "CAD"]))
    currency = stated or "USD"
    return PurchaseOrder(
        po_number=draw(_text), order_date=draw(_dates),
        purpose=draw(st.sampled_from(["original", "cancel", "change", "replace", "77"])),
        order_type=draw(st.sampled_from(["stand_alone", "blanket", "release", "XX"])),
        release_number=draw(_opt_text), contract_number=draw(_opt_text), currency=stated,
        references=draw(_refs), contacts=draw(_contacts),
        terms=draw(st.lists(st.builds(
            PaymentTerms, kind=st.none() | st.just("01"), basis_date=st.none() | st.just("3"),
            discount_percent=st.none() | _decimals(3, 0, 100),
            discount_due_date=st.none() | _dates, discount_days=st.none() | st.integers(0, 99),
            net_due_date=st.none() | _dates, net_days=st.none() | st.integers(0, 365),
            discount_amount=st.none() | _money(currency), description=_opt_text), max_size=2)),
        requested_delivery_date=draw(_dates), dates=draw(_other_dates),
        allowances_charges=draw(_sacs(currency)), notes=draw(_notes), parties=draw(_parties),
        lines=draw(st.lists(_lines(currency), min_size=min_lines, max_size=max_lines)),
        amounts=draw(st.lists(st.builds(Amount, kind=st.sampled_from(
            ["total", "line_items_total", "ZZ"]), value=_money(currency)), max_size=2)))
