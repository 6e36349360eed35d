"""AS2 against running engines: pyas2lib in the test plays the trading partner ACME-AS2.

Engine B takes AS2 (`type: as2`) and writes each stored transaction set to a folder; engine A
takes X12 over HTTP and relays it over AS2 (`type: as2` destinations) to engine B and to the
test's partner server. Keys and certificates are generated for the module.
"""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from protocols.as2.library import pyas2lib
from protocols.x12 import parse
from protocols.x12.writer import (
    build_group,
    build_interchange,
    build_transaction_set,
    encode,
    make_segment,
)
from tests.certs import make_as2_identity

from .engine_process import EngineProcess, free_port

DATA = Path(__file__).resolve().parents[1] / "data" / "x12"
# the 810 body of EDI.Net's sample (its ISA is not fixed-width, so it is re-enveloped here)
INVOICE_810 = parse((DATA / "edge_810_invoice_b_edinet.edi").read_bytes())[0].groups[0].sets[0]


def invoice(isa13: int, sender: str = "ABCMUSICSUPPLY", extra_ref: str | None = None) -> bytes:
    """The sample 810 from `sender` to ARIBAEDI with ISA13 = isa13 (GS06 1, ST02 0001)."""
    body = list(INVOICE_810.segments)
    if extra_ref:
        body.insert(3, make_segment("REF", "ZZ", extra_ref))  # after BIG, CUR, REF*IV
    group = build_group("IN", "ABCMUSIC", "ARIBAEDI", 1, [build_transaction_set("810", 1, body)])
    return encode(build_interchange(("ZZ", sender), ("ZZ", "ARIBAEDI"), [group], isa13,
                                    usage="T")).encode()


def segments(payload: bytes, name: str) -> list[list[str]]:
    return [[s.id, *s.elements] for ic in parse(payload) for s in ic.segments() if s.id == name]


def flat(headers: dict[str, str]) -> dict[str, str]:
    return {k: " ".join(v.split()) for k, v in headers.items() if k.lower() != "mime-version"}


def as_raw(headers: list[tuple[str, str]], body: bytes) -> bytes:
    return b"".join(f"{k}: {v}\r\n".encode() for k, v in headers) + b"\r\n" + body


# --- the trading partner, played by pyas2lib -----------------------------------------------

@dataclass
class PartnerServer:
    """ACME-AS2's endpoint: /as2 takes AS2 messages (MDN in the response), /mdn async MDNs."""

    org: Any
    peers: dict[str, Any]
    received: list[tuple[str, str, bytes]] = field(default_factory=list)  # (from, status, data)
    mdns: list[bytes] = field(default_factory=list)
    port: int = 0

    def handle(self, path: str, headers: list[tuple[str, str]], body: bytes
               ) -> tuple[dict[str, str], bytes]:
        raw = as_raw(headers, body)
        if path == "/mdn":
            self.mdns.append(raw)
            return {}, b""
        as2 = pyas2lib().as2
        message = as2.Message()
        status, _, mdn = message.parse(raw, find_org_cb=lambda i: self.org,
                                       find_partner_cb=lambda i: self.peers.get(i))
        content = message.content if status == "processed" else b""
        if b"BAD-INVOICE" in content:  # our ERP refuses it: an error MDN
            mdn = as2.Mdn(mdn_mode="SYNC", digest_alg=mdn.digest_alg)
            mdn.build(message=message, status="processed/Error",
                      detailed_status="unexpected-processing-error")
        self.received.append((message.headers.get("as2-from", ""), status, content))
        return (flat(mdn.headers), mdn.content) if mdn is not None else ({}, b"")


def serve(partner: PartnerServer) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server API
            body = self.rfile.read(int(self.headers["Content-Length"]))
            headers, answer = partner.handle(self.path, list(self.headers.items()), body)
            self.send_response(200)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args: Any) -> None:
            """Quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    partner.port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


# --- the engines ---------------------------------------------------------------------------

PARTNERS_B = """\
us:
  qualifier: ZZ
  id: ARIBAEDI
  as2: {{id: PLEXUS-B, sign_key: keys/plexus-b-key.pem, sign_cert: keys/plexus-b-cert.pem}}
