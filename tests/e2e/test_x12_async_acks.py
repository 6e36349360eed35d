"""x12-http with `acks: async`: 202 once stored, acks POSTed to the partner's ack_url."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from protocols.x12 import parse
from protocols.x12.http_source import X12HttpSourceConfig

from .engine_process import EngineProcess, free_port
from .x12_client import interchange, post

TOKEN = "ack-token-0123456789abcdef"


class AckReceiver(ThreadingHTTPServer):
    """Records POSTed acks; answers 503 to the first `failures` of them."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.seen: list[tuple[dict[str, str], bytes]] = []
        self.accepted = threading.Event()
        super().__init__(("127.0.0.1", 0), _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: AckReceiver

    def do_POST(self) -> None:  # noqa: N802 - http.server API
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.seen.append(({k.lower(): v for k, v in self.headers.items()}, body))
        status = 503 if len(self.server.seen) <= self.server.failures else 200
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()
        if status == 200:
            self.server.accepted.set()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[tuple[EngineProcess, int, AckReceiver]]:
    receiver = AckReceiver(failures=1)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    work = tmp_path_factory.mktemp("x12async")
    dead_port = free_port()  # nothing listens here
    partners = work / "partners.yaml"
    partners.write_text(f"""\
us: {{qualifier: ZZ, id: GOODHEALTH}}
partners:
  - {{name: acme-medical, qualifier: ZZ, id: ACMEMED, ta1: on-request,
     ack_url: "http://127.0.0.1:{receiver.server_address[1]}/acks", ack_token: {TOKEN}}}
  - {{name: gone-supply, qualifier: ZZ, id: GONE,
     ack_url: "http://127.0.0.1:{dead_port}/acks"}}
""")
    port = free_port()
    channel = f"""\
name: po-async
source:
  type: x12-http
  host: 127.0.0.1
  port: {port}
  partners: {partners}
  acks: async
  send_attempts: 2
  send_retry_interval: 100ms
destinations:
  - {{name: po-store, type: file, directory: {work / "out"}}}
"""
    with EngineProcess(work / "engine", {"po-async": channel}, log_level="warning") as proc:
        yield proc, port, receiver
    receiver.shutdown()
    receiver.server_close()


def listed(proc: EngineProcess) -> list[dict[str, Any]]:
    out = proc.cli("messages", "list", "--json", "--limit", "1000", check=True).stdout
    return list(json.loads(out))


@pytest.mark.slow
def test_202_then_the_acks_arrive_at_the_partner_after_a_retry(
        setup: tuple[EngineProcess, int, AckReceiver]) -> None:
    proc, port, receiver = setup
    status, ctype, text = post(port, interchange("ACMEMED", isa13=11, ack_requested=True))
    assert (status, ctype.split(";")[0]) == (202, "text/plain")
    assert "acknowledgments follow" in text
    assert receiver.accepted.wait(20), "the acks never arrived"
    assert len(receiver.seen) == 2  # a 503 first, then accepted
    (_, first), (headers, body) = receiver.seen
    assert first == body
    assert headers["authorization"] == f"Bearer {TOKEN}"
    assert headers["content-type"] == "application/edi-x12"
    ta1, ack = parse(body)
    assert [s.id for s in ta1.segments()] == ["ISA", "TA1", "IEA"]
    assert [s.id for s in ack.segments() if s.id.startswith("AK")] == \
        ["AK1", "AK2", "AK5", "AK9"]
    proc.wait_for(lambda: any(m["correlation_id"] == "000000011-1-0001"
                              and m["status"] == "sent" for m in listed(proc)),
                  what="the set delivered")


@pytest.mark.slow
def test_acks_that_never_get_through_are_stored(
        setup: tuple[EngineProcess, int, AckReceiver]) -> None:
    proc, port, _ = setup
    assert post(port, interchange("GONE", isa13=21))[0] == 202
    proc.wait_for(lambda: any("acknowledgments for gone-supply was not delivered"
                              in (m["error"] or "") for m in listed(proc)),
                  what="the undelivered acks stored")
    (row,) = [m for m in listed(proc)
              if "acknowledgments for gone-supply" in (m["error"] or "")]
    shown = proc.cli("messages", "show", str(row["message_id"]), check=True).stdout
    assert "AK1*PO*1" in shown


@pytest.mark.slow
def test_unknown_senders_are_still_answered_synchronously(
        setup: tuple[EngineProcess, int, AckReceiver]) -> None:
    _, port, _ = setup
    status, ctype, body = post(port, interchange("STRANGER", isa13=31))
    assert (status, ctype) == (200, "application/edi-x12")
    (ta1,) = [s for ic in parse(body) for s in ic.segments() if s.id == "TA1"]
    assert ta1.elements[3:5] == ["R", "006"]


@pytest.mark.slow
def test_a_body_from_two_senders_is_answered_synchronously(
        setup: tuple[EngineProcess, int, AckReceiver]) -> None:
    _, port, receiver = setup
    before = len(receiver.seen)
    body = interchange("ACMEMED", isa13=41) + interchange("GONE", isa13=42)
    status, ctype, text = post(port, body)
    assert (status, ctype) == (200, "application/edi-x12")  # no single partner URL to use
    assert [s.id for ic in parse(text) for s in ic.segments() if s.id == "AK1"] == \
        ["AK1", "AK1"]
    assert len(receiver.seen) == before  # nothing POSTed later for it


def test_async_needs_an_ack_url_for_every_acknowledged_partner(tmp_path: Path) -> None:
    partners = tmp_path / "partners.yaml"
    partners.write_text("us: {qualifier: ZZ, id: US}\npartners:\n"
                        "  - {name: a, qualifier: ZZ, id: A}\n"
                        "  - {name: b, qualifier: ZZ, id: B, ack: none, ta1: never}\n")
    with pytest.raises(ValidationError, match="needs an ack_url for a in"):
        X12HttpSourceConfig.model_validate({"type": "x12-http", "port": 0, "acks": "async",
                                            "partners": str(partners)})
