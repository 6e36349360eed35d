"""The FHIR destination against real FHIR servers: engine A relays to engine B's FHIR listener
(mutual TLS, bearer token), and to a scripted server that answers 503 / 429 before 201."""

from __future__ import annotations

import json
import ssl
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from twisted.web import resource, server

from tests.certs import make_test_pki
from tests.unit.reactor_thread import run_in_reactor

from .engine_process import EngineProcess, free_port
from .fhir_client import SUPPLY, Fhir, charge, load, location_of, messages, show

B_WRITE = "b-write-0123456789abcdef"
B_READ = "b-read-0123456789abcdef0"
SCRIPTED_TOKEN = "scripted-0123456789abcdef"

RECEIVER = """\
name: receiver
source:
  type: fhir
  host: 127.0.0.1
  port: {port}
  base_path: /fhir
  resources: [ChargeItem, Device]
  tls: {{cert: "{cert}", key: "{key}", ca: "{ca}", require_client_cert: true}}
  auth:
    tokens:
      - {{token: "${{B_WRITE}}", access: write}}
      - {{token: "${{B_READ}}", access: read}}
destinations:
  - {{name: archive, type: file, directory: "{out}", filename: "{{correlation_id}}.json"}}
"""

RELAY = """\
name: {name}
source: {{type: fhir, host: 127.0.0.1, port: {port}, base_path: /fhir, resources: {types}}}
destinations:
  - name: downstream
    type: fhir
    base_url: {url}
    bearer_token: "${{{token}}}"
    ordered: true
    retry: {{attempts: {attempts}, initial_interval: 100ms, max_interval: 5s, jitter: 0}}
{tls}"""


@dataclass
class Seen:
    """A request the scripted server received."""

    at: float
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class Scripted(resource.Resource):
    """A FHIR server that answers from a script of (status, headers), then 201."""

    isLeaf = True

    def __init__(self) -> None:
        super().__init__()
        self.script: list[tuple[int, dict[str, str]]] = []
        self.seen: list[Seen] = []

    def render(self, request: Any) -> bytes:
        self.seen.append(Seen(time.monotonic(), request.method.decode(), request.path.decode(),
                              {k.decode().lower(): v[0].decode()
                               for k, v in request.requestHeaders.getAllRawHeaders()},
                              request.content.read()))
        status, headers = self.script.pop(0) if self.script else (201, {})
        request.setResponseCode(status)
        request.setHeader("Content-Type", "application/fhir+json")
        for name, value in headers.items():
            request.setHeader(name, value)
        code = {503: "transient", 429: "throttled"}.get(status, "informational")
        issue = {"severity": "error" if status >= 400 else "information", "code": code,
                 "diagnostics": f"scripted {status}"}
        return json.dumps({"resourceType": "OperationOutcome", "issue": [issue]}).encode()


@dataclass
class Setup:
    """The running pieces: engine A (relay), engine B (receiver), the scripted server."""

    a: EngineProcess
    b: EngineProcess
    relay: int  # A's FHIR port, relaying to B
    read_only: int  # A's FHIR port, relaying to B with B's read-only token
    flaky: int  # A's FHIR port, relaying to the scripted server
    b_port: int
    scripted: Scripted
    context: ssl.SSLContext  # trusts B and presents the client certificate
    ca: str  # the test CA (PEM file)

    def b_client(self, token: str = B_READ) -> Fhir:
        """A client of B's listener (mutual TLS)."""
        return Fhir(self.b_port, token=token, context=self.context)


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory, reactor_thread: Any) -> Iterator[Setup]:
    work = tmp_path_factory.mktemp("fhir-destination")
    pki = make_test_pki(work / "pki")
    scripted = Scripted()
    listening = run_in_reactor(reactor_thread.listenTCP, 0, server.Site(scripted),
                               interface="127.0.0.1")
    b_port, relay, read_only, flaky = (free_port() for _ in range(4))
    b_url = f"https://127.0.0.1:{b_port}/fhir"
    tls = (f'    tls: {{ca: "{pki["ca"]}", cert: "{pki["client_cert"]}", '
           f'key: "{pki["client_key"]}"}}\n')
    types = "[ChargeItem, Device, SupplyDelivery]"
    relays = {
        "relay": RELAY.format(name="relay", port=relay, types=types, url=b_url,
                              token="B_WRITE", attempts=3, tls=tls),
        "read-only": RELAY.format(name="read-only", port=read_only, types="[ChargeItem]",
                                  url=b_url, token="B_READ", attempts=3, tls=tls),
        "flaky": RELAY.format(name="flaky", port=flaky, types="[ChargeItem]",
                              url=f"http://127.0.0.1:{listening.getHost().port}/fhir",
                              token="SCRIPTED_TOKEN", attempts=3, tls="")}
    env = {"B_WRITE": B_WRITE, "B_READ": B_READ, "SCRIPTED_TOKEN": SCRIPTED_TOKEN}
    b = EngineProcess(work / "b", {"receiver": RECEIVER.format(
        port=b_port, cert=pki["server_cert"], key=pki["server_key"], ca=pki["ca"],
        out=work / "b-out")}, env=env, log_level="warning")
    a = EngineProcess(work / "a", relays, env=env, log_level="warning")
    context = ssl.create_default_context(cafile=pki["ca"])
    context.load_cert_chain(pki["client_cert"], pki["client_key"])
    try:
        with b, a:
            yield Setup(a, b, relay, read_only, flaky, b_port, scripted, context, pki["ca"])
    finally:
        run_in_reactor(listening.stopListening)


