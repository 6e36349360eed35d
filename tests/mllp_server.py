"""A small, real MLLP ACK server for tests (Twisted, runs on the reactor thread).

Usage (on the reactor thread)::

    server = start_ack_server(reactor, mode="AA")
    ... server.port, server.received, server.connections ...
    server.mode = "AR"          # change the reply at any time
    yield server.stop()         # closes the listener and every connection

Modes: ``AA``, ``AE``, ``AR``, ``CA``, ``CE``, ``CR`` (an ACK with that code echoing MSH-10),
``wrong_id`` (an AA whose MSA-2 is not the received control id), ``garbage`` (a framed
non-HL7 reply), ``not_ack`` (a framed HL7 message without MSA), ``no_reply`` (read and stay
silent), ``close`` (close the connection instead of answering). ``mode`` may also be a callable
``payload -> reply payload | None``. ``delay`` seconds are waited before each reply.
"""

from __future__ import annotations

import datetime
import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

from twisted.internet import defer, ssl
from twisted.internet.interfaces import IListeningPort
from twisted.internet.protocol import Factory, Protocol
from twisted.python.failure import Failure

from engine.connector import TlsConfig
from protocols.mllp.framing import Frame, MllpDecoder, frame

Mode = str | Callable[[bytes], bytes | None]
ACK_CODES = ("AA", "AE", "AR", "CA", "CE", "CR")
MODES = (*ACK_CODES, "wrong_id", "garbage", "not_ack", "no_reply", "close")
_ack_ids = itertools.count(1)


def control_id_of(payload: bytes) -> str:
    """MSH-10 of an HL7 v2 payload ('' when there is none)."""
    text = payload.decode("utf-8", errors="replace").lstrip("\ufeff")
    first = text.replace("\r\n", "\r").replace("\n", "\r").split("\r", 1)[0]
    if not first.startswith("MSH") or len(first) < 4:
        return ""
    fields = first.split(first[3])
    return fields[9] if len(fields) > 9 else ""


def build_ack(payload: bytes, code: str = "AA", text: str = "",
              control_id: str | None = None) -> bytes:
    """An HL7 v2.5.1 ACK for the payload: MSA-1 ``code``, MSA-2 its MSH-10, MSA-3 ``text``."""
    ref = control_id_of(payload) if control_id is None else control_id
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%d%H%M%S")
    segments = [
        f"MSH|^~\\&|ACKSERVER|TEST|PLEXUS|PLEXUS|{stamp}||ACK^A01^ACK|ACK{next(_ack_ids)}|P|2.5.1",
        f"MSA|{code}|{ref}|{text}",
    ]
    if code[1] != "A":
        segments.append(f"ERR|||207^Application internal error^HL70357|E||||{text}")
    return ("\r".join(segments) + "\r").encode("utf-8")


def reply_for(mode: str, payload: bytes) -> bytes | None:
    """The reply payload a named mode gives for a received payload (None: no reply)."""
    if mode in ACK_CODES:
        text = "" if mode[1] == "A" else f"simulated {mode}"
        return build_ack(payload, mode, text)
    if mode == "wrong_id":
        return build_ack(payload, "AA", control_id="NOT-" + control_id_of(payload))
    if mode == "garbage":
        return b"this is not an HL7 message"
    if mode == "not_ack":
        return b"MSH|^~\\&|A|B|C|D|20240101||ADT^A01|X1|P|2.5.1\rPID|1||123\r"
    if mode in ("no_reply", "close"):
        return None
    raise ValueError(f"unknown mode {mode!r}; use one of {', '.join(MODES)}")


