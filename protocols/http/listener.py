"""What every HTTP listener shares: a size-limited request, async answers, listening with TLS."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from twisted.internet import defer
from twisted.web import resource, server

from engine.connector import TlsConfig

log = logging.getLogger("plexus.source.http")


@dataclass
class HttpReply:
    """An HTTP answer: status, body, headers."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def text(cls, status: int, text: str) -> HttpReply:
        """A plain-text answer (errors that have no protocol-specific form)."""
        return cls(status, text.encode() + b"\n", {"Content-Type": "text/plain; charset=utf-8"})


class LimitedRequest(server.Request):
    """Refuses a body over the site's max_body_bytes without buffering it: `too_large`."""

    defaultContentType = None  # noqa: N815 - Twisted API; empty answers carry no type
    too_large = False
    max_bytes = 0
    _seen = 0

    def gotLength(self, length: int | None) -> None:  # noqa: N802 - Twisted API
        limit = self.channel.site.max_body_bytes  # type: ignore[union-attr]
        self.max_bytes = limit
        if length is not None and length > limit:
            self.too_large = True
            length = 0
        super().gotLength(length)

    def handleContentChunk(self, data: bytes) -> None:  # noqa: N802 - Twisted API
        if self.too_large:
            return
        self._seen += len(data)
        if self.max_bytes and self._seen > self.max_bytes:  # chunked, no length up front
            self.too_large = True
            self.content.seek(0)
            self.content.truncate()
            return
        super().handleContentChunk(data)


Handler = Callable[[server.Request], Awaitable[HttpReply]]


class AsyncEndpoint(resource.Resource):
    """Every request goes to one coroutine; its HttpReply is written when it is ready."""

    isLeaf = True

    def __init__(self, handler: Handler, in_flight: set[Any],
                 on_bug: Callable[[], HttpReply]) -> None:
        super().__init__()
        self.handler = handler
        self.in_flight = in_flight
        self.on_bug = on_bug

    def render(self, request: server.Request) -> Any:
        d = defer.Deferred.fromCoroutine(self.handler(request))
        self.in_flight.add(d)
        d.addBoth(self._done, request, d)
        return server.NOT_DONE_YET

    def _done(self, reply: HttpReply | Any, request: server.Request, d: Any) -> None:
        self.in_flight.discard(d)
        if not isinstance(reply, HttpReply):  # a bug: answer, never leave the client hanging
            log.error("request failed: %s", getattr(reply, "value", reply))
            reply = self.on_bug()
        if request.finished or request.channel is None:
            return
        request.setResponseCode(reply.status)
        for name, value in reply.headers.items():
            request.setHeader(name, value)
        request.write(reply.body)
        request.finish()


def listen(reactor: Any, endpoint: resource.Resource, host: str, port: int,
           tls: TlsConfig | None, max_body_bytes: int, idle_timeout: float) -> Any:
    """Start a twisted.web site (TLS when configured); returns the listening port."""
    # the body is the message: no form parsing into args (a bad multipart body got Twisted's
    # bare 400 instead of the protocol's answer, and the parse costs 60 us a request)
    site = server.Site(endpoint, timeout=idle_timeout, parsePOSTFormSubmission=False)
    site.requestFactory = LimitedRequest
    site.max_body_bytes = max_body_bytes  # type: ignore[attr-defined]
    site.noisy = False
    if tls is not None:
        from engine.tls import server_options
        return reactor.listenSSL(port, site, server_options(tls), interface=host)
    return reactor.listenTCP(port, site, interface=host)


@defer.inlineCallbacks
def stop_listening(port: Any, in_flight: set[Any]) -> Any:
    """Stop accepting, then let in-flight requests get their answer."""
    if port is not None:
        yield defer.maybeDeferred(port.stopListening)
    if in_flight:
        yield defer.DeferredList(list(in_flight))


class HttpSource:
    """What every HTTP-based source shares: its in-flight requests, its port, its address.

    Subclasses set `config` (host, port, tls, max_body_bytes, idle_timeout), `reactor` and an
    empty `in_flight` set, then call `listen_http(handler)` in their start() and `stop_http()`
    in their stop().
    """

    config: Any
    reactor: Any
    in_flight: set[Any]
    port: Any = None

    def bug_reply(self) -> HttpReply:
        """The answer when answer() itself fails (a bug)."""
        return HttpReply.text(500, "internal error")

    @property
    def address(self) -> tuple[str, int]:
        """The bound host and port (after start)."""
        host = self.port.getHost()
        return host.host, host.port

    def listen_http(self, handler: Handler) -> tuple[str, int]:
        """Answer every request with `handler` (TLS when configured); the bound address."""
        endpoint = AsyncEndpoint(handler, self.in_flight, self.bug_reply)
        c = self.config
        self.port = listen(self.reactor, endpoint, c.host, c.port, c.tls, c.max_body_bytes,
                           c.idle_timeout)
        return self.address

    def stop_http(self) -> Any:
        """Stop accepting; fires when in-flight requests have their answer."""
        return stop_listening(self.port, self.in_flight)