def finished(proc: EngineProcess, channel: str) -> float:
    """Deliveries of the channel that are sent or dead (from /metrics)."""
    return sum(proc.metric(name, channel=channel, destination="downstream")
               for name in ("plexus_messages_sent_total", "plexus_messages_dead_lettered_total"))


def delivery(proc: EngineProcess, channel: str, business_key: str, before: float
             ) -> dict[str, Any]:
    """The one delivery of the message with that business key, once it is sent or dead.

    before: finished() before the message was sent (the metric is polled, the CLI run once).
    """
    proc.wait_for(lambda: finished(proc, channel) > before, what=f"{channel} delivery")
    found: list[dict[str, Any]] = []

    def settled() -> bool:
        rows = [m for m in messages(proc, channel) if m["business_key"] == business_key]
        if len(rows) != 1 or rows[0]["status"] not in ("sent", "dead"):
            return False
        found[:] = [show(proc, rows[0]["message_id"])]
        return True

    proc.wait_for(settled, timeout=30, what=f"delivery of {business_key}")
    (message,) = found
    (only,) = message["deliveries"]
    return {**only, "message": message}


def test_a_resource_arrives_at_b_with_its_id_and_correlation(setup: Setup) -> None:
    item = charge(f"relay-{uuid.uuid4().hex[:8]}")
    cid = f"corr-{uuid.uuid4().hex[:8]}"
    before = finished(setup.a, "relay")
    created = Fhir(setup.relay).post("ChargeItem", item, headers={"X-Correlation-ID": cid})
    assert created.status == 201
    rid = location_of(created, setup.relay, "ChargeItem")
    at_a = created.json()
    b = setup.b_client()
    setup.a.wait_for(lambda: b.get(f"ChargeItem/{rid}").status == 200, what="ChargeItem at B")
    at_b = b.get(f"ChargeItem/{rid}")
    assert at_b.headers["etag"] == 'W/"1"'  # B's first version of it
    received = at_b.json()
    assert {**received, "meta": None} == {**at_a, "meta": None}
    assert received["meta"]["versionId"] == "1"
    archived = setup.b.workdir.parent / "b-out" / f"{cid}.json"  # the correlation id crossed
    setup.b.wait_for(archived.exists, what="B's file")
    assert archived.read_bytes() == at_b.body
    sent = delivery(setup.a, "relay", f"ChargeItem/{rid}", before)
    assert (sent["status"], sent["attempts"]) == ("sent", 1)
    (response,) = [s for s in sent["message"]["stages"] if s["stage"] == "response:downstream"]
    outcome = json.loads(response["content"])
    assert outcome["issue"][0]["diagnostics"] == f"ChargeItem/{rid} created"


def test_updates_arrive_in_order_as_new_versions(setup: Setup) -> None:
    rid = f"dev-{uuid.uuid4().hex[:10]}"
    relay = Fhir(setup.relay)
    device = {**load("r4_device-f001.json"), "id": rid}
    for status in ("active", "inactive", "entered-in-error"):
        assert relay.put(f"Device/{rid}", {**device, "status": status}).status in (200, 201)
    b = setup.b_client()

    def third_version() -> bool:
        answer = b.get(f"Device/{rid}")
        return answer.status == 200 and answer.headers["etag"] == 'W/"3"'

    setup.a.wait_for(third_version, what="three versions at B")
    assert b.get(f"Device/{rid}").json()["status"] == "entered-in-error"


@pytest.mark.slow
def test_a_transaction_is_relayed_whole(setup: Setup) -> None:
    bundle = load(SUPPLY)
    bundle["entry"] = [e for e in bundle["entry"]
                       if e["resource"]["resourceType"] != "SupplyRequest"]
    value = uuid.uuid4().hex
    bundle["entry"][0]["resource"]["identifier"][0]["value"] = value
    bundle["entry"][0]["request"]["ifNoneExist"] = \
        f"identifier=urn:oid:2.16.840.1.113883.19.5.1|{value}"
    bundle["id"] = f"txn-{value[:12]}"
    before = finished(setup.a, "relay")
    answer = Fhir(setup.relay).post("", bundle)
    assert answer.status == 200
    at_a = [e["response"]["location"] for e in answer.json()["entry"]]
    sent = delivery(setup.a, "relay", f"Bundle/txn-{value[:12]}", before)
    assert sent["status"] == "sent"
    (response,) = [s for s in sent["message"]["stages"] if s["stage"] == "response:downstream"]
    reply = json.loads(response["content"])
    assert reply["type"] == "transaction-response"
    assert [e["response"]["status"] for e in reply["entry"]] == ["201 Created"] * 2
    assert [e["response"]["location"] for e in reply["entry"]] == at_a  # the same ids at B
    b = setup.b_client()
    device_ref, item_ref = (loc.split("/_history")[0] for loc in at_a)
    assert b.get(device_ref).json()["identifier"][0]["value"] == value
    assert b.get(item_ref).json()["productReference"]["reference"] == device_ref
    replayed = setup.a.cli("replay", str(sent["message"]["id"]), check=True)
    assert replayed.stdout.strip() == "1 deliveries queued again"
    setup.a.wait_for(lambda: b.get(item_ref).headers["etag"] == 'W/"2"', what="the replay")
    probe = b.post("Device", load(SUPPLY)["entry"][0]["resource"], token=B_WRITE, headers={
        "If-None-Exist": f"identifier=urn:oid:2.16.840.1.113883.19.5.1|{value}"})
    assert (probe.status, probe.json()["id"]) == (200, device_ref.split("/")[1])  # one device


