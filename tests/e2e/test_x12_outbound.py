"""X12 destination in a running engine: sets batched per partner, numbers kept across restarts."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from protocols.x12 import parse
from protocols.x12.envelope import validate_envelope

from .engine_process import EngineProcess, free_port
from .x12_client import interchange, po, post

PARTNERS = """\
us: {qualifier: ZZ, id: GOODHEALTH}
partners:
  - {name: buyer-erp, qualifier: ZZ, id: ERPOUT, ack: none, ta1: never}
  - {name: acme-medical, qualifier: ZZ, id: ACMEMED, element: "|", component: ">",
     terminator: "~"}
"""

CHANNEL = """\
name: po-relay
source:
  type: x12-http
  host: 127.0.0.1
  port: {port}
  partners: {partners}
destinations:
  - name: to-acme
    type: x12
    partners: {partners}
    partner: acme-medical
    batch_window: 300ms
    to: {{type: file, directory: {out}, filename: "{{correlation_id}}.x12"}}
"""


def interchanges(out: Path) -> list[str]:
    return sorted(os.listdir(out)) if out.exists() else []


@pytest.mark.slow
def test_sets_are_relayed_in_batches_with_numbers_that_survive_a_restart(
        tmp_path: Path) -> None:
    partners = tmp_path / "partners.yaml"
    partners.write_text(PARTNERS)
    out = tmp_path / "out"
    port = free_port()
    channel = CHANNEL.format(port=port, partners=partners, out=out)
    data = tmp_path / "data"
    with EngineProcess(tmp_path / "a", {"po-relay": channel}, log_level="warning",
                       data_dir=data) as proc:
        three = interchange("ERPOUT", isa13=1, sets=[po("PO-1"), po("PO-2"), po("PO-3")])
        assert post(port, three)[0] == 200
        proc.wait_for(lambda: interchanges(out), what="the first interchange")
        proc.wait_for(lambda: [m["status"] for m in _listed(proc)] == ["sent"] * 3,
                      what="every set sent")
    (first_name,) = interchanges(out)
    assert first_name == "acme-medical-000000001.x12"
    (ic,) = parse((out / first_name).read_bytes())
    assert ic.delimiters.element == "|" and ic.isa.element(8).strip() == "ACMEMED"
    assert [g.functional_id for g in ic.groups] == ["PO"]
    assert [s.control_number for s in ic.groups[0].sets] == ["0001", "0002", "0003"]
    assert [s.segments[0].element(3) for s in ic.groups[0].sets] == ["PO-1", "PO-2", "PO-3"]
    assert validate_envelope(ic, receivers={"ACMEMED"}).ok

    with EngineProcess(tmp_path / "b", {"po-relay": channel}, log_level="warning",
                       data_dir=data) as proc:
        assert post(port, interchange("ERPOUT", isa13=2, sets=[po("PO-4")]))[0] == 200
        proc.wait_for(lambda: len(interchanges(out)) == 2, what="the second interchange")
    second = parse((out / "acme-medical-000000002.x12").read_bytes())[0]
    assert (second.control_number, second.groups[0].control_number) == ("000000002", "2")


def _listed(proc: EngineProcess) -> list[dict[str, object]]:
    out = proc.cli("messages", "list", "--json", "--limit", "100", check=True).stdout
    return list(json.loads(out))


CANONICAL = """\
name: supplier-po-inbound
source: {{type: x12-http, host: 127.0.0.1, port: {port}, path: /x12, partners: {partners}}}
transforms: [transforms.x12:to_canonical]
destinations:
  - {{name: po-store, type: file, directory: {out}, filename: "{{correlation_id}}.json"}}
"""


@pytest.mark.slow
def test_an_850_gets_a_997_and_becomes_a_canonical_purchase_order(tmp_path: Path) -> None:
    partners = tmp_path / "partners.yaml"
    partners.write_text(PARTNERS)
    out = tmp_path / "out"
    port = free_port()
    channel = CANONICAL.format(port=port, partners=partners, out=out)
    with EngineProcess(tmp_path / "e", {"supplier-po-inbound": channel},
                       log_level="warning") as proc:
        status, ctype, body = post(port, interchange("ACMEMED", isa13=801, gs06=4,
                                                     sets=[po("PO-77", lines=3)]))
        assert (status, ctype) == (200, "application/edi-x12")
        (ack,) = parse(body)
        assert [s.id for s in ack.segments() if s.id.startswith("AK")] == \
            ["AK1", "AK2", "AK5", "AK9"]
        assert next(s for s in ack.segments() if s.id == "AK9").elements[0] == "A"
        target = out / "000000801-4-0001.json"
        proc.wait_for(target.exists, what="the canonical purchase order")
    document = json.loads(target.read_text())
    assert (document["doc_type"], document["po_number"]) == ("purchase_order", "PO-77")
    assert [line["quantity"] for line in document["lines"]] == [
        {"value": str(n), "unit": "EA"} for n in (10, 20, 30)]
    assert document["lines"][0]["item_ids"] == [{"kind": "vendor_item", "value": "ITEM1"},
                                                {"kind": "upc", "value": "012345678905"}]
    assert document["lines"][0]["unit_price"]["amount"] == "12.50"
