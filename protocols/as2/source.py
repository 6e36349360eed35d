"""AS2 listener (`type: as2`): X12 interchanges from trading partners, answered with MDNs.

One POST is one AS2 message. The partner is found by AS2-From in the partners file; the
message is decrypted, verified and decompressed with pyas2lib; the payload goes through the
same inbound X12 handling as `x12-http` (TA1/997/999, one stored message per transaction set,
duplicates by partner|ISA13|GS06|ST02). Only after the sets are durable is the MDN answered:

* sync MDN (no Receipt-Delivery-Option): the MDN is the HTTP response (signed when asked).
* async MDN: HTTP 200 with an empty body at once, then the MDN is POSTed to the URL the partner
  named (retried `send_attempts` times with doubling pauses).
* a partner that asked for no MDN gets 200 (accepted) or a 4xx text (refused).

Refusals: unknown AS2-From, or AS2-To not us -> MDN "processed/Error: unknown-trading-partner"
(sync only: no MDN is POSTed to a URL an unknown sender names; 403 then); decryption,
signature, security-policy failures -> the pyas2lib disposition (decryption-failed,
authentication-failed, insufficient-message-security...). Each refused message is stored
(status error, the raw MIME as content, the reason as error). A store failure answers 503 and
no MDN: the partner sends again.

Duplicates: a Message-ID seen before from the same partner gets "processed/Warning:
duplicate-document"; its sets still pass the X12 duplicate check, so none is delivered twice.
Seen Message-IDs are kept as store counters named `as2:<partner>:<Message-ID>`.

The TA1/997/999 that the X12 handling builds go back to the partner as an AS2 message of their
own when the partner has an `as2.url` (`return_acks`); without a url they are only stored with
the sets' outcomes. An MDN POSTed to us (an asynchronous MDN for something we sent) is
verified and logged. Anything we POST that fails every attempt is stored as an error message
of this channel (content: the MDN or ack) so it is visible and can be resent by hand.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any, Literal

from pydantic import Field
from twisted.internet import defer
from twisted.web import server

from engine.connector import ConnectorContext
from engine.errors import (
    StoreError,
)
from engine.logs import loggable
from protocols.http.later import SendLater, store_refusal
from protocols.http.listener import HttpReply, HttpSource
from protocols.x12.inbound import NotX12, X12Inbound
from protocols.x12.listener_config import X12ListenerConfig
from protocols.x12.partners import Partner, PartnersFile, load_partners

from . import keys
from .client import As2Client
from .mime import (
    Inbound,
    as2_name,
    disposition_text,
    header,
    mdn_reply,
    original_message_id,
    parse_message,
    raw_mime,
    read_mdn,
    rebuild_mdn,
    refusal_mdn,
    sent_stub,
)

log = logging.getLogger("plexus.source.as2")


class As2SourceConfig(X12ListenerConfig):
    """An AS2 endpoint taking X12 interchanges from trading partners."""

    type: Literal["as2"]
    path: str = Field(default="/as2", pattern=r"^/[A-Za-z0-9._~/-]*$",
                      description="partners POST AS2 messages (and async MDNs) here")
    return_acks: bool = Field(default=True, description="send the TA1/997/999 back as an AS2 "
                              "message to partners with an as2.url")

    @classmethod
    def check_partners(cls, partners: PartnersFile) -> None:
        """AS2 needs our own AS2 identity (us.as2)."""
        keys.require_us(partners)


class As2Source(HttpSource):
    """Answers each AS2 message with its MDN once its transaction sets are durable."""

    content_type = "x12"  # of the messages it makes (offline channel tests use it)
    Config = As2SourceConfig

    def __init__(self, config: As2SourceConfig, ingest: Any, context: ConnectorContext) -> None:
        self.config = config
        self.channel = context.channel
        self.reactor = context.reactor
        self.store = context.store
        self.ingest = ingest
        self.in_flight: set[Any] = set()
        self.partners = load_partners(config.partners)
        self.org = keys.organization(keys.require_us(self.partners))
        for p in self.partners.partners:
            if p.as2 is not None:
                keys.partner(p.as2)  # a certificate that does not load fails at start
        self.inbound = X12Inbound(self.partners, ingest, context.store, context.channel,
                                  config.lenient)
        self.client = As2Client(context, config.client_tls, config.send_timeout)
        self.later = SendLater(context.channel, context.reactor, ingest,
                               config.send_attempts, config.send_retry_interval)

    def start(self) -> None:
        """Start listening (TLS when configured)."""
        host, port = self.listen_http(self.answer)
        log.info("channel %s taking AS2 for %s on %s:%d%s%s", self.channel, self.org.as2_name,
                 host, port, self.config.path, " (TLS)" if self.config.tls else "")

    @defer.inlineCallbacks
    def stop(self) -> Any:
        """Stop accepting, answer in-flight requests, end pending retries (stored), close."""
        yield self.stop_http()
        yield self.later.stop()
        yield defer.ensureDeferred(self.client.close())

    # -- one request -------------------------------------------------------------------
    async def answer(self, request: server.Request) -> HttpReply:
        """One POST: an MDN (sync), an empty 200 (async) or a plain-text refusal."""
        if request.path.decode("utf-8", "replace") != self.config.path:
            return HttpReply.text(404, f"POST AS2 messages to {self.config.path}")
        if request.method != b"POST":
            reply = HttpReply.text(405, "only POST is accepted")
            reply.headers["Allow"] = "POST"
            return reply
        if getattr(request, "too_large", False):
            return HttpReply.text(413, f"the message is over {self.config.max_body_bytes} "
                                  "bytes")
        raw = raw_mime([(name.decode("latin-1"), value.decode("latin-1"))
                        for name, values in request.requestHeaders.getAllRawHeaders()
                        for value in values], request.content.getvalue())
        as2_from, as2_to = as2_name(raw, "AS2-From"), as2_name(raw, "AS2-To")
        message_id = (header(raw, "Message-ID") or "").strip().lstrip("<").rstrip(">")
        if not as2_from or not as2_to or not message_id:
            return HttpReply.text(400, "not an AS2 message: the AS2-From, AS2-To and "
                                  "Message-ID headers are required")
        peer = request.getClientAddress()
        metadata = {"peer": f"{getattr(peer, 'host', '')}:{getattr(peer, 'port', '')}",
                    "as2_from": as2_from, "as2_to": as2_to, "as2_message_id": message_id}
        partner = self.partners.find_as2(as2_from)
        if as2_to != self.org.as2_name or partner is None:
            return await self._refuse_unknown(raw, as2_from, as2_to, metadata)
        assert partner.as2 is not None
        kind = (header(raw, "Content-Type") or "").lower()
        original = original_message_id(raw) if kind.startswith(
            ("multipart/report", "multipart/signed")) else None
        if original is not None:
            return await self._async_mdn(raw, partner, original, metadata)
        try:
            inbound = parse_message(raw, self.org, keys.partner(partner.as2))
        except Exception as exc:  # pyas2lib failing outside its own error handling
            reason = f"AS2 message unreadable: {exc!r}"
            await self._store_refusal(raw, reason, None, metadata)
            return HttpReply.text(400, reason)
        if not inbound.ok:
            reason = f"AS2 {disposition_text(inbound.status, inbound.detail)}: {inbound.error}"
            log.warning("channel %s: AS2 message %s from %s refused: %s", self.channel,
                        message_id, as2_from, reason)
            await self._store_refusal(raw, reason, "AS2-From", metadata)
            return self._mdn_answer(inbound.mdn, partner, 400, reason)
        return await self._accept(inbound, partner, message_id, metadata)

    async def _accept(self, inbound: Inbound, partner: Partner, message_id: str,
                      metadata: dict[str, Any]) -> HttpReply:
        """A decrypted, verified message: sets stored, then the MDN (and acks) go out."""
        seen_key = f"as2:{partner.name}:{message_id}"
        metadata = {**metadata, "as2_signed": bool(inbound.message.signed),
                    "as2_encrypted": bool(inbound.message.encrypted)}
        try:
            duplicate = await self.store.next_number(seen_key, 0) > 1  # 0: read, not count
            result = await self.inbound.handle(inbound.payload, metadata)
        except NotX12 as exc:  # stored by the X12 handling
            rebuild_mdn(inbound, "processed/Error", "unexpected-processing-error")
            return self._mdn_answer(inbound.mdn, partner, 400, str(exc))
        except StoreError as exc:
            log.error("channel %s: AS2 message %s not stored: %s", self.channel, message_id,
                      loggable(exc))
            reply = HttpReply.text(503, "the message could not be stored; it was not "
                                   "accepted, send it again")
            reply.headers["Retry-After"] = "5"
            return reply
        try:
            await self.store.next_number(seen_key, 1)
        except StoreError as exc:  # the sets are stored; only the Message-ID check is lost
            log.warning("channel %s: Message-ID %s not recorded: %s", self.channel,
                        message_id, loggable(exc))
        if duplicate:
            log.info("channel %s: AS2 message %s from %s is a duplicate", self.channel,
                     message_id, partner.name)
            rebuild_mdn(inbound, "processed/Warning", "duplicate-document")
        elif result.acks and self.config.return_acks and partner.as2 and partner.as2.url:
            self._return_acks(result.text.encode(), partner, message_id, metadata)
        log.info("channel %s: AS2 message %s from %s: %d set(s) accepted, %d rejected, %d "
                 "duplicate", self.channel, message_id, partner.name, result.accepted,
                 result.rejected, result.duplicates)
        return self._mdn_answer(inbound.mdn, partner, 200, "")

    async def _refuse_unknown(self, raw: bytes, as2_from: str, as2_to: str,
                              metadata: dict[str, Any]) -> HttpReply:
        ours = as2_to == self.org.as2_name
        reason = (f"unknown AS2 partner {as2_from!r}" if ours else
                  f"AS2-To {as2_to!r} is not us ({self.org.as2_name})")
        log.warning("channel %s: AS2 message refused: %s", self.channel, reason)
        await self._store_refusal(raw, reason, "AS2-From" if ours else "AS2-To", metadata)
        mdn = refusal_mdn(raw, self.org if ours else None, as2_from, "unknown-trading-partner")
        if mdn is None or mdn.mdn_mode == "ASYNC":
            return HttpReply.text(403, reason)
        headers, body = mdn_reply(mdn)
        return HttpReply(200, body, headers)

    async def _async_mdn(self, raw: bytes, partner: Partner, original: str,
                         metadata: dict[str, Any]) -> HttpReply:
        """An MDN for a message we sent: verified against the partner's certificate and
        logged; an error disposition or a failed integrity check is also stored as an error
        message of this channel, so a partner's refusal is seen (and alerted on) like any
        other refusal."""
        assert partner.as2 is not None
        status, detail = read_mdn(raw, sent_stub(original, self.org, keys.partner(partner.as2)))
        text = (f"asynchronous MDN from {partner.name} for {original}: "
                f"{disposition_text(status, detail)}")
        lowered = status.lower()
        if lowered == "processed" or (lowered == "processed/warning"
                                      and "integrity" not in (detail or "").lower()):
            log.info("channel %s: %s", self.channel, text)  # e.g. duplicate-document: they have it
        else:
            log.warning("channel %s: %s", self.channel, text)
            await self._store_refusal(raw, text, "Disposition",
                                      {**metadata, "as2_original_message_id": original,
                                       "partner": partner.name}, "text")
        return HttpReply(200)

    def _mdn_answer(self, mdn: Any, partner: Partner, status: int, text: str) -> HttpReply:
        """The MDN in the response (sync), or 200 now and the MDN POSTed later (async)."""
        if mdn is None:
            return HttpReply(200) if status == 200 else HttpReply.text(status, text)
        headers, body = mdn_reply(mdn)
        if mdn.mdn_mode != "ASYNC":
            return HttpReply(200, body, headers)
        url = mdn.mdn_url
        self.later.spawn(f"async MDN for {mdn.orig_message_id}", lambda: self.client.post_mdn(
            url, headers, body, mdn.orig_message_id), body, "text",
            {"as2_from": partner.as2.id if partner.as2 else "", "as2_mdn_url": url,
             "as2_original_message_id": mdn.orig_message_id})
        return HttpReply(200)

    def _return_acks(self, acks: bytes, partner: Partner, message_id: str,
                     metadata: dict[str, Any]) -> None:
        """Send the TA1/997/999 to the partner as an AS2 message of their own."""
        settings = partner.as2
        assert settings is not None
        left = "ack-" + hashlib.sha256(f"{partner.name}|{message_id}".encode()).hexdigest()[:24]

        async def send() -> None:
            sent_id, outcome = await self.client.send(
                self.org, settings, acks, content_type="application/edi-x12", message_id=left,
                subject="X12 acknowledgment")
            log.info("channel %s: acknowledgment for %s sent to %s as %s (%s)", self.channel,
                     message_id, partner.name, sent_id, outcome.splitlines()[-1])

        self.later.spawn(f"acknowledgment for {message_id}", send, acks, "x12",
                    {**metadata, "acknowledgment_for": message_id})

    async def _store_refusal(self, content: bytes, reason: str, location: str | None,
                             metadata: dict[str, Any], content_type: str = "as2") -> None:
        await store_refusal(self.ingest, self.channel, content, reason, location, metadata,
                            content_type)
