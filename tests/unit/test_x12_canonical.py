"""X12 <-> canonical mapping: round trips, implied decimals, bad input, channel steps."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from engine.errors import TransformError, ValidationError
from engine.message import Message
from engine.steps import StepContext
from protocols.x12 import Delimiters, Segment, parse
from protocols.x12.envelope import validate_envelope
from protocols.x12.writer import build_group, build_interchange, build_transaction_set, encode
from tests.unit.canonical_samples import purchase_orders, sample_documents, sample_po
from transforms.supply import (
    Adjustment,
    BankAccount,
    Document,
    FunctionalAcknowledgment,
    Invoice,
    Money,
    OrderAcknowledgment,
    Party,
    PartyId,
    PurchaseOrder,
    Reference,
    Remittance,
    RemittanceLine,
    ShipNotice,
    load_document,
)
from transforms.x12 import from_canonical, to_canonical
from transforms.x12_canonical import ControlNumbers, from_x12, to_x12

DATA = Path(__file__).resolve().parent.parent / "data" / "x12"
WHEN = dt.datetime(2024, 1, 16, 12, 0)
CTX = StepContext("test")


def x12(set_id: str, *segments: str, functional_id: str = "PO") -> str:
    """An interchange holding one set whose body is `segments` ("BEG*00*SA*..." strings)."""
    body = [Segment(s.split("*")[0], s.split("*")[1:]) for s in segments]
    ts = build_transaction_set(set_id, 1, body)
    group = build_group(functional_id, "SENDER", "RECEIVER", 7, [ts], when=WHEN)
    return encode(build_interchange(("ZZ", "SENDER"), ("ZZ", "RECEIVER"), [group], 42,
                                    when=WHEN))


def first_doc(text: str) -> Document:
    """The canonical document of the first set of `text`."""
    ic = parse(text)[0]
    return from_x12(ic.groups[0].sets[0], ic.groups[0], ic)


def round_trip(doc: Document, delimiters: Delimiters | None = None,
               version: str = "004010") -> Document:
    """`doc` -> X12 -> canonical, checking the written envelope on the way."""
    text = to_x12(doc, ("ZZ", "GOODHEALTH"), ("ZZ", "GMDSUPPLY"), (7, 8, 9), delimiters,
                  when=WHEN, version=version)
    report = validate_envelope(parse(text)[0])
    assert report.ok, [f.message for f in report.faults]
    return first_doc(text)


def without_source(doc: Document) -> Document:
    """`doc` with its source metadata cleared (a written set gets new control numbers)."""
    return doc.model_copy(update={"source": None})


def sample_remittance() -> Remittance:
    """A remittance with payment details, entity groups and adjustments."""
    usd = Money
    return Remittance(
        payment_id="0012345678", trace_kind="1", originator_id="1234567890",
        handling="payment_with_remittance", payment_amount=usd(amount=Decimal("1234.56")),
        credit_debit="C", method="ach", payment_format="CTX",
        payer_bank=BankAccount(routing_kind="01", routing_number="011000015",
                               account_kind="DA", account_number="987654"),
        payee_bank=BankAccount(routing_kind="01", routing_number="021000021",
                               account_kind="DA", account_number="123456"),
        originating_company_id="1234567890", payment_date=dt.date(2024, 2, 1),
        currency="USD", references=[Reference(kind="VR", value="V-77")],
        parties=[Party(role="payer", name="GOOD HEALTH HOSPITAL",
                       ids=[PartyId(kind="duns", value="123456789")]),
                 Party(role="payee", name="GMD SUPPLY")],
        adjustments=[Adjustment(amount=usd(amount=Decimal("-10.00")), reason="CS",
                                reference_kind="CM", reference="CM-1"),
                     Adjustment(amount=usd(amount=Decimal("5")), reason="ZZ", entity_number=2,
                                references=[Reference(kind="CM", value="CM-2")])],
        lines=[RemittanceLine(entity_number=1, document_number="INV-1",
                              payment_action="PO", amount_paid=usd(amount=Decimal("1000")),
                              invoice_amount=usd(amount=Decimal("1020.41")),
                              discount_amount=usd(amount=Decimal("20.41")),
                              references=[Reference(kind="PO", value="PO-77120")],
                              notes=["paid net of discount"]),
               RemittanceLine(entity_number=2, document_kind="credit_memo",
                              document_number="CM-9", amount_paid=usd(amount=Decimal("239.56")),
                              adjustments=[Adjustment(amount=usd(amount=Decimal("-0.01")),
                                                      reason="01")])])


def test_purchase_order_850_round_trip_is_exact() -> None:
    po = without_source(sample_po())
    back = round_trip(po)
    assert isinstance(back, PurchaseOrder)
    assert without_source(back) == po
    assert back.source is not None and back.source.set_control_number == "0009"
    assert back.source.sender_id == "GOODHEALTH" and back.source.warnings == []


def test_remittance_820_round_trip_is_exact() -> None:
    rem = sample_remittance()
    assert without_source(round_trip(rem)) == rem


@pytest.mark.parametrize("index", [1, 2, 3, 4], ids=["855", "856", "810", "820"])
def test_other_writers_round_trip(index: int) -> None:
    doc = sample_documents()[index]
    assert without_source(round_trip(doc)) == doc


@pytest.mark.parametrize("delimiters, version", [
    (Delimiters("|", "^", None, "\n"), "004010"),
    (Delimiters("*", ">", None, "~", "\r\n"), "004010"),
    (Delimiters("*", ":", "^", "~", "\n"), "005010"),
])
def test_round_trip_with_other_delimiters(delimiters: Delimiters, version: str) -> None:
    po = without_source(sample_po())
    assert without_source(round_trip(po, delimiters, version)) == po


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(purchase_orders())
def test_property_random_purchase_orders_survive_850(po: PurchaseOrder) -> None:
    back = round_trip(po)
    assert without_source(back) == po
    assert len(back.lines) == len(po.lines)


def test_implied_decimals_and_explicit_decimals() -> None:
    inv = first_doc(x12("810", "BIG*20240116*INV-9", "IT1*1*3*EA*1.5",
                        "SAC*A*C310***2350", "TDS*-500", "CTT*1", functional_id="IN"))
    assert isinstance(inv, Invoice)
    assert inv.total.amount == Decimal("-5.00")
    assert inv.lines[0].unit_price == Money(amount=Decimal("1.5"))
    assert inv.lines[0].allowances_charges[0].amount == Money(amount=Decimal("23.50"))
    small = first_doc(x12("810", "BIG*20240116*INV-9", "TDS*5", functional_id="IN"))
    assert isinstance(small, Invoice) and small.total.amount == Decimal("0.05")
    assert str(small.total.amount) == "0.05"


def test_n2_amounts_with_more_than_two_decimals_are_refused() -> None:
    inv = Invoice(invoice_number="1", invoice_date=dt.date(2024, 1, 1),
                  total=Money(amount=Decimal("1.005")))
    with pytest.raises(ValueError, match="more than 2 decimals"):
        to_x12(inv, ("ZZ", "A"), ("ZZ", "B"), (1, 1, 1))


@pytest.mark.parametrize("text, location", [
    (x12("850", "PO1*1*1*EA*1", "CTT*1"), "ST02=0001 BEG"),
    (x12("850", "BEG*00*SA*PO-1**20240116", "PO1*1*1*EA*1", "PO1*2*2*EA*1",
         "PO1*3*ABC*EA*1", "CTT*3"), "ST02=0001 PO1[3].PO102"),
    (x12("850", "BEG*00*SA*PO-1**20241399"), "ST02=0001 BEG[1].BEG05"),
    (x12("850", "BEG*00*SA*PO-1**20240116", "PO1*1*1*EA*1**VC"), None),
    (x12("850", "BEG*00*SA*PO-1**20240116", "PO1*1*1*EA*1***X1"), "ST02=0001 PO1[1].PO106"),
    (x12("860", "BCH*00*SA*PO-1"), "ST02=0001 ST01"),
    (x12("810", "BIG*20240116*INV-9", "CTT*0", functional_id="IN"), "ST02=0001 TDS"),
    (x12("810", "BIG*20240116*INV-9", "TDS*12.34", functional_id="IN"),
     "ST02=0001 TDS[1].TDS01"),
    (x12("856", "BSN*00*S1*20240116", "HL*1**S", "HL*2*9*O", functional_id="SH"),
     "ST02=0001 HL[2].HL02"),
    (x12("820", "BPR*C*abc*C*ACH", "TRN*1*T1", functional_id="RA"),
     "ST02=0001 BPR[1].BPR02"),
    (x12("850", "BEG*00*SA*PO-1**20240116", "PO1*1*1*EA*1*PE*" + "Q" * 41 + "*X"),
     "ST02=0001 850"),
])
def test_bad_input_raises_located_transform_error(text: str, location: str | None) -> None:
    if location is None:  # a qualifier without a value is skipped, not an error
        assert isinstance(first_doc(text), PurchaseOrder)
        return
    with pytest.raises(TransformError) as err:
        first_doc(text)
    assert err.value.location == location
    with pytest.raises(TransformError) as step_err:
        to_canonical(Message(text, "x12"), CTX)
    assert step_err.value.location == location


def test_warnings_for_counts_that_disagree() -> None:
    po = first_doc(x12("850", "BEG*00*SA*PO-1**20240116", "PO1*1*1*EA*1", "CTT*2"))
    assert po.source is not None
    assert po.source.warnings == ["CTT01 says 2 line items, the set holds 1"]


def test_856_hierarchy_without_parent_links_and_item_orders() -> None:
    notice = first_doc(x12(
        "856", "BSN*00*S1*20240116*1200", "HL*1**S", "TD1*CTN*2", "REF*BM*BOL1",
        "DTM*011*20240116*0800", "HL*2**O", "PRF*PO-1", "HL*3**P", "MAN*GM*0001",
        "HL*4**I", "LIN*1*UK*00614141999996*LT*LOT-A", "SN1**5*EA", "REF*SE*SN-1",
        "DTM*036*20260131", "HL*5**I", "LIN*2*VC*X", "SN1**1*BX", "CTT*5",
        functional_id="SH"))
    assert isinstance(notice, ShipNotice)
    assert notice.ship_date == dt.date(2024, 1, 16)
    assert notice.carrier is not None and notice.carrier.bill_of_lading == "BOL1"
    (order,) = notice.orders
    assert order.po_number == "PO-1" and len(order.packs) == 1
    (pack,) = order.packs
    assert [m.value for m in pack.marks] == ["0001"]
    assert [i.line_number for i in pack.items] == ["1", "2"]
    lot = pack.items[0].lots[0]
    assert (lot.lot, lot.serial, lot.expiry_date) == ("LOT-A", "SN-1", dt.date(2026, 1, 31))
    assert [i.kind for i in pack.items[0].item_ids] == ["gtin"]
    assert without_source(round_trip(notice)) == without_source(notice)


def test_855_line_statuses() -> None:
    ack = first_doc(x12(
        "855", "BAK*00*AC*PO-1*20240116", "PO1*1*10*EA*2.5**VC*A", "ACK*IA*6*EA",
        "ACK*IB*4*EA*017*20240201", "PO1*2*1*EA*9**VC*B", "ACK*IR*1*EA", "CTT*2",
        functional_id="PR"))
    assert isinstance(ack, OrderAcknowledgment)
    assert ack.ack_type == "accepted_with_changes"
    assert [line.status for line in ack.lines] == ["accepted", "rejected"]
    backorder = ack.lines[0].statuses[1]
    assert backorder.status == "backordered" and backorder.quantity is not None
    assert backorder.quantity.value == 4 and backorder.date == dt.date(2024, 2, 1)


def test_to_canonical_makes_one_message_per_set() -> None:
    raw = (DATA / "850_po_two_sets_nodex12.edi").read_bytes()
    out = to_canonical(Message(raw, "x12", metadata={"source": "sftp"}), CTX)
    assert len(out) == 2
    for msg in out:
        assert msg.content_type == "json"
        assert msg.correlation_id == "000003438-1421-000000010"
        assert msg.metadata["source"] == "sftp"
        assert msg.metadata["set_id"] == "850"
        assert msg.metadata["document_type"] == "purchase_order"
        assert msg.metadata["document_number"] == "08292233294"
        assert msg.metadata["sender_id"] == "4405197800"
        assert msg.metadata["receiver_id"] == "999999999"
        doc = load_document(msg.content)
        assert isinstance(doc, PurchaseOrder) and len(doc.lines) == 6
        assert "null" not in msg.text


def test_to_canonical_rejects_an_interchange_without_sets() -> None:
    empty = encode(build_interchange(("ZZ", "A"), ("ZZ", "B"), [], 1, when=WHEN))
    with pytest.raises(TransformError):
        to_canonical(Message(empty, "x12"), CTX)


def test_from_canonical_writes_an_850_with_derived_control_numbers() -> None:
    po = without_source(sample_po())
    msg = Message(po.model_dump_json(), "json", message_id=41, correlation_id="c-1")
    out = from_canonical(msg, CTX, "ZZ", "GOODHEALTH", "ZZ", "GMDSUPPLY")
    assert out.content_type == "x12" and out.correlation_id == "c-1"
    ic = parse(out.content)[0]
    assert ic.control_number == "000000042" and ic.groups[0].control_number == "42"
    assert ic.groups[0].functional_id == "PO" and ic.sender_id == "GOODHEALTH"
    assert ic.groups[0].sets[0].control_number == "0001"
    assert out.metadata["x12_control_numbers"] == {"interchange": 42, "group": 42,
                                                   "transaction_set": 1}
    assert without_source(from_x12(ic.groups[0].sets[0], ic.groups[0], ic)) == po


def test_from_canonical_control_numbers_from_arguments_or_metadata() -> None:
    rem = sample_remittance()
    msg = Message(rem.model_dump_json(), "json", message_id=5, metadata={
        "x12_control_numbers": {"interchange": 900, "group": 901, "transaction_set": 902}})
    out = from_canonical(msg, CTX, "ZZ", "A", "ZZ", "B")
    ic = parse(out.content)[0]
    assert (ic.control_number, ic.groups[0].control_number) == ("000000900", "901")
    assert ic.groups[0].functional_id == "RA" and ic.groups[0].sets[0].set_id == "820"
    out = from_canonical(msg, CTX, "ZZ", "A", "ZZ", "B", interchange_control_number=77,
                         delimiters={"element": "|", "component": "^", "repetition": None,
                                     "terminator": "\n"})
    assert out.text.startswith("ISA|") and parse(out.content)[0].control_number == "000000077"
    no_id = Message(rem.model_dump_json(), "json", correlation_id="abc")
    numbers = parse(from_canonical(no_id, CTX, "ZZ", "A", "ZZ", "B").content)[0]
    assert 1 <= int(numbers.control_number) <= 999_999_999


def test_from_canonical_errors() -> None:
    catalog = sample_documents()[5]
    with pytest.raises(TransformError, match="cannot write price_catalog"):
        from_canonical(Message(catalog.model_dump_json(), "json"), CTX, "ZZ", "A", "ZZ", "B")
    with pytest.raises(ValidationError):
        from_canonical(Message(json.dumps({"doc_type": "invoice"}), "json"), CTX,
                       "ZZ", "A", "ZZ", "B")
    po = without_source(sample_po())
    bad = po.model_copy(update={"po_number": "PO*1"})
    with pytest.raises(TransformError, match="delimiter"):
        from_canonical(Message(bad.model_dump_json(), "json"), CTX, "ZZ", "A", "ZZ", "B")


def test_control_numbers_tuple() -> None:
    assert ControlNumbers(1, 2, 3) == (1, 2, 3)


def test_997_becomes_a_functional_acknowledgment_with_set_verdicts_and_errors() -> None:
    text = (DATA / "authored" / "997_ack_for_850_partial_authored.edi").read_bytes()
    (message,) = to_canonical(Message(text, "x12"), StepContext("c"))
    ack = load_document(message.content)
    assert isinstance(ack, FunctionalAcknowledgment)
    assert (ack.ack_type, ack.functional_id, ack.group_control_number, ack.status) == (
        "997", "PO", "1421", "partially_accepted")
    assert (ack.sets_included, ack.sets_received, ack.sets_accepted) == (2, 2, 1)
    rejected, accepted = ack.sets
    assert (rejected.control_number, rejected.status, rejected.codes) == (
        "000000010", "rejected", ["5"])
    assert [(e.segment, e.position, e.element, e.code, e.value) for e in rejected.errors] == [
        ("PO1", 7, None, "8", None), ("PO1", 7, "4", "6", "ABC")]
    assert (accepted.control_number, accepted.status, accepted.errors) == (
        "000000011", "accepted", [])
    assert message.metadata["document_type"] == "functional_acknowledgment"


def test_999_sets_are_read_too() -> None:
    text = (DATA / "999_multiple_5010_pyx12.x12").read_bytes()
    acks = [load_document(m.content) for m in to_canonical(Message(text, "x12"),
                                                            StepContext("c"))]
    assert [(a.ack_type, a.functional_id, a.status) for a in acks] == [
        ("999", "BE", "accepted")] * 4