partners:
  - name: abc-music
    qualifier: ZZ
    id: ABCMUSICSUPPLY
    ack: "997"
    as2: {{id: ACME-AS2, cert: keys/acme-cert.pem, url: "http://127.0.0.1:{server}/as2"}}
  - name: engine-a
    qualifier: ZZ
    id: ENGINEA
    as2: {{id: PLEXUS-A, cert: keys/plexus-a-cert.pem}}
"""

CHANNEL_B = """\
name: invoices-in
source:
  type: as2
  host: 127.0.0.1
  port: {port}
  partners: {partners}
  send_retry_interval: 200ms
destinations:
  - {{name: invoices, type: file, directory: {out}, filename: "{{correlation_id}}.x12"}}
"""

PARTNERS_A = """\
us:
  qualifier: ZZ
  id: ARIBAEDI
  as2: {{id: PLEXUS-A, sign_key: keys/plexus-a-key.pem, sign_cert: keys/plexus-a-cert.pem,
         key_password_env: PLEXUS_A_KEY_PASSWORD}}
partners:
  - {{name: abc-music, qualifier: ZZ, id: ABCMUSICSUPPLY, ack: none}}
  - name: engine-b
    qualifier: ZZ
    id: ENGINEB
    as2: {{id: PLEXUS-B, cert: keys/plexus-b-cert.pem, url: "http://127.0.0.1:{b_port}/as2"}}
  - name: acme
    qualifier: ZZ
    id: ACMEAS2
    as2: {{id: ACME-AS2, cert: keys/acme-cert.pem, url: "http://127.0.0.1:{server}/as2",
          encryption: aes_128_cbc, digest: sha512}}
"""

CHANNEL_A = """\
name: relay-{to}
source: {{type: x12-http, host: 127.0.0.1, port: {port}, partners: {partners}}}
destinations:
  - name: to-{to}
    type: as2
    partners: {partners}
    partner: {partner}
    retry: {{attempts: 3, initial_interval: 100ms}}
"""


@dataclass
class World:
    """Both engines, the partner server and the test side's pyas2lib objects."""

    a: EngineProcess
    b: EngineProcess
    b_port: int
    a_ports: dict[str, int]
    partner: PartnerServer
    acme: Any          # Organization ACME-AS2
    to_b: Any          # Partner PLEXUS-B as ACME sees it (sign, encrypt, signed sync MDN)
    stranger: Any      # Organization nobody knows
    out: Path
    pem: dict[str, bytes]  # key + certificate of every party
    certs: dict[str, bytes]  # certificate of every party


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    work = tmp_path_factory.mktemp("as2")
    keys = work / "keys"
    files = {name: make_as2_identity(keys, name, "a-secret" if name == "plexus-a" else None)
             for name in ("plexus-a", "plexus-b", "acme", "stranger")}
    as2 = pyas2lib().as2

    def pem(name: str) -> bytes:
        return Path(files[name]["key"]).read_bytes() + Path(files[name]["cert"]).read_bytes()

    def cert(name: str) -> bytes:
        return Path(files[name]["cert"]).read_bytes()

    b_cert = cert("plexus-b")
    peers = {"PLEXUS-B": as2.Partner(as2_name="PLEXUS-B", verify_cert=b_cert,
                                     encrypt_cert=b_cert, sign=True, encrypt=True),
             "PLEXUS-A": as2.Partner(as2_name="PLEXUS-A", verify_cert=cert("plexus-a"),
                                     encrypt_cert=cert("plexus-a"), sign=True, encrypt=True)}
    partner = PartnerServer(as2.Organization(as2_name="ACME-AS2", sign_key=pem("acme"),
                                             decrypt_key=pem("acme")), peers)
    server = serve(partner)
    acme = as2.Organization(as2_name="ACME-AS2", sign_key=pem("acme"), decrypt_key=pem("acme"),
                            mdn_url=f"http://127.0.0.1:{partner.port}/mdn", domain="acme.test")
    stranger = as2.Organization(as2_name="STRANGER", sign_key=pem("stranger"),
                                decrypt_key=pem("stranger"), domain="stranger.test")
    to_b = as2.Partner(as2_name="PLEXUS-B", verify_cert=b_cert, encrypt_cert=b_cert, sign=True,
                       encrypt=True, enc_alg="aes_256_cbc", mdn_mode="SYNC",
                       mdn_digest_alg="sha256")

    b_port = free_port()
    (work / "partners-b.yaml").write_text(PARTNERS_B.format(server=partner.port))
    out = work / "out"
    channel_b = CHANNEL_B.format(port=b_port, partners=work / "partners-b.yaml", out=out)
    (work / "partners-a.yaml").write_text(PARTNERS_A.format(server=partner.port, b_port=b_port))
    a_ports = {"b": free_port(), "acme": free_port()}
    channels_a = {f"relay-{to}": CHANNEL_A.format(to=to, port=a_ports[to],
                                                  partners=work / "partners-a.yaml",
                                                  partner="engine-b" if to == "b" else "acme")
                  for to in a_ports}
    b = EngineProcess(work / "engine-b", {"invoices": channel_b}, log_level="info")
    a = EngineProcess(work / "engine-a", channels_a, log_level="info",
                      env={"PLEXUS_A_KEY_PASSWORD": "a-secret"})
    try:
        with b, a:
            yield World(a, b, b_port, a_ports, partner, acme, to_b, stranger, out,
                        {name: pem(name) for name in files},
                        {name: cert(name) for name in files})
    finally:
        server.shutdown()
        server.server_close()


