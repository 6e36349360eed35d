"""A FHIR REST client and the helpers the FHIR e2e modules share (channels, tokens, reads
of stored messages)."""

from __future__ import annotations

import http.client
import json
import re
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fhir.resources.R4B import get_fhir_model_class

from .engine_process import EngineProcess

DATA = Path(__file__).resolve().parents[1] / "data" / "fhir"
WRITE_TOKEN = "write-0123456789abcdef-token"
READ_TOKEN = "read-0123456789abcdef-token"
ENV = {"FHIR_WRITE_TOKEN": WRITE_TOKEN, "FHIR_READ_TOKEN": READ_TOKEN}
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
INSTANT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
HTTP_DATE = re.compile(r"[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT")
SUPPLY = "authored/transaction_bundle_supply_chain_authored.json"

#: The channel of the issue (auth from the environment, a file destination).
CHANNEL = """\
name: charge-capture-fhir
source:
  type: fhir
  host: 127.0.0.1
  port: {port}
  base_path: /fhir
  resources: [ChargeItem, SupplyDelivery, Device]
  max_body_bytes: {max_body}
  auth:
    tokens:
      - {{token: "${{FHIR_WRITE_TOKEN}}", access: write}}   # write implies read
      - {{token: "${{FHIR_READ_TOKEN}}", access: read}}
destinations:
  - {{name: billing, type: file, directory: "{out}", filename: "{{correlation_id}}.json"}}
"""

#: Every resource type of the R4 examples in tests/data/fhir, served without auth.
CORPUS_TYPES = sorted({
    "Account", "Binary", "ChargeItem", "ChargeItemDefinition", "Claim", "ClaimResponse",
    "Coverage", "Device", "DeviceDefinition", "DeviceRequest", "DocumentReference", "Encounter",
    "ExplanationOfBenefit", "Invoice", "Location", "Medication", "MedicationDispense",
    "Organization", "Patient", "PaymentNotice", "PaymentReconciliation", "Practitioner",
    "Procedure", "SupplyDelivery", "SupplyRequest"})
CORPUS_CHANNEL = """\
name: fhir-corpus
source: {{type: fhir, host: 127.0.0.1, port: {port}, base_path: /r4, resources: {types}}}
destinations:
  - {{name: archive, type: file, directory: "{out}", filename: "{{message_id}}.json"}}
"""


@dataclass
class Answer:
    """One HTTP response: status, headers (lower-case names) and body."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body as JSON."""
        return json.loads(self.body)

    def issues(self) -> list[tuple[str, list[str]]]:
        """(code, expressions) per issue of an OperationOutcome body, checked against R4."""
        outcome = self.json()
        get_fhir_model_class("OperationOutcome").model_validate(outcome)
        return [(i["code"], i.get("expression", [])) for i in outcome["issue"]]

    def diagnostics(self) -> str:
        """The first issue's diagnostics."""
        return str(self.json()["issue"][0]["diagnostics"])


_TOKEN = object()


class Fhir:
    """A FHIR REST client for one listener base (a new connection per request)."""

    def __init__(self, port: int, base: str = "/fhir", token: str | None = None,
                 context: ssl.SSLContext | None = None) -> None:
        self.port = port
        self.base = base
        self.token = token
        self.context = context

    def request(self, method: str, path: str = "", body: Any = None,
                headers: dict[str, str | None] | None = None, token: Any = _TOKEN) -> Answer:
        """method base/path; a dict body is sent as FHIR JSON; a None header is left out."""
        token = self.token if token is _TOKEN else token
        sent: dict[str, str | None] = {}
        if body is not None:
            sent["Content-Type"] = "application/fhir+json"
            if not isinstance(body, bytes):
                body = json.dumps(body).encode()
        if token:
            sent["Authorization"] = f"Bearer {token}"
        sent.update(headers or {})
        if self.context is not None:
            conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                "127.0.0.1", self.port, timeout=30, context=self.context)
        else:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            url = path if path.startswith("/") else \
                f"{self.base}/{path}" if path and not path.startswith("?") else self.base + path
            conn.request(method, url, body=body,
                         headers={k: v for k, v in sent.items() if v is not None})
            resp = conn.getresponse()
            return Answer(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
        finally:
            conn.close()

    def get(self, path: str, **kw: Any) -> Answer:
        """GET base/path."""
        return self.request("GET", path, **kw)

    def post(self, path: str, body: Any, **kw: Any) -> Answer:
        """POST base/path."""
        return self.request("POST", path, body, **kw)

    def put(self, path: str, body: Any, **kw: Any) -> Answer:
        """PUT base/path."""
        return self.request("PUT", path, body, **kw)


def load(name: str) -> dict[str, Any]:
    """A file of tests/data/fhir as JSON."""
    return dict(json.loads((DATA / name).read_bytes()))


def messages(proc: EngineProcess, channel: str) -> list[dict[str, Any]]:
    """The channel's stored messages, newest first (`plexus messages list`)."""
    out = proc.cli("messages", "list", "--channel", channel, "--json", "--limit", "10000",
                   check=True).stdout
    return list(json.loads(out))


def listed_when(proc: EngineProcess, channel: str, ready: Any) -> list[dict[str, Any]]:
    """messages(proc, channel) once ready(rows) is true (deliveries finish after the file)."""
    rows: list[dict[str, Any]] = []

    def check() -> bool:
        rows[:] = messages(proc, channel)
        return bool(ready(rows))

    proc.wait_for(check, what=f"messages of {channel}")
    return rows


def show(proc: EngineProcess, message_id: int) -> dict[str, Any]:
    """One stored message with its stages and deliveries (`plexus messages show`)."""
    return dict(json.loads(proc.cli("messages", "show", str(message_id), check=True).stdout))


def location_of(answer: Answer, port: int, rtype: str, version: str = "1",
                base: str = "/fhir") -> str:
    """The new id, after checking Location (with _history) and ETag of a write."""
    m = re.fullmatch(rf"http://127\.0\.0\.1:{port}{base}/{rtype}/([A-Za-z0-9.-]+)"
                     rf"/_history/{version}", answer.headers["location"])
    assert m, answer.headers["location"]
    assert answer.headers["etag"] == f'W/"{version}"'
    assert HTTP_DATE.fullmatch(answer.headers["last-modified"])
    return m[1]


def stored_form(original: dict[str, Any], stored: dict[str, Any], rid: str,
                version: str = "1") -> dict[str, Any]:
    """What the server must keep of original: its id, meta.versionId and lastUpdated set."""
    assert INSTANT.fullmatch(stored["meta"]["lastUpdated"])
    return {**original, "id": rid, "meta": {**original.get("meta", {}), "versionId": version,
                                            "lastUpdated": stored["meta"]["lastUpdated"]}}


def charge(identifier: str | None = None, **changes: Any) -> dict[str, Any]:
    """A valid ChargeItem (a supply charge), with an identifier when given."""
    item: dict[str, Any] = {
        "resourceType": "ChargeItem", "status": "billable",
        "code": {"coding": [{"system": "urn:oid:2.16.840.1.113883.19.5.2", "code": "SUP100234"}]},
        "subject": {"reference": "Patient/example"}, "quantity": {"value": 3},
        "priceOverride": {"value": 1.25, "currency": "USD"}}
    if identifier:
        item["identifier"] = [{"system": "urn:plexus:test:charge", "value": identifier}]
    item.update(changes)
    return item
