"""Canonical supply-chain models: validation rules and lossless JSON round trips."""

from __future__ import annotations

import datetime as dt
import typing
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from engine.errors import ValidationError
from tests.unit.canonical_samples import purchase_orders, sample_documents, sample_po
from transforms import supply
from transforms.supply import (
    AckLine,
    Address,
    CatalogItem,
    CatalogPrice,
    DateRef,
    ItemId,
    LineStatus,
    LotInfo,
    Money,
    Pack,
    PurchaseOrder,
    Quantity,
    Reference,
    ShipNotice,
    dump_document,
    load_document,
)
from transforms.supply.models import ITEM_ID_KINDS, PARTY_ID_KINDS, PARTY_ROLES
from transforms.x12_canonical import codes


@pytest.mark.parametrize("doc", sample_documents(), ids=lambda d: d.doc_type)
def test_json_round_trip_is_lossless(doc: BaseModel) -> None:
    text = doc.model_dump_json()
    back = type(doc).model_validate_json(text)
    assert back == doc
    assert back.model_dump_json() == text
    loaded = load_document(dump_document(doc))
    assert loaded == doc and type(loaded) is type(doc)


def test_decimals_keep_their_exact_form_in_json() -> None:
    money = Money(amount=Decimal("1.50"))
    assert money.model_dump_json() == '{"amount":"1.50","currency":"USD"}'
    assert Money.model_validate_json(money.model_dump_json()).amount.as_tuple() == \
        Decimal("1.50").as_tuple()


def _optional(annotation: object) -> bool:
    return type(None) in typing.get_args(annotation)


def _models() -> list[type[BaseModel]]:
    return [v for v in vars(supply).values()
            if isinstance(v, type) and issubclass(v, BaseModel)]


@pytest.mark.parametrize("model", _models(), ids=lambda m: m.__name__)
def test_optional_fields_default_to_none_and_models_forbid_extras(
        model: type[BaseModel]) -> None:
    # dump_document drops None fields: that is lossless only if every optional field
    # defaults to None.
    for name, info in model.model_fields.items():
        if _optional(info.annotation):
            assert info.default is None, f"{model.__name__}.{name}"
    assert model.model_config.get("extra") == "forbid"


def test_unknown_fields_are_rejected() -> None:
    with pytest.raises(PydanticValidationError):
        ItemId.model_validate({"kind": "gtin", "value": "1", "colour": "red"})


def test_strings_are_stripped_and_empty_ones_rejected() -> None:
    assert ItemId(kind=" gtin ", value=" 123 ").value == "123"
    with pytest.raises(PydanticValidationError):
        ItemId(kind="gtin", value="   ")


@pytest.mark.parametrize("amount", ["NaN", "Infinity", "-Infinity", "abc"])
def test_money_rejects_non_finite_amounts(amount: str) -> None:
    with pytest.raises(PydanticValidationError):
        Money(amount=amount)


@pytest.mark.parametrize("currency", ["usd", "US", "EURO", ""])
def test_money_currency_is_iso_4217(currency: str) -> None:
    with pytest.raises(PydanticValidationError):
        Money(amount=Decimal(1), currency=currency)


@pytest.mark.parametrize("model, data", [
    (Address, {}), (LotInfo, {}), (Pack, {}), (Reference, {"kind": "PO"}),
])
def test_empty_parts_are_rejected(model: type[BaseModel], data: dict) -> None:
    with pytest.raises(PydanticValidationError):
        model.model_validate(data)


def test_line_status_code_is_filled_from_status_and_checked() -> None:
    assert LineStatus(status="rejected").code == "IR"
    assert LineStatus(status="changed", code="IQ").status == "changed"
    assert LineStatus(status="other", code="ZZ").code == "ZZ"
    with pytest.raises(PydanticValidationError, match="means 'accepted'"):
        LineStatus(status="rejected", code="IA")
    with pytest.raises(PydanticValidationError):
        LineStatus(status="other")


def test_ack_line_status_is_its_first_ack() -> None:
    line = AckLine(quantity=Quantity(value=Decimal(1)),
                   statuses=[LineStatus(status="backordered"), LineStatus(status="accepted")])
    assert line.status == "backordered"
    assert AckLine(quantity=Quantity(value=Decimal(1))).status is None


def test_named_dates_have_one_canonical_place() -> None:
    with pytest.raises(PydanticValidationError, match="delivery_requested"):
        PurchaseOrder(po_number="1", order_date=dt.date(2024, 1, 1),
                      dates=[DateRef(kind="delivery_requested", date=dt.date(2024, 1, 2))])
    with pytest.raises(PydanticValidationError, match="shipped"):
        ShipNotice(shipment_id="S", notice_date=dt.date(2024, 1, 1),
                   dates=[DateRef(kind="shipped", date=dt.date(2024, 1, 2))])


def test_date_time_format_is_checked() -> None:
    assert DateRef(kind="shipped", date=dt.date(2024, 1, 1), time="235959").time == "235959"
    with pytest.raises(PydanticValidationError):
        DateRef(kind="shipped", date=dt.date(2024, 1, 1), time="12:00")


def test_line_amounts_and_helpers() -> None:
    po = sample_po()
    assert po.lines[0].amount == Money(amount=Decimal("42.00"))
    assert po.party("ship_to") is not None and po.party("bill_to") is None
    notice = sample_documents()[2]
    assert isinstance(notice, ShipNotice)
    assert [i.item_ids[0].value for i in notice.all_items()] == ["1"]
    item = CatalogItem(descriptions=["a", "b"], prices=[
        CatalogPrice(kind="CAT", unit_price=Money(amount=Decimal(1))),
        CatalogPrice(kind="CON", unit_price=Money(amount=Decimal(1)), unit="CA")])
    assert item.description == "a" and item.unit == "CA"


def test_load_document_reports_the_bad_field() -> None:
    with pytest.raises(ValidationError) as err:
        load_document('{"doc_type": "purchase_order", "po_number": "1"}')
    assert err.value.location == "purchase_order.order_date"
    with pytest.raises(ValidationError):
        load_document('{"doc_type": "spaceship"}')
    with pytest.raises(ValidationError):
        load_document("not json")


def test_x12_code_words_belong_to_the_model_vocabularies() -> None:
    assert set(codes.ITEM_ID_KINDS.words.values()) <= set(ITEM_ID_KINDS)
    assert set(codes.PARTY_ROLES.words.values()) <= set(PARTY_ROLES)
    assert set(codes.PARTY_ID_KINDS.words.values()) <= set(PARTY_ID_KINDS)


def test_code_maps_pass_unknown_codes_through() -> None:
    m = codes.ITEM_ID_KINDS
    assert m.word("UK") == "gtin" and m.code("gtin") == "UK"
    assert m.word("B6") == "B6" and m.code("B6") == "B6"
    with pytest.raises(ValueError):
        codes.CodeMap("bad", {"A": "x", "B": "x"})


# -- random purchase orders (also used by the X12 850 property test) ----------------------------

@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(purchase_orders(max_lines=8))
def test_property_random_purchase_orders_survive_json(po: PurchaseOrder) -> None:
    assert PurchaseOrder.model_validate_json(po.model_dump_json()) == po
    assert load_document(dump_document(po)) == po