def post_as2(world: World, org: Any, to: Any, data: bytes, message_id: str | None = None
             ) -> tuple[int, list[tuple[str, str]], bytes, Any]:
    """ACME's side: build with pyas2lib, POST to engine B; (status, headers, body, message)."""
    message = pyas2lib().as2.Message(org, to)
    message.build(data, content_type="application/edi-x12", message_id=message_id)
    return (*post_raw(world.b_port, flat(message.headers), message.content), message)


def post_raw(port: int, headers: dict[str, str], body: bytes
             ) -> tuple[int, list[tuple[str, str]], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        conn.request("POST", "/as2" if "AS2-From" in headers else "/x12", body=body,
                     headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.getheaders(), resp.read()
    finally:
        conn.close()


def verify_mdn(headers: list[tuple[str, str]], body: bytes, sent: Any) -> tuple[str, str]:
    """pyas2lib checks the MDN: our signature (PLEXUS-B's certificate) and the MIC."""
    return pyas2lib().as2.Mdn().parse(as_raw(headers, body), lambda mid, _: sent)


def messages(proc: EngineProcess) -> list[dict[str, Any]]:
    out = proc.cli("messages", "list", "--json", "--limit", "1000", check=True).stdout
    return list(json.loads(out))


def show(proc: EngineProcess, message_id: int) -> dict[str, Any]:
    return dict(json.loads(proc.cli("messages", "show", str(message_id), check=True).stdout))


# --- the tests -----------------------------------------------------------------------------

@pytest.mark.slow
def test_a_signed_encrypted_810_gets_a_signed_mdn_is_stored_delivered_and_acknowledged(
        world: World) -> None:
    status, headers, body, sent = post_as2(world, world.acme, world.to_b, invoice(101),
                                           message_id="inv-101")
    assert status == 200
    assert dict(headers)["Content-Type"].startswith("multipart/signed")
    assert verify_mdn(headers, body, sent) == ("processed", None)
    assert b"Original-Message-ID: <inv-101@acme.test>" in body
    assert f"Received-content-MIC: {sent.mic.decode()}, sha256".encode() in body

    delivered = world.out / "000000101-1-0001.x12"
    world.b.wait_for(delivered.exists, what="the 810 in the folder")
    assert segments(delivered.read_bytes(), "BIG")[0][:3] == [
        "BIG", "20030310", "DO091003TESTINV01TAX"]
    (row,) = [m for m in messages(world.b) if m["correlation_id"] == "000000101-1-0001"]
    detail = show(world.b, row["message_id"])
    assert detail["metadata"]["as2_from"] == "ACME-AS2"
    assert detail["metadata"]["as2_message_id"] == "inv-101@acme.test"
    assert (detail["metadata"]["as2_signed"], detail["metadata"]["as2_encrypted"]) == (
        True, True)

    # the 997 comes back to the partner as an AS2 message of its own, signed and encrypted
    world.b.wait_for(lambda: any(b"AK1*IN*1" in c for _, _, c in world.partner.received),
                     what="the 997 over AS2")
    (ack,) = [(f, s, c) for f, s, c in world.partner.received if b"AK1*IN*1" in c]
    assert ack[:2] == ("PLEXUS-B", "processed")
    assert segments(ack[2], "AK5") == [["AK5", "A"]]
    assert segments(ack[2], "AK9") == [["AK9", "A", "1", "1", "1"]]

    # the same AS2 message again: a duplicate-document warning, nothing delivered twice
    again = post_raw(world.b_port, flat(sent.headers), sent.content)
    assert verify_mdn(again[1], again[2], sent) == ("processed/Warning", "duplicate-document")
    rows = [m for m in messages(world.b) if m["correlation_id"] == "000000101-1-0001"]
    assert sorted(m["status"] for m in rows) == ["duplicate", "sent"]


@pytest.mark.slow
def test_an_async_mdn_is_posted_to_the_url_the_partner_named(world: World) -> None:
    status, headers, body, sent = post_as2(world, world.acme,
                                           replace(world.to_b, mdn_mode="ASYNC"), invoice(201),
                                           message_id="inv-201")
    assert (status, body) == (200, b"")
    world.b.wait_for(lambda: world.partner.mdns, what="the async MDN")
    raw = world.partner.mdns[-1]
    assert b"Original-Message-ID: <inv-201@acme.test>" in raw
    assert pyas2lib().as2.Mdn().parse(raw, lambda mid, _: sent) == ("processed", None)
    world.b.wait_for((world.out / "000000201-1-0001.x12").exists, what="delivery")


@pytest.mark.slow
def test_unknown_as2_partner_gets_an_error_mdn_and_is_stored(world: World) -> None:
    status, headers, body, sent = post_as2(world, world.stranger, world.to_b, invoice(301))
    assert status == 200
    assert verify_mdn(headers, body, sent) == ("processed/Error", "unknown-trading-partner")
    errors = [m["error"] for m in messages(world.b) if m["status"] == "error"]
    assert "AS2-From: unknown AS2 partner 'STRANGER'" in errors


@pytest.mark.slow
def test_unknown_isa_sender_inside_good_as2_gets_a_ta1_over_as2_and_is_stored(
        world: World) -> None:
    status, headers, body, sent = post_as2(world, world.acme, world.to_b,
                                           invoice(401, sender="NOBODY"))
    assert status == 200
    assert verify_mdn(headers, body, sent) == ("processed", None)  # AS2 itself was fine
    world.b.wait_for(lambda: any(b"TA1*000000401" in c for _, _, c in world.partner.received),
                     what="the TA1 over AS2")
    (ta1,) = [c for _, _, c in world.partner.received if b"TA1*000000401" in c]
    assert segments(ta1, "TA1")[0][4:6] == ["R", "006"]
    errors = [m["error"] for m in messages(world.b) if m["status"] == "error"]
    assert "ISA06: unknown sender ZZ/NOBODY" in errors


@pytest.mark.slow
def test_a_tampered_signature_gets_authentication_failed(world: World,
                                                         monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    as2 = pyas2lib().as2
    sign = as2.sign_message  # sign one thing, send another: what tampering in transit does
    monkeypatch.setattr(as2, "sign_message", lambda data, *args: sign(
        data.replace(b"DO091003", b"DO091099"), *args))
    message = as2.Message(world.acme, world.to_b)
    message.build(invoice(501), content_type="application/edi-x12", message_id="inv-501")
    monkeypatch.undo()
    status, headers, body = post_raw(world.b_port, flat(message.headers), message.content)
    assert status == 200
    assert verify_mdn(headers, body, message) == ("processed/Error", "authentication-failed")
    (row,) = [m for m in messages(world.b) if m["status"] == "error"
              and "authentication-failed" in (m["error"] or "")]
    assert "Message Digest does not match" in row["error"]
    assert not (world.out / "000000501-1-0001.x12").exists()


@pytest.mark.slow
def test_engine_a_relays_over_as2_to_engine_b_with_a_signed_mdn(world: World) -> None:
    status, _, _ = post_raw(world.a_ports["b"], {"Content-Type": "application/edi-x12"},
                            invoice(601))
    assert status == 200
    world.b.wait_for((world.out / "000000601-1-0001.x12").exists, what="A -> B delivery")

    def sent() -> list[dict[str, Any]]:
        return [m for m in messages(world.a) if m["correlation_id"] == "000000601-1-0001"
                and m["status"] == "sent"]

    world.a.wait_for(sent, what="A marks it sent")
    detail = show(world.a, sent()[0]["message_id"])
    (response,) = [s["content"] for s in detail["stages"] if s["stage"] == "response:to-b"]
    assert "MDN: processed" in response
    assert "Disposition: automatic-action/MDN-sent-automatically; processed" in response
    message_id = response.split("AS2-Message-ID: <")[1].split(">")[0]
    assert message_id.startswith(f"relay-b-{detail['id']}-")
    (row,) = [m for m in messages(world.b) if m["correlation_id"] == "000000601-1-0001"]
    b_detail = show(world.b, row["message_id"])
    assert (b_detail["metadata"]["as2_from"], b_detail["metadata"]["as2_message_id"]) == (
        "PLEXUS-A", message_id)


@pytest.mark.slow
def test_an_error_mdn_is_a_permanent_failure_and_a_good_one_is_sent(world: World) -> None:
    for isa13, ref in ((701, None), (702, "BAD-INVOICE")):
        status, _, _ = post_raw(world.a_ports["acme"], {}, invoice(isa13, extra_ref=ref))
        assert status == 200

    def rows(isa13: int) -> list[dict[str, Any]]:
        return [m for m in messages(world.a)
                if m["correlation_id"] == f"000000{isa13}-1-0001"
                and m["status"] in ("sent", "dead")]

    world.a.wait_for(lambda: rows(701) and rows(702), what="both outcomes")
    assert rows(701)[0]["status"] == "sent" and rows(702)[0]["status"] == "dead"
    (delivery,) = show(world.a, rows(702)[0]["message_id"])["deliveries"]
    assert delivery["attempts"] == 1  # permanent: not retried
    assert delivery["last_error"].endswith(
        "to ACME-AS2: the MDN says processed/Error: unexpected-processing-error")
    world.a.wait_for(lambda: world.a.metric("plexus_queue_dead", channel="relay-acme",
                                            destination="to-acme") == 1.0,
                     what="the dead letter in /metrics")
    good = [c for f, s, c in world.partner.received if f == "PLEXUS-A" and s == "processed"]
    assert any(b"ISA*00" in c and b"000000701" in c for c in good)


@pytest.mark.slow
def test_an_async_mdn_posted_to_the_source_is_verified_and_logged(world: World) -> None:
    as2 = pyas2lib().as2
    # a message engine B sent ACME earlier, asking for an asynchronous MDN
    b_org = as2.Organization(as2_name="PLEXUS-B", sign_key=world.pem["plexus-b"],
                             decrypt_key=world.pem["plexus-b"], domain="b.test",
                             mdn_url=f"http://127.0.0.1:{world.b_port}/as2")
    to_acme = as2.Partner(as2_name="ACME-AS2", verify_cert=world.certs["acme"],
                          encrypt_cert=world.certs["acme"],
                          sign=True, encrypt=True, mdn_mode="ASYNC", mdn_digest_alg="sha256")
    message = as2.Message(b_org, to_acme)
    message.build(invoice(801), content_type="application/edi-x12", message_id="out-801")
    for signer, outcome in ((world.pem["acme"], "processed"),
                            (world.pem["stranger"], "failed/Failure: Failed to parse")):
        acme = as2.Organization(as2_name="ACME-AS2", sign_key=signer, decrypt_key=world.pem[
            "acme"])
        received = as2.Message()
        _, _, mdn = received.parse(as_raw(list(flat(message.headers).items()), message.content),
                                   find_org_cb=lambda i, org=acme: org,
                                   find_partner_cb=lambda i: as2.Partner(
                                       as2_name="PLEXUS-B", verify_cert=world.certs["plexus-b"]))
        assert mdn.mdn_url == f"http://127.0.0.1:{world.b_port}/as2"
        status, _, body = post_raw(world.b_port, flat(mdn.headers), mdn.content)
        assert (status, body) == (200, b"")
        line = f"asynchronous MDN from abc-music for out-801@b.test: {outcome}"
        world.b.wait_for(lambda line=line: line in world.b.log(), what=line)
    # the refused one is also stored as an error message, the positive one is not
    rows = json.loads(world.b.cli("messages", "list", "--json", "--status", "error",
                                  check=True).stdout)
    refused = [r for r in rows if "asynchronous MDN" in (r["error"] or "")]
    assert len(refused) == 1
    assert refused[0]["error"].startswith(
        "Disposition: asynchronous MDN from abc-music for out-801@b.test: failed/Failure: "
        "Failed to parse")
