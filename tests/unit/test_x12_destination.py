"""X12 destination: sets batched into interchanges with persistent per-partner control numbers."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from twisted.internet import defer

from engine.connector import ConnectorContext
from engine.errors import PermanentDeliveryError, RetryableDeliveryError
from engine.errors import ValidationError as InvalidMessage
from engine.message import Message
from engine.store.sqlite import SqliteStore
from protocols.x12 import parse
from protocols.x12.destination import X12Destination, X12DestinationConfig
from protocols.x12.envelope import validate_envelope
from transforms.supply.documents import dump_document
from transforms.x12_canonical import from_x12

try:
    from tests.unit.reactor_thread import reactor_thread, run_coroutine, run_in_reactor
except ModuleNotFoundError:  # plain `pytest` with tests/unit not importable as a package
    from reactor_thread import (  # type: ignore[no-redef]
        reactor_thread,
        run_coroutine,
        run_in_reactor,
    )

__all__ = ["reactor_thread"]

DATA = Path(__file__).resolve().parents[1] / "data" / "x12"
PO_850 = (DATA / "850_po_4010_small_nodex12.edi").read_bytes()
INVOICE_810 = (DATA / "edge_810_invoice_b_edinet.edi").read_bytes()

PARTNERS = """\
us: {qualifier: ZZ, id: GOODHEALTH}
partners:
  - {name: acme-medical, qualifier: ZZ, id: ACMEMED, terminator: "~", element: "*",
     component: ">"}