@pytest.mark.slow
def test_a_4xx_from_b_is_permanent_with_b_outcome(setup: Setup) -> None:
    delivered = load("r4_supplydelivery-simpledelivery.json")
    delivered["suppliedItem"]["quantity"]["unit"] = "box"
    before = finished(setup.a, "relay")
    created = Fhir(setup.relay).post("SupplyDelivery", delivered,
                                     headers={"X-Correlation-ID": "not-at-b"})
    assert created.status == 201  # A serves SupplyDelivery, B does not
    rid = created.json()["id"]
    dead = delivery(setup.a, "relay", f"SupplyDelivery/{rid}", before)
    assert (dead["status"], dead["attempts"]) == ("dead", 1)
    assert dead["last_error"] == (f"FHIR PUT /SupplyDelivery/{rid}: HTTP 404: not-supported: "
                                  "resource type 'SupplyDelivery' is not supported here")
    assert [h["outcome"] for h in dead["history"]] == ["dead"]
    assert dead["message"]["status"] == "dead"
    (refused,) = [m for m in messages(setup.b, "receiver") if m["correlation_id"] == "not-at-b"]
    assert refused["error"] == "404: resource type 'SupplyDelivery' is not supported here"
    before = finished(setup.a, "read-only")
    created = Fhir(setup.read_only).post("ChargeItem", charge())
    rid = created.json()["id"]
    forbidden = delivery(setup.a, "read-only", f"ChargeItem/{rid}", before)
    assert (forbidden["status"], forbidden["attempts"]) == ("dead", 1)
    assert forbidden["last_error"] == (f"FHIR PUT /ChargeItem/{rid}: HTTP 403: forbidden: "
                                       "this token may read, not write")
    assert setup.b_client().get(f"ChargeItem/{rid}").status == 404


@pytest.mark.slow
def test_503_and_429_are_retried_with_the_bearer_token(setup: Setup) -> None:
    scripted = setup.scripted
    scripted.seen.clear()
    scripted.script[:] = [(503, {}), (429, {"Retry-After": "1"})]
    before = finished(setup.a, "flaky")
    created = Fhir(setup.flaky).post("ChargeItem", charge(), headers={"X-Correlation-ID": "fl-1"})
    rid = created.json()["id"]
    sent = delivery(setup.a, "flaky", f"ChargeItem/{rid}", before)
    assert (sent["status"], sent["attempts"]) == ("sent", 3)
    assert [h["error"] for h in sent["history"][:2]] == [
        f"FHIR PUT /ChargeItem/{rid}: HTTP 503: transient: scripted 503",
        f"FHIR PUT /ChargeItem/{rid}: HTTP 429: throttled: scripted 429"]
    first, second, third = scripted.seen
    assert third.at - second.at >= 0.95  # Retry-After: 1 beats the 200ms backoff
    assert {(s.method, s.path) for s in scripted.seen} == {("PUT", f"/fhir/ChargeItem/{rid}")}
    assert first.body == second.body == third.body == created.body
    for seen in scripted.seen:
        assert seen.headers["authorization"] == f"Bearer {SCRIPTED_TOKEN}"
        assert seen.headers["content-type"] == "application/fhir+json"
        assert seen.headers["x-correlation-id"] == "fl-1"
        assert seen.headers["prefer"] == "return=OperationOutcome"
    scripted.script[:] = [(500, {})] * 3  # every attempt fails: dead after 3
    before = finished(setup.a, "flaky")
    rid = Fhir(setup.flaky).post("ChargeItem", charge()).json()["id"]
    dead = delivery(setup.a, "flaky", f"ChargeItem/{rid}", before)
    assert (dead["status"], dead["attempts"]) == ("dead", 3)
    assert dead["last_error"] == (f"FHIR PUT /ChargeItem/{rid}: HTTP 500: informational: "
                                  "scripted 500")


def test_b_wants_a_client_certificate(setup: Setup) -> None:
    no_cert = ssl.create_default_context(cafile=setup.ca)
    with pytest.raises(OSError):  # SSLError or a reset, depending on the TLS version
        Fhir(setup.b_port, token=B_READ, context=no_cert).get("metadata")
    assert setup.b_client().get("metadata").status == 200
