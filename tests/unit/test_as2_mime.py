"""Building and reading AS2 messages and MDNs with pyas2lib: the helpers in protocols.as2.mime."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from protocols.as2.library import pyas2lib
from protocols.as2.mime import (
    build_message,
    header,
    mdn_reply,
    mdn_report,
    original_message_id,
    parse_message,
    raw_mime,
    read_mdn,
    rebuild_mdn,
    refusal_mdn,
    sent_stub,
)
from tests.certs import make_as2_identity

INVOICE = (b"ISA*00*          *00*          *ZZ*ACME           *ZZ*GOODHEALTH     *240116*1200*U*"
           b"00401*000000101*0*P*>~GS*IN*ACME*GOODHEALTH*20240116*1200*1*X*004010~ST*810*0001~"
           b"BIG*20240116*INV-1~TDS*1000~SE*4*0001~GE*1*1~IEA*1*000000101~")


@dataclasses.dataclass
class Party:
    """One side of an exchange: its Organization and how the other side sees it."""

    org: Any
    as_partner: Any  # a Partner for the other side (to send to us / verify us)


def party(root: Path, name: str, **options: Any) -> Party:
    lib = pyas2lib()
    files = make_as2_identity(root, name)
    pem = Path(files["key"]).read_bytes() + Path(files["cert"]).read_bytes()
    cert = Path(files["cert"]).read_bytes()
    org = lib.as2.Organization(as2_name=name, sign_key=pem, decrypt_key=pem,
                               domain=f"{name.lower()}.test", mdn_url=f"http://{name}/mdn")
    settings = {"sign": True, "encrypt": True, "enc_alg": "aes_256_cbc", "mdn_mode": "SYNC",
                "mdn_digest_alg": "sha256", **options}
    return Party(org, lib.as2.Partner(as2_name=name, verify_cert=cert, encrypt_cert=cert,
                                      **settings))


@pytest.fixture(scope="module")
def parties(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Party]:
    root = tmp_path_factory.mktemp("as2-mime")
    return {name: party(root, name) for name in ("ACME", "PLEXUS", "IMPOSTER")}


def wire(out: Any) -> bytes:
    """What the receiver reads: the HTTP headers put back in front of the body."""
    return raw_mime(list(out.headers.items()) + [("Host", "x"), ("Content-Length", "9")],
                    out.body)


def test_a_signed_encrypted_message_round_trips_with_a_signed_mdn(
        parties: dict[str, Party]) -> None:
    acme, plexus = parties["ACME"], parties["PLEXUS"]
    out = build_message(acme.org, plexus.as_partner, INVOICE, content_type="application/edi-x12",
                        message_id="ch-7-abc")
    assert out.message_id == "ch-7-abc@acme.test"
    assert out.headers["AS2-From"] == "ACME" and out.headers["AS2-To"] == "PLEXUS"
    assert out.headers["Content-Type"].startswith("application/pkcs7-mime")
    assert "MIME-Version" not in out.headers
    assert INVOICE not in out.body  # encrypted

    inbound = parse_message(wire(out), plexus.org, acme.as_partner)
    assert (inbound.ok, inbound.status, inbound.detail, inbound.error) == (
        True, "processed", None, None)
    assert inbound.payload == INVOICE
    assert inbound.message.signed and inbound.message.encrypted
    assert inbound.message.mic == out.sent.mic

    headers, body = mdn_reply(inbound.mdn)
    assert headers["Content-Type"].startswith("multipart/signed")
    assert (headers["AS2-From"], headers["AS2-To"]) == ("PLEXUS", "ACME")
    mdn = raw_mime(list(headers.items()), body)
    assert read_mdn(mdn, out.sent) == ("processed", None)
    report = mdn_report(mdn)
    assert "Original-Message-ID: <ch-7-abc@acme.test>" in report
    assert f"Received-content-MIC: {out.sent.mic.decode()}, sha256" in report
    assert original_message_id(mdn) == "ch-7-abc@acme.test"
    assert original_message_id(wire(out)) is None  # a message, not an MDN


def test_a_content_changed_after_signing_fails_authentication(
        parties: dict[str, Party], monkeypatch: pytest.MonkeyPatch) -> None:
    acme, plexus = parties["ACME"], parties["PLEXUS"]
    as2 = pyas2lib().as2
    sign = as2.sign_message
    monkeypatch.setattr(as2, "sign_message",
                        lambda data, *args: sign(data.replace(b"INV-1", b"INV-2"), *args))
    out = build_message(acme.org, plexus.as_partner, INVOICE, content_type="application/edi-x12")
    monkeypatch.undo()
    inbound = parse_message(wire(out), plexus.org, acme.as_partner)
    assert (inbound.status, inbound.detail) == ("processed/Error", "authentication-failed")
    assert "Message Digest does not match" in (inbound.error or "")
    headers, body = mdn_reply(inbound.mdn)
    assert read_mdn(raw_mime(list(headers.items()), body), out.sent) == (
        "processed/Error", "authentication-failed")


def test_a_signature_by_another_key_fails_authentication(parties: dict[str, Party]) -> None:
    imposter, plexus, acme = parties["IMPOSTER"], parties["PLEXUS"], parties["ACME"]
    out = build_message(imposter.org, plexus.as_partner, INVOICE, content_type="text/plain")
    raw = wire(out).replace(b"AS2-From: IMPOSTER", b"AS2-From: ACME")
    inbound = parse_message(raw, plexus.org, acme.as_partner)
    assert (inbound.status, inbound.detail) == ("processed/Error", "authentication-failed")


def test_encrypted_for_someone_else_fails_decryption(parties: dict[str, Party]) -> None:
    acme, plexus, imposter = parties["ACME"], parties["PLEXUS"], parties["IMPOSTER"]
    out = build_message(acme.org, imposter.as_partner, INVOICE, content_type="text/plain")
    raw = wire(out).replace(b"AS2-To: IMPOSTER", b"AS2-To: PLEXUS")
    inbound = parse_message(raw, plexus.org, acme.as_partner)
    assert (inbound.status, inbound.detail) == ("processed/Error", "decryption-failed")


def test_an_unsigned_message_from_a_partner_that_must_sign_is_refused(
        parties: dict[str, Party]) -> None:
    acme, plexus = parties["ACME"], parties["PLEXUS"]
    unsigned = dataclasses.replace(plexus.as_partner, sign=False)
    out = build_message(acme.org, unsigned, INVOICE, content_type="text/plain")
    inbound = parse_message(wire(out), plexus.org, acme.as_partner)
    assert (inbound.status, inbound.detail) == ("processed/Error",
                                                "insufficient-message-security")


def test_unknown_partner_gets_a_signed_error_mdn_built_from_the_headers(
        parties: dict[str, Party]) -> None:
    imposter, plexus = parties["IMPOSTER"], parties["PLEXUS"]
    out = build_message(imposter.org, plexus.as_partner, INVOICE, content_type="text/plain")
    mdn = refusal_mdn(wire(out), plexus.org, "IMPOSTER", "unknown-trading-partner")
    assert mdn.mdn_mode == "SYNC"
    headers, body = mdn_reply(mdn)
    assert headers["Content-Type"].startswith("multipart/signed")
    raw = raw_mime(list(headers.items()), body)
    assert "Disposition: automatic-action/MDN-sent-automatically; processed/Error: " \
           "unknown-trading-partner" in mdn_report(raw)
    assert header(raw, "AS2-To") == "IMPOSTER"
    # the sender can verify our signature on it
    assert read_mdn(raw, out.sent) == ("processed/Error", "unknown-trading-partner")


def test_no_mdn_asked_no_refusal_mdn_and_async_mode_is_kept(parties: dict[str, Party]) -> None:
    imposter, plexus = parties["IMPOSTER"], parties["PLEXUS"]
    silent = dataclasses.replace(plexus.as_partner, mdn_mode=None)
    out = build_message(imposter.org, silent, INVOICE, content_type="text/plain")
    assert refusal_mdn(wire(out), plexus.org, "IMPOSTER", "unknown-trading-partner") is None
    later = dataclasses.replace(plexus.as_partner, mdn_mode="ASYNC")
    out = build_message(imposter.org, later, INVOICE, content_type="text/plain")
    mdn = refusal_mdn(wire(out), plexus.org, "IMPOSTER", "unknown-trading-partner")
    assert (mdn.mdn_mode, mdn.mdn_url) == ("ASYNC", "http://IMPOSTER/mdn")


def test_an_async_mdn_is_verified_against_a_stub_of_the_sent_message(
        parties: dict[str, Party]) -> None:
    acme, plexus = parties["ACME"], parties["PLEXUS"]
    later = dataclasses.replace(plexus.as_partner, mdn_mode="ASYNC")
    out = build_message(acme.org, later, INVOICE, content_type="text/plain", message_id="m1")
    assert out.headers["receipt-delivery-option"] == "http://ACME/mdn"
    inbound = parse_message(wire(out), plexus.org, acme.as_partner)
    assert inbound.mdn.mdn_mode == "ASYNC"
    headers, body = mdn_reply(inbound.mdn)
    raw = raw_mime(list(headers.items()), body)
    assert original_message_id(raw) == "m1@acme.test"
    stub = sent_stub("m1@acme.test", acme.org, plexus.as_partner)
    assert read_mdn(raw, stub) == ("processed", None)
    # signed by someone else: refused
    forged = sent_stub("m1@acme.test", acme.org, parties["IMPOSTER"].as_partner)
    status, detail = read_mdn(raw, forged)
    assert status == "failed/Failure" and "Failed to parse received MDN" in (detail or "")


def test_mdn_dispositions_seen_by_the_sender(parties: dict[str, Party]) -> None:
    acme, plexus = parties["ACME"], parties["PLEXUS"]
    out = build_message(acme.org, plexus.as_partner, INVOICE, content_type="text/plain")
    inbound = parse_message(wire(out), plexus.org, acme.as_partner)
    rebuild_mdn(inbound, "processed/Warning", "duplicate-document")
    headers, body = mdn_reply(inbound.mdn)
    raw = raw_mime(list(headers.items()), body)
    assert read_mdn(raw, out.sent) == ("processed/Warning", "duplicate-document")
    # a MIC that does not match what was sent
    out.sent.mic = b"AAAA"
    rebuild_mdn(inbound, "processed", None)
    headers, body = mdn_reply(inbound.mdn)
    assert read_mdn(raw_mime(list(headers.items()), body), out.sent) == (
        "processed/warning", "Message Integrity check failed.")
    # an unsigned MDN when a signed one was asked for
    unsigned = pyas2lib().as2.Mdn(mdn_mode="SYNC")
    inbound.message.payload.replace_header("disposition-notification-options", "none")
    del inbound.message.payload["disposition-notification-options"]
    unsigned.build(message=inbound.message, status="processed")
    headers, body = mdn_reply(unsigned)
    assert read_mdn(raw_mime(list(headers.items()), body), out.sent) == (
        "failed/Failure", "Expected signed MDN but unsigned MDN returned")
    # not an MDN at all
    assert read_mdn(b"Content-Type: text/html\r\n\r\n<html>", out.sent) == (
        "failed/Failure", "mdn-not-found")


def test_raw_mime_drops_transfer_headers_and_folded_values() -> None:
    raw = raw_mime([("Host", "a"), ("Content-Length", "3"), ("AS2-From", "X"),
                    ("Evil", "a\r\nInjected: 1"), ("Content-Type", "text/plain")], b"abc")
    assert raw == b"AS2-From: X\r\nContent-Type: text/plain\r\n\r\nabc"