"""


@pytest.fixture
def partners(tmp_path: Path) -> Path:
    path = tmp_path / "partners.yaml"
    path.write_text(PARTNERS)
    return path


@pytest.fixture
def store(tmp_path: Path, reactor_thread: Any) -> Iterator[SqliteStore]:  # noqa: F811
    opened = SqliteStore(str(tmp_path / "plexus.db"), reactor_thread)
    run_in_reactor(opened.open)
    yield opened
    run_in_reactor(opened.close)


def config(partners: Path, out: Path, **overrides: Any) -> X12DestinationConfig:
    return X12DestinationConfig.model_validate({
        "name": "supplier", "type": "x12", "partners": str(partners), "partner": "acme-medical",
        "to": {"type": "file", "directory": str(out), "filename": "{correlation_id}.x12"},
        "batch_window": "100ms", **overrides})


def make(store: SqliteStore, cfg: X12DestinationConfig) -> X12Destination:
    from twisted.internet import reactor

    context = ConnectorContext("po-outbound", cfg.name, reactor,
                               logging.getLogger("test.x12"), store=store)
    return X12Destination(cfg, context)


def send_all(dest: X12Destination, messages: list[Message]) -> list[Any]:
    """Send concurrently (as the worker does with max_in_flight); results or exceptions."""
    async def together() -> list[Any]:
        sends = [defer.ensureDeferred(dest.send(m)) for m in messages]
        outcomes = await defer.DeferredList(sends, consumeErrors=True)
        return [value if ok else value.value for ok, value in outcomes]

    return run_coroutine(together)


def x12(content: bytes) -> Message:
    return Message(content, "x12", channel="po-outbound")


def written(out: Path) -> dict[str, bytes]:
    return {name: (out / name).read_bytes() for name in sorted(os.listdir(out))}


def test_concurrent_sets_travel_in_one_interchange(store: SqliteStore, partners: Path,
                                                   tmp_path: Path) -> None:
    out = tmp_path / "out"
    dest = make(store, config(partners, out))
    receipts = send_all(dest, [x12(PO_850), x12(PO_850), x12(INVOICE_810)])
    assert receipts == [b"ISA13=000000001 GS06=1 ST02=0001",
                        b"ISA13=000000001 GS06=1 ST02=0002",
                        b"ISA13=000000001 GS06=2 ST02=0001"]
    files = written(out)
    assert list(files) == ["acme-medical-000000001.x12"]
    (ic,) = parse(files["acme-medical-000000001.x12"])
    assert (ic.sender_qualifier, ic.sender_id.strip()) == ("ZZ", "GOODHEALTH")
    assert ic.isa.element(8).strip() == "ACMEMED"
    assert ic.control_number == "000000001"
    assert [(g.functional_id, g.control_number, [s.set_id for s in g.sets]) for g in ic.groups] \
        == [("PO", "1", ["850", "850"]), ("IN", "2", ["810"])]
    assert [s.control_number for s in ic.groups[0].sets] == ["0001", "0002"]
    report = validate_envelope(ic, receivers={"ACMEMED"})
    assert report.ok, report.faults
    original = parse(PO_850)[0].groups[0].sets[0]
    assert ic.groups[0].sets[1].segments == original.segments  # the body travels unchanged


def test_control_numbers_persist_and_never_repeat(store: SqliteStore, partners: Path,
                                                  tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = send_all(make(store, config(partners, out)), [x12(PO_850)])
    second = send_all(make(store, config(partners, out)), [x12(PO_850)])  # e.g. after restart
    assert first == [b"ISA13=000000001 GS06=1 ST02=0001"]
    assert second == [b"ISA13=000000002 GS06=2 ST02=0001"]
    assert list(written(out)) == ["acme-medical-000000001.x12", "acme-medical-000000002.x12"]


def test_canonical_document_is_written_as_its_set(store: SqliteStore, partners: Path,
                                                  tmp_path: Path) -> None:
    ic = parse(PO_850)[0]
    doc = from_x12(ic.groups[0].sets[0], ic.groups[0], ic)
    out = tmp_path / "out"
    receipts = send_all(make(store, config(partners, out)),
                        [Message(dump_document(doc), "json", channel="po-outbound")])
    assert receipts == [b"ISA13=000000001 GS06=1 ST02=0001"]
    (sent,) = parse(written(out)["acme-medical-000000001.x12"])
    (ts,) = sent.groups[0].sets
    assert (sent.groups[0].functional_id, ts.set_id) == ("PO", "850")
    back = from_x12(ts, sent.groups[0], sent)
    assert back.model_dump(exclude={"source"}) == doc.model_dump(exclude={"source"})
    assert back.source.interchange_control_number == "000000001"


def test_bad_message_fails_alone(store: SqliteStore, partners: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    clashing = PO_850.replace(b"N4*SAN DIEGO*CA", b"N4*SAN~DIEGO*CA")  # ~ ends segments there
    outcomes = send_all(make(store, config(partners, out)),
                        [x12(PO_850), x12(b"no interchange here"),
                         Message(b"{}", "json", channel="po-outbound"),
                         Message(b"MSH|^~\\&|", "hl7v2", channel="po-outbound"), x12(clashing)])
    assert outcomes[0] == b"ISA13=000000001 GS06=1 ST02=0001"
    assert [type(o) for o in outcomes[1:]] == [PermanentDeliveryError, InvalidMessage,
                                               PermanentDeliveryError, PermanentDeliveryError]
    assert "not a canonical document" in str(outcomes[2])
    assert "not an X12 interchange" in str(outcomes[1])
    assert "hl7v2" in str(outcomes[3])
    assert "contains delimiter '~'" in str(outcomes[4])
    assert list(written(out)) == ["acme-medical-000000001.x12"]


def test_transport_failure_fails_the_batch_and_numbers_move_on(
        store: SqliteStore, partners: Path, tmp_path: Path) -> None:
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the directory should be")
    outcomes = send_all(make(store, config(partners, blocked)), [x12(PO_850), x12(PO_850)])
    assert all(isinstance(o, RetryableDeliveryError) for o in outcomes), outcomes
    out = tmp_path / "out"
    assert send_all(make(store, config(partners, out)), [x12(PO_850)]) == \
        [b"ISA13=000000002 GS06=2 ST02=0001"]


def test_max_sets_sends_without_waiting_for_the_window(store: SqliteStore, partners: Path,
                                                       tmp_path: Path) -> None:
    out = tmp_path / "out"
    dest = make(store, config(partners, out, batch_window="1h", max_sets=2))
    assert send_all(dest, [x12(PO_850), x12(PO_850)]) == [
        b"ISA13=000000001 GS06=1 ST02=0001", b"ISA13=000000001 GS06=1 ST02=0002"]


@pytest.mark.parametrize(("overrides", "expected"), [
    ({"partner": "nobody"}, "partner 'nobody' is not in"),
    ({"to": {"type": "x12"}}, "to.type must be one of"),
    ({"to": {"type": "file"}}, "to.directory"),
    ({"to": {"type": "file", "directory": "/tmp", "colour": "red"}}, "to.colour"),
])
def test_config_errors(partners: Path, tmp_path: Path, overrides: dict[str, Any],
                       expected: str) -> None:
    with pytest.raises(ValidationError, match=expected):
        config(partners, tmp_path, **overrides)
