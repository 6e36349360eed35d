"""X12 over HTTP against a running engine: 850s in, TA1/997 back, sets delivered once."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from protocols.x12 import parse
from protocols.x12.writer import (
    build_group,
    build_interchange,
    build_transaction_set,
    encode,
    make_segment,
)

from .engine_process import EngineProcess, free_port
from .x12_client import ids, interchange, po, post

PARTNERS = """\
us: {qualifier: ZZ, id: GOODHEALTH}
partners:
  - {name: acme-medical, qualifier: ZZ, id: ACMEMED, ack: "997", ta1: on-request}
  - {name: quiet-supply, qualifier: ZZ, id: QUIET, ack: none, ta1: never}
  - {name: strict-supply, qualifier: ZZ, id: STRICT, ack: "997", ta1: always, usage: P}
"""

CHANNEL = """\
name: supplier-po-inbound
source:
  type: x12-http
  host: 127.0.0.1
  port: {port}
  path: /x12
  partners: {partners}
  max_body_bytes: 64KiB
destinations:
  - {{name: po-store, type: file, directory: {out}, filename: "{{correlation_id}}.x12"}}
"""


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[EngineProcess, int]]:
    """One engine for the module; its file destination writes to <workdir>/out."""
    work = tmp_path_factory.mktemp("x12")
    partners = work / "partners.yaml"
    partners.write_text(PARTNERS)
    port = free_port()
    channel = CHANNEL.format(port=port, partners=partners, out=work / "out")
    with EngineProcess(work / "engine", {"po": channel}, log_level="warning") as proc:
        yield proc, port


def listed(proc: EngineProcess) -> list[dict[str, Any]]:
    out = proc.cli("messages", "list", "--json", "--limit", "10000", check=True).stdout
    return list(json.loads(out))


@pytest.mark.slow
def test_an_850_is_acknowledged_with_a_997_and_delivered_once(
        engine: tuple[EngineProcess, int]) -> None:
    proc, port = engine
    status, ctype, body = post(port, interchange(isa13=101, gs06=7))
    assert (status, ctype) == (200, "application/edi-x12")
    (isa,) = ids(body, "ISA")
    assert (isa[5], isa[6].strip(), isa[7], isa[8].strip()) == ("ZZ", "GOODHEALTH", "ZZ",
                                                                "ACMEMED")
    assert ids(body, "AK1") == [["AK1", "PO", "7"]]
    assert ids(body, "AK2") == [["AK2", "850", "0001"]]
    assert ids(body, "AK5") == [["AK5", "A"]]
    assert ids(body, "AK9") == [["AK9", "A", "1", "1", "1"]]
    assert ids(body, "TA1") == []  # ISA14 = 0: no TA1 asked for
    out = proc.workdir.parent / "out"
    proc.wait_for(lambda: (out / "000000101-7-0001.x12").exists(), what="delivery")
    delivered = parse((out / "000000101-7-0001.x12").read_bytes())
    assert [s.id for s in delivered[0].segments()][:4] == ["ISA", "GS", "ST", "BEG"]

    # the same interchange again: a duplicate, rejected with TA1 025, not delivered again
    status, _, again = post(port, interchange(isa13=101, gs06=7))
    assert status == 200
    assert ids(again, "TA1") == [["TA1", "000000101", *ids(again, "TA1")[0][2:4], "R", "025"]]
    assert ids(again, "AK1") == []
    rows = [m for m in listed(proc) if m["correlation_id"] == "000000101-7-0001"]
    assert sorted(m["status"] for m in rows) == ["duplicate", "sent"]


@pytest.mark.slow
def test_ta1_on_request_and_control_numbers_increase(engine: tuple[EngineProcess, int]
                                                     ) -> None:
    _, port = engine
    _, _, first = post(port, interchange(isa13=201, ack_requested=True))
    _, _, second = post(port, interchange(isa13=202, ack_requested=True))
    for body, isa13 in ((first, "000000201"), (second, "000000202")):
        (ta1,) = ids(body, "TA1")
        assert (ta1[1], ta1[4], ta1[5]) == (isa13, "A", "000")
        assert ids(body, "AK9")[0][1] == "A"
    numbers = [int(s[13]) for s in ids(first, "ISA") + ids(second, "ISA")]
    assert numbers == sorted(numbers) and len(set(numbers)) == 4


@pytest.mark.slow
def test_a_bad_set_is_rejected_in_the_997_and_stored_with_its_error(
        engine: tuple[EngineProcess, int]) -> None:
    proc, port = engine
    status, _, body = post(port, interchange(
        isa13=301, sets=[po("PO-OK"), po("PO-BAD", bad_quantity=True)]))
    assert status == 200
    assert ids(body, "AK2") == [["AK2", "850", "0001"], ["AK2", "850", "0002"]]
    assert [s[1] for s in ids(body, "AK5")] == ["A", "R"]
    assert ids(body, "AK9")[0][1:5] == ["P", "2", "2", "1"]
    (ak4,) = ids(body, "AK4")
    assert ak4[1] == "2" and ak4[3] in ("6", "7")  # PO102 quantity: invalid character
    by_id = {m["correlation_id"]: m for m in listed(proc)}
    assert by_id["000000301-1-0002"]["status"] == "error"
    assert "AK5 R" in by_id["000000301-1-0002"]["error"]
    assert by_id["000000301-1-0001"]["status"] in ("queued", "sent")


@pytest.mark.slow
def test_unknown_partner_and_non_x12_bodies_are_refused_and_stored(
        engine: tuple[EngineProcess, int]) -> None:
    proc, port = engine
    status, _, body = post(port, interchange(sender="STRANGER", isa13=401))
    assert status == 200
    (ta1,) = ids(body, "TA1")
    assert (ta1[1], ta1[4], ta1[5]) == ("000000401", "R", "006")
    status, ctype, text = post(port, b"this is not EDI")
    assert (status, ctype.split(";")[0]) == (400, "text/plain")
    assert "no ISA" in text
    errors = [m["error"] for m in listed(proc) if m["status"] == "error"]
    assert any("unknown sender ZZ/STRANGER" in e for e in errors)
    assert any("ISA" in e for e in errors)


@pytest.mark.slow
def test_acknowledgments_are_passed_on_never_acknowledged(
        engine: tuple[EngineProcess, int]) -> None:
    proc, port = engine
    ack = build_transaction_set("997", 1, [make_segment("AK1", "PO", "9"),
                                           make_segment("AK9", "A", "1", "1", "1")])
    group = build_group("FA", "ACMEMED", "GOODHEALTH", 9, [ack])
    ic = build_interchange(("ZZ", "ACMEMED"), ("ZZ", "GOODHEALTH"), [group], 501)
    status, _, body = post(port, encode(ic).encode())
    assert (status, body) == (200, "")
    assert any(m["correlation_id"] == "000000501" for m in listed(proc))


@pytest.mark.slow
def test_partner_policies_none_never_always_and_usage(engine: tuple[EngineProcess, int]
                                                      ) -> None:
    _, port = engine
    status, _, body = post(port, interchange(sender="QUIET", isa13=601, ack_requested=True))
    assert (status, body) == (200, "")  # ack: none, ta1: never
    _, _, body = post(port, interchange(sender="STRICT", isa13=602))
    assert ids(body, "TA1")[0][4:6] == ["A", "000"]  # ta1: always
    assert ids(body, "AK5") == [["AK5", "A"]]
    _, _, body = post(port, interchange(sender="STRICT", isa13=603, usage="T"))
    assert ids(body, "TA1")[0][4:6] == ["R", "020"]  # test data from a production-only partner
    assert ids(body, "AK1") == []


@pytest.mark.slow
def test_http_errors(engine: tuple[EngineProcess, int]) -> None:
    _, port = engine
    assert post(port, b"", method="GET")[0] == 405
    assert post(port, interchange(), path="/elsewhere")[0] == 404
    assert post(port, b"ISA" + b"x" * 70_000)[0] == 413
    status, _, body = post(port, interchange(isa13=701))  # still serving
    assert status == 200 and ids(body, "AK5") == [["AK5", "A"]]
