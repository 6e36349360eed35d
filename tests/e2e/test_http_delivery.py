"""The engine posts HL7-as-JSON to a real HTTP server; 503 with Retry-After is retried."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from twisted.web import resource, server

from protocols.mllp.client import MllpClient
from tests.unit.reactor_thread import run_in_reactor

from .engine_process import EngineProcess, free_port
from .hl7 import ack_fields, adt

CHANNEL = """\
name: to-erp
source: {{type: mllp, host: 127.0.0.1, port: {port}}}
transforms:
  - use: transforms.hl7v2:set_field
    with: {{path: MSH-4, value: PLEXUS}}
destinations:
  - name: erp
    type: http
    url: http://127.0.0.1:{http_port}/hl7
    headers: {{Authorization: "Bearer ${{ERP_TOKEN}}"}}
    transforms: [transforms.hl7v2:to_json]
    retry: {{attempts: 5, initial_interval: 100ms, max_interval: 2s}}
"""


class Erp(resource.Resource):
    """Answers 503 (Retry-After: 1) to the first `failures` requests, then 201."""

    isLeaf = True

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures
        self.requests: list[dict[str, Any]] = []

    def render_POST(self, request: Any) -> bytes:  # noqa: N802 - twisted.web API
        self.requests.append({
            "headers": {k.decode().lower(): v[0].decode()
                        for k, v in request.requestHeaders.getAllRawHeaders()},
            "body": request.content.read()})
        if len(self.requests) <= self.failures:
            request.setResponseCode(503)
            request.setHeader(b"Retry-After", b"1")
            return b"busy"
        request.setResponseCode(201)
        return b'{"ok": true}'


@pytest.fixture
def erp(reactor_thread: Any) -> Iterator[tuple[Erp, int]]:
    site = Erp(failures=1)
    port = run_in_reactor(reactor_thread.listenTCP, 0, server.Site(site), interface="127.0.0.1")
    try:
        yield site, port.getHost().port
    finally:
        run_in_reactor(port.stopListening)


def test_json_is_posted_with_headers_and_503_is_retried(tmp_path: Path,
                                                        erp: tuple[Erp, int]) -> None:
    site, http_port = erp
    port = free_port()
    text = CHANNEL.format(port=port, http_port=http_port)
    with EngineProcess(tmp_path, {"to-erp": text}, env={"ERP_TOKEN": "s3cret"}) as proc:
        with MllpClient("127.0.0.1", port) as client:
            assert ack_fields(client.send(adt("HTTP-1")))[:2] == ("AA", "HTTP-1")
        proc.wait_for(lambda: proc.metric("plexus_messages_sent_total", channel="to-erp",
                                          destination="erp") == 1, what="HTTP delivery")
        listed = json.loads(proc.cli("messages", "list", "--json").stdout)
        shown = json.loads(proc.cli("messages", "show", str(listed[0]["message_id"])).stdout)
    assert len(site.requests) == 2  # one 503, then the retry after Retry-After
    first, second = site.requests
    assert first["body"] == second["body"]
    body = json.loads(second["body"])
    assert body["message_type"] == "ADT^A01" and body["control_id"] == "HTTP-1"
    msh = body["segments"][0]
    assert msh["id"] == "MSH" and msh["fields"][3] == "PLEXUS"  # MSH-4 after the transform
    headers = second["headers"]
    assert headers["authorization"] == "Bearer s3cret"
    assert headers["content-type"].startswith("application/json")
    assert headers["x-correlation-id"] == "HTTP-1"
    assert headers["idempotency-key"] == first["headers"]["idempotency-key"]
    delivery = shown["deliveries"][0]
    assert delivery["status"] == "sent" and delivery["attempts"] == 2
    assert "503" in delivery["history"][0]["error"]
    stages = {s["stage"] for s in shown["stages"]}
    assert {"raw", "transformed", "encoded:erp", "response:erp"} <= stages
