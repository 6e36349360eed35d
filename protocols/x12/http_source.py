"""X12 over HTTP (`type: x12-http`): POST an interchange, the answer is its TA1/997/999.

`acks: sync` (default) answers 200 with the acknowledgments. `acks: async` answers 202 as soon
as the sets are stored and POSTs the acknowledgments to the partner's `ack_url` (bearer
`ack_token`), retried `send_attempts` times with doubling pauses; acks that never get through
are stored as error messages of the channel. Interchanges from unknown senders, or a body
mixing senders, are still answered synchronously: there is no agreed URL to send to.
"""

from __future__ import annotations

import hmac
import logging
from typing import Any, Literal

from pydantic import Field, model_validator
from twisted.internet import defer
from twisted.web import server

from engine.connector import ConnectorContext
from engine.errors import StoreError
from engine.logs import loggable
from protocols.http.later import SendLater
from protocols.http.listener import HttpReply, HttpSource
from protocols.http.poster import HttpPoster

from .inbound import NotX12, X12Inbound
from .listener_config import X12ListenerConfig
from .partners import Partner, load_partners

log = logging.getLogger("plexus.source.x12")

EDI_X12 = "application/edi-x12"


class X12HttpSourceConfig(X12ListenerConfig):
    """An HTTP endpoint taking X12 interchanges from trading partners."""

    type: Literal["x12-http"]
    path: str = Field(default="/x12", pattern=r"^/[A-Za-z0-9._~/-]*$",
                      description="POST an interchange here; the answer is the TA1/997/999")
    tokens: list[str] = Field(default_factory=list,
                              description="accepted bearer tokens (none: open)")
    acks: Literal["sync", "async"] = Field(
        default="sync", description="sync: 200 with the TA1/997/999; async: 202 once stored, "
        "the acks POSTed to the partner's ack_url")

    @model_validator(mode="after")
    def _async_needs_urls(self) -> X12HttpSourceConfig:
        if self.acks == "async":
            missing = [p.name for p in load_partners(self.partners).partners
                       if p.ack_url is None and (p.ack != "none" or p.ta1 != "never")]
            if missing:
                raise ValueError(f"acks: async needs an ack_url for {', '.join(missing)} in "
                                 "the partners file")
        return self


class X12HttpSource(HttpSource):
    """Answers each POSTed interchange synchronously, after its sets are durable."""

    content_type = "x12"  # of the messages it makes (offline channel tests use it)
    Config = X12HttpSourceConfig

    def __init__(self, config: X12HttpSourceConfig, ingest: Any,
                 context: ConnectorContext) -> None:
        self.config = config
        self.channel = context.channel
        self.reactor = context.reactor
        self.in_flight: set[Any] = set()
        self.inbound = X12Inbound(load_partners(config.partners), ingest, context.store,
                                  context.channel, config.lenient)
        self._tokens = [t.encode() for t in config.tokens]
        self.later = SendLater(context.channel, context.reactor, ingest, config.send_attempts,
                               config.send_retry_interval)
        self.poster = (HttpPoster(context, config.client_tls, config.send_timeout)
                       if config.acks == "async" else None)

    def start(self) -> None:
        """Start listening (TLS when configured)."""
        host, port = self.listen_http(self.answer)
        log.info("channel %s taking X12 on %s:%d%s%s", self.channel, host, port,
                 self.config.path, " (TLS)" if self.config.tls else "")

    @defer.inlineCallbacks
    def stop(self) -> Any:
        """Stop accepting, answer in-flight requests, end pending ack sends (stored), close."""
        yield self.stop_http()
        yield self.later.stop()
        if self.poster is not None:
            yield defer.ensureDeferred(self.poster.close())

    async def answer(self, request: server.Request) -> HttpReply:
        """One POST: the ack interchanges (200), or a plain-text refusal."""
        if request.path.decode("utf-8", "replace") != self.config.path:
            return HttpReply.text(404, f"POST X12 interchanges to {self.config.path}")
        if request.method != b"POST":
            reply = HttpReply.text(405, "only POST is accepted")
            reply.headers["Allow"] = "POST"
            return reply
        if self._tokens and not self._authorized(request):
            reply = HttpReply.text(401, "a valid bearer token is required")
            reply.headers["WWW-Authenticate"] = 'Bearer realm="plexus"'
            return reply
        if getattr(request, "too_large", False):
            return HttpReply.text(413, f"the interchange is over {self.config.max_body_bytes} "
                                  "bytes")
        peer = request.getClientAddress()
        metadata = {"peer": f"{getattr(peer, 'host', '')}:{getattr(peer, 'port', '')}"}
        try:
            result = await self.inbound.handle(request.content.getvalue(), metadata)
        except NotX12 as exc:
            return HttpReply.text(400, str(exc))
        except StoreError as exc:
            log.error("channel %s: X12 not stored: %s", self.channel, loggable(exc))
            reply = HttpReply.text(503, "the interchange could not be stored; it was not "
                                   "accepted, send it again")
            reply.headers["Retry-After"] = "5"
            return reply
        first = result.senders[0]
        partner = first if all(p is first for p in result.senders) else None  # one sender
        if self.poster is not None and partner is not None and partner.ack_url:
            if result.acks:
                self._send_later(result.text.encode("utf-8"), partner, metadata)
            return HttpReply.text(202, "accepted; acknowledgments follow at the agreed URL")
        return HttpReply(200, result.text.encode("utf-8"), {"Content-Type": EDI_X12})

    def _send_later(self, acks: bytes, partner: Partner, metadata: dict[str, Any]) -> None:
        url, poster = partner.ack_url, self.poster
        assert url is not None and poster is not None
        headers = {"Content-Type": EDI_X12}
        if partner.ack_token:
            headers["Authorization"] = f"Bearer {partner.ack_token}"

        async def send() -> None:
            await poster.post(url, headers, acks, f"X12 acknowledgments for {partner.name}")

        self.later.spawn(f"acknowledgments for {partner.name}", send, acks, "x12",
                         {**metadata, "partner": partner.name, "acknowledgment": True})

    def _authorized(self, request: server.Request) -> bool:
        scheme, _, token = (request.getHeader("authorization") or "").partition(" ")
        presented = token.strip().encode()
        return scheme.lower() == "bearer" and any(
            hmac.compare_digest(secret, presented) for secret in self._tokens)