class _AckProtocol(Protocol):
    """One connection: decode frames, record them, answer per the server's mode."""

    def __init__(self, server: AckServer) -> None:
        self.server = server
        self.decoder = MllpDecoder(server.max_message_bytes)
        self.lost: defer.Deferred[None] = defer.Deferred()

    def connectionMade(self) -> None:  # noqa: N802 - Twisted API
        self.server.connections += 1
        self.server._protocols.add(self)

    def connectionLost(self, reason: Failure = None) -> None:  # noqa: N802 - Twisted API
        self.server._protocols.discard(self)
        self.lost.callback(None)

    def dataReceived(self, data: bytes) -> None:  # noqa: N802 - Twisted API
        for event in self.decoder.feed(data):
            if isinstance(event, Frame):
                self.server.received.append(event.payload)
                self._answer(event.payload)

    def _answer(self, payload: bytes) -> None:
        mode = self.server.mode
        if mode == "close":
            self.transport.loseConnection()
            return
        reply = mode(payload) if callable(mode) else reply_for(mode, payload)
        if reply is None:
            return
        if self.server.delay > 0:
            call = self.server.reactor.callLater(self.server.delay, self._write, reply)
            self.server._delayed.add(call)
        else:
            self._write(reply)

    def _write(self, reply: bytes) -> None:
        self.server._delayed = {c for c in self.server._delayed if c.active()}
        if self.transport is not None and self.connected:
            self.transport.write(frame(reply))


class _AckFactory(Factory):
    """Builds protocols bound to one AckServer."""

    def __init__(self, server: AckServer) -> None:
        self.server = server

    def buildProtocol(self, addr: Any) -> _AckProtocol:  # noqa: N802 - Twisted API
        proto = _AckProtocol(self.server)
        proto.factory = self
        return proto


class AckServer:
    """A listening MLLP ACK server; ``mode`` and ``delay`` may be changed while it runs."""

    def __init__(self, reactor: Any, mode: Mode = "AA", delay: float = 0.0,
                 max_message_bytes: int = 16 * 1024 * 1024) -> None:
        self.reactor = reactor
        self.mode: Mode = mode
        self.delay = delay
        self.max_message_bytes = max_message_bytes
        self.received: list[bytes] = []
        self.connections = 0
        self.host = "127.0.0.1"
        self.port = 0
        self._listener: IListeningPort | None = None
        self._protocols: set[_AckProtocol] = set()
        self._delayed: set[Any] = set()

    @property
    def open_connections(self) -> int:
        """Connections currently open."""
        return len(self._protocols)

    @property
    def address(self) -> str:
        """host:port of the listener."""
        return f"{self.host}:{self.port}"

    def drop_connections(self) -> defer.Deferred[Any]:
        """Abort every open connection; fires when all are closed."""
        waits = []
        for proto in list(self._protocols):
            waits.append(proto.lost)
            proto.transport.abortConnection()
        return defer.gatherResults(waits)

    def stop(self) -> defer.Deferred[Any]:
        """Stop listening, cancel pending replies and close every connection."""
        for call in self._delayed:
            if call.active():
                call.cancel()
        self._delayed.clear()
        stopping = [defer.maybeDeferred(self._listener.stopListening)] if self._listener else []
        self._listener = None
        return defer.gatherResults([*stopping, self.drop_connections()])


def _server_tls_options(tls: TlsConfig) -> ssl.CertificateOptions:
    """Server-side TLS options from a TlsConfig (cert + key, optional CA for client certs)."""
    if not tls.cert or not tls.key:
        raise ValueError("a TLS test server needs cert and key")
    pem = Path(tls.cert).read_bytes() + b"\n" + Path(tls.key).read_bytes()
    private = ssl.PrivateCertificate.loadPEM(pem)
    kwargs: dict[str, Any] = {}
    if tls.require_client_cert:
        if not tls.ca:
            raise ValueError("require_client_cert needs a ca")
        ca = ssl.Certificate.loadPEM(Path(tls.ca).read_bytes())
        kwargs = {"verify": True, "caCerts": [ca.original], "requireCertificate": True}
    return ssl.CertificateOptions(privateKey=private.privateKey.original,
                                  certificate=private.original, **kwargs)


def start_ack_server(reactor: Any, port: int = 0, mode: Mode = "AA", *, delay: float = 0.0,
                     host: str = "127.0.0.1", tls: TlsConfig | None = None,
                     max_message_bytes: int = 16 * 1024 * 1024) -> AckServer:
    """Listen on host:port (0 = ephemeral) and return the running server; call on the reactor."""
    server = AckServer(reactor, mode, delay, max_message_bytes)
    if isinstance(mode, str) and mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; use one of {', '.join(MODES)}")
    factory = _AckFactory(server)
    if tls is not None:
        server._listener = reactor.listenSSL(port, factory, _server_tls_options(tls),
                                             interface=host)
    else:
        server._listener = reactor.listenTCP(port, factory, interface=host)
    server.host = host
    server.port = server._listener.getHost().port
    return server
