"""A real twisted.web server and HttpDestination helpers shared by the HTTP destination tests."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from cryptography.x509.oid import NameOID
from twisted.protocols import policies
from twisted.web import resource, server

from engine.connector import ConnectorContext
from engine.message import Message
from protocols.http.destination import HttpDestination, HttpDestinationConfig
from tests.unit.reactor_thread import run_coroutine, run_in_reactor

# --- a real HTTP server --------------------------------------------------------------------

@dataclass
class Reply:
    """What the test server answers on one path; hang=True never answers."""

    status: int = 200
    body: bytes = b"ok"
    headers: dict[str, str] = field(default_factory=dict)
    hang: bool = False


@dataclass
class Seen:
    """One request as the server received it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    client_cert_cn: str | None = None


class _Recorder(resource.Resource):
    isLeaf = True

    def __init__(self, replies: dict[str, Reply], seen: list[Seen]) -> None:
        super().__init__()
        self.replies = replies
        self.seen = seen

    def render(self, request: Any) -> Any:
        path = request.path.decode()
        headers = {k.decode().lower(): v[0].decode()
                   for k, v in request.requestHeaders.getAllRawHeaders()}
        cn = None
        peer = getattr(request.channel.transport, "getPeerCertificate", None)
        if peer is not None and peer() is not None:
            attrs = peer().to_cryptography().subject.get_attributes_for_oid(
                NameOID.COMMON_NAME)
            cn = str(attrs[0].value)
        self.seen.append(Seen(request.method.decode(), path, headers,
                              request.content.read(), cn))
        reply = self.replies.get(path, Reply())
        if reply.hang:
            return server.NOT_DONE_YET
        request.setResponseCode(reply.status)
        for name, value in reply.headers.items():
            request.setHeader(name, value)
        return b"" if reply.status == 204 else reply.body


class _Counting(policies.WrappingFactory):
    """Counts accepted connections and keeps them, to drop them at the end of a test."""

    connections = 0

    def buildProtocol(self, addr: Any) -> Any:  # noqa: N802 - Twisted API
        self.connections += 1
        return super().buildProtocol(addr)


class Server:
    """A twisted.web server on an ephemeral port, recording what it receives."""

    def __init__(self, tls_options: Any = None) -> None:
        self.replies: dict[str, Reply] = {}
        self.seen: list[Seen] = []
        self.site = server.Site(_Recorder(self.replies, self.seen))
        self.factory = _Counting(self.site)
        self.factory.noisy = False
        self._tls = tls_options
        self.port: Any = None

    def start(self, reactor: Any) -> None:
        """Listen on 127.0.0.1:0 (call on the reactor thread)."""
        if self._tls is None:
            self.port = reactor.listenTCP(0, self.factory, interface="127.0.0.1")
        else:
            self.port = reactor.listenSSL(0, self.factory, self._tls, interface="127.0.0.1")

    def stop(self) -> Any:
        """Stop listening and drop open connections (call on the reactor thread)."""
        for proto in list(self.factory.protocols):
            proto.transport.abortConnection()
        return self.port.stopListening()

    def url(self, path: str = "/x") -> str:
        """The URL of a path on this server."""
        scheme = "http" if self._tls is None else "https"
        return f"{scheme}://127.0.0.1:{self.port.getHost().port}{path}"


@contextmanager
def serve(reactor: Any, tls_options: Any = None) -> Iterator[Server]:
    """A running server (HTTPS with tls_options) for the duration of the with-block."""
    srv = Server(tls_options)
    run_in_reactor(srv.start, reactor)
    try:
        yield srv
    finally:
        run_in_reactor(srv.stop)


@pytest.fixture
def http_server(reactor_thread: Any) -> Iterator[Server]:
    """A plain HTTP server for one test."""
    with serve(reactor_thread) as srv:
        yield srv


def make_dest(reactor: Any, url: str, **overrides: Any) -> HttpDestination:
    """An HttpDestination for url with config overrides."""
    config = HttpDestinationConfig.model_validate(
        {"name": "out", "type": "http", "url": url, **overrides})
    ctx = ConnectorContext(channel="adt", name="out", reactor=reactor,
                           logger=logging.getLogger("test.http"))
    return HttpDestination(config, ctx)


def send(dest: HttpDestination, message: Message, timeout: float = 20.0) -> bytes | None:
    """Drive dest.send on the reactor thread and wait for it."""
    return run_coroutine(lambda: dest.send(message), timeout=timeout)


def close(dest: HttpDestination) -> None:
    """Close the destination's connections on the reactor thread."""
    run_coroutine(dest.close)


def msg(content: bytes = b"MSH|^~\\&|A|B\r", content_type: str = "hl7v2",
        message_id: int | None = 42, correlation_id: str = "corr-1") -> Message:
    """A message on channel adt."""
    return Message(content, content_type, channel="adt", message_id=message_id,
                   correlation_id=correlation_id)
