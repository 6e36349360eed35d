"""MLLP destination: send HL7 v2 messages over persistent (optionally TLS) connections.

Each send writes one framed message and waits for one framed ACK on the same connection;
a connection carries one message at a time, so concurrent sends queue for a free connection
(``connections`` of them). The ACK decides the outcome:

=====================================  ========================================================
reply                                  result
=====================================  ========================================================
AA / CA, MSA-2 = sent MSH-10           success, returns the ACK bytes
AE / CE                                RetryableDeliveryError (MSA-3 / ERR text)
AR / CR                                PermanentDeliveryError (response = ACK bytes)
MSA-2 mismatch, unparseable, not ACK   RetryableDeliveryError, connection dropped
no ACK within ``ack_timeout``          RetryableDeliveryError, connection dropped
refused / lost / TLS failure           RetryableDeliveryError
outgoing message is not HL7 v2         PermanentDeliveryError
=====================================  ========================================================

The destination never retries by itself; the engine owns backoff. Message bodies are never
logged.
"""

from __future__ import annotations

import codecs
import re
from collections import deque
from pathlib import Path
from typing import Any, Literal

from OpenSSL import SSL
from pydantic import Field, field_validator, model_validator
from twisted.internet import defer, error, ssl
from twisted.internet.endpoints import HostnameEndpoint, wrapClientTLS
from twisted.internet.interfaces import IHandshakeListener
from twisted.internet.protocol import Factory, Protocol
from twisted.python.failure import Failure
from zope.interface import implementer

from engine.connector import ConnectorContext, DestinationConfig, TlsConfig
from engine.errors import (
    ConfigError,
    ParseError,
    PermanentDeliveryError,
    RetryableDeliveryError,
)
from engine.message import Message
from engine.units import ByteSize, Duration
from protocols.hl7v2.message import Hl7Message

from .framing import Frame, MllpDecoder, Oversize, frame

_ACK_CODES = ("AA", "AE", "AR", "CA", "CE", "CR")
_PEM_CERT = re.compile(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.S)
_CLOSE_GRACE = 2.0


class MllpDestinationConfig(DestinationConfig):
    """Send HL7 v2 over MLLP and require a matching ACK for every message."""

    type: Literal["mllp"] = Field(description="connector type")
    host: str = Field(min_length=1, description="receiver host name or IP address")
    port: int = Field(ge=1, le=65535, description="receiver TCP port")
    ack_timeout: Duration = Field(default=30.0, gt=0,
                                  description="wait this long for an ACK, then drop the "
                                              "connection and retry later")
    connect_timeout: Duration = Field(default=10.0, gt=0,
                                      description="give up a TCP connect (and TLS handshake) "
                                                  "after this long")
    connections: int = Field(default=1, ge=1, le=64,
                             description="persistent connections kept open; one message at a "
                                         "time per connection")
    tls: TlsConfig | None = Field(default=None,
                                  description="TLS to the receiver: `ca` verifies the server, "
                                              "`cert` + `key` present a client certificate")
    max_ack_bytes: ByteSize = Field(default=1024 * 1024, ge=64,
                                    description="largest ACK accepted (e.g. 1MiB)")
    encoding: str = Field(default="utf-8",
                          description="character set used to read messages and ACKs")

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        try:
            codecs.lookup(value)
        except LookupError:
            raise ValueError(f"unknown encoding {value!r}") from None
        return value

    @model_validator(mode="after")
    def _cert_with_key(self) -> MllpDestinationConfig:
        if self.tls is not None and (self.tls.cert is None) != (self.tls.key is None):
            raise ValueError("tls.cert and tls.key must be given together")
        return self


class _AckTooLarge(Exception):
    """The peer sent a frame larger than max_ack_bytes."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"larger than {limit} bytes")
        self.limit = limit


@implementer(IHandshakeListener)
class _MllpClientProtocol(Protocol):
    """One MLLP connection: at most one outstanding request, one framed reply per request."""

    def __init__(self, max_ack_bytes: int) -> None:
        self._decoder = MllpDecoder(max_ack_bytes)
        self._waiting: defer.Deferred[bytes] | None = None
        self._open = False
        self._dropped = False
        self.handshake: defer.Deferred[None] = defer.Deferred()
        self.lost: defer.Deferred[None] = defer.Deferred()

    @property
    def usable(self) -> bool:
        """True while the connection is open and has not been condemned."""
        return self._open and not self._dropped

    def connectionMade(self) -> None:  # noqa: N802 - Twisted API
        self._open = True

    def handshakeCompleted(self) -> None:  # noqa: N802 - Twisted API
        if not self.handshake.called:
            self.handshake.callback(None)

    def request(self, data: bytes, timeout: float, clock: Any) -> defer.Deferred[bytes]:
        """Write a framed message; the result fires with the next frame's payload."""
        if self._waiting is not None:
            raise RuntimeError("an MLLP connection carries one message at a time")
        waiting: defer.Deferred[bytes] = defer.Deferred(self._cancel_wait)
        self._waiting = waiting
        self.transport.write(data)
        waiting.addTimeout(timeout, clock)
        return waiting

    def _cancel_wait(self, waiting: defer.Deferred[bytes]) -> None:
        """A request was cancelled (or timed out): a late reply must never be matched."""
        if self._waiting is waiting:
            self._waiting = None
        self.drop()

    def dataReceived(self, data: bytes) -> None:  # noqa: N802 - Twisted API
        if self._dropped:
            return
        events = self._decoder.feed(data)
        if not events:
            return
        waiting, self._waiting = self._waiting, None
        if waiting is None or len(events) > 1:
            self.drop()  # an unsolicited frame: nothing on this connection can be trusted
        if waiting is None:
            return
        first = events[0]
        if isinstance(first, Oversize):
            self.drop()
            waiting.errback(Failure(_AckTooLarge(first.limit)))
        elif isinstance(first, Frame):
            waiting.callback(first.payload)

    def drop(self) -> None:
        """Abort the connection at once."""
        self._dropped = True
        if self._open and self.transport is not None:
            self.transport.abortConnection()

    def connectionLost(self, reason: Failure = error.ConnectionDone) -> None:  # noqa: N802
        self._open = False
        waiting, self._waiting = self._waiting, None
        if not self.handshake.called:
            self.handshake.errback(reason)
            self.handshake.addErrback(lambda _: None)
        if waiting is not None:
            waiting.errback(reason)
        self.lost.callback(None)


class _ClientFactory(Factory):
    """Builds protocols with the configured ACK size limit."""

    def __init__(self, max_ack_bytes: int) -> None:
        self.max_ack_bytes = max_ack_bytes

    def buildProtocol(self, addr: Any) -> _MllpClientProtocol:  # noqa: N802 - Twisted API
        proto = _MllpClientProtocol(self.max_ack_bytes)
        proto.factory = self
        return proto


class _Slot:
    """One pooled connection (None until first used or after a failure)."""

    __slots__ = ("protocol",)

    def __init__(self) -> None:
        self.protocol: _MllpClientProtocol | None = None


class _SlotPool:
    """Free slots, most recently used first (so light traffic keeps to one connection)."""

    def __init__(self, slots: list[_Slot]) -> None:
        self._free = list(reversed(slots))
        self._waiters: deque[defer.Deferred[_Slot]] = deque()

    def acquire(self) -> defer.Deferred[_Slot]:
        """A free slot now, or the next one released (waiters are served in order)."""
        if self._free:
            return defer.succeed(self._free.pop())
        waiter: defer.Deferred[_Slot] = defer.Deferred(self._waiters.remove)
        self._waiters.append(waiter)
        return waiter

    def release(self, slot: _Slot) -> None:
        """Hand the slot to the oldest waiter, or put it back on top of the free stack."""
        if self._waiters:
            self._waiters.popleft().callback(slot)
        else:
            self._free.append(slot)


def _read(path: str, what: str) -> bytes:
    """Read a TLS file, turning I/O errors into a config error."""
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read TLS {what} {path}: {exc.strerror}") from None


def client_tls_options(tls: TlsConfig, host: str) -> Any:
    """Client TLS connection creator: verify the server (against `ca`), present `cert`/`key`."""
    client_cert: ssl.PrivateCertificate | None = None
    if tls.cert and tls.key:
        try:
            client_cert = ssl.PrivateCertificate.loadPEM(
                _read(tls.cert, "cert") + b"\n" + _read(tls.key, "key"))
        except (SSL.Error, ValueError) as exc:
            raise ConfigError(f"invalid TLS cert/key {tls.cert}, {tls.key}: {exc}") from None
    if not tls.verify:
        mine: dict[str, Any] = {}
        if client_cert is not None:
            mine = {"privateKey": client_cert.privateKey.original,
                    "certificate": client_cert.original}
        return ssl.CertificateOptions(verify=False, **mine)
    trust: Any = None
    if tls.ca:
        blocks = _PEM_CERT.findall(_read(tls.ca, "ca"))
        if not blocks:
            raise ConfigError(f"TLS ca {tls.ca} holds no PEM certificate")
        try:
            trust = ssl.trustRootFromCertificates([ssl.Certificate.loadPEM(b) for b in blocks])
        except (SSL.Error, ValueError) as exc:
            raise ConfigError(f"invalid TLS ca {tls.ca}: {exc}") from None
    return ssl.optionsForClientTLS(host, trustRoot=trust, clientCertificate=client_cert)


def describe_failure(exc: BaseException) -> str:
    """A short operator-facing description of a connection failure."""
    if isinstance(exc, SSL.Error):
        reasons = [part[-1] for part in (exc.args[0] if exc.args else [])
                   if isinstance(part, tuple) and part and part[-1]]
        return "TLS error: " + ("; ".join(reasons) if reasons else str(exc) or "handshake failed")
    if isinstance(exc, error.ConnectionDone):
        return "closed by the peer"
    if isinstance(exc, error.ConnectionAborted):
        return "connection aborted"
    if isinstance(exc, error.ConnectionLost):
        return "connection lost"
    if isinstance(exc, error.ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, error.DNSLookupError):
        return f"host name lookup failed ({exc})"
    text = str(exc).strip()
    return text or type(exc).__name__


def _seconds(value: float) -> str:
    """'10s', '0.3s'."""
    return f"{value:g}s"


class MllpDestination:
    """Deliver messages to an MLLP receiver and check its HL7 ACK."""

    Config = MllpDestinationConfig

    def __init__(self, config: MllpDestinationConfig, context: ConnectorContext) -> None:
        self.config = config
        self.context = context
        self._reactor = context.reactor
        self._log = context.logger
        host = config.host
        self.address = f"[{host}]:{config.port}" if ":" in host else f"{host}:{config.port}"
        self._tls = client_tls_options(config.tls, host) if config.tls is not None else None
        self._factory = _ClientFactory(config.max_ack_bytes)
        self._slots = [_Slot() for _ in range(config.connections)]
        self._pool = _SlotPool(self._slots)
        self._closed = False

    @property
    def open_connections(self) -> int:
        """Connections currently open and reusable."""
        return sum(1 for s in self._slots if s.protocol is not None and s.protocol.usable)

    async def send(self, message: Message) -> bytes:
        """Send one message and return the ACK bytes; raise a DeliveryError otherwise."""
        if self._closed:
            raise RetryableDeliveryError(f"MLLP destination {self.context.name} is closed")
        payload = message.content
        control_id = self._control_id(payload)
        slot = await self._pool.acquire()
        try:
            return await self._exchange(slot, payload, control_id)
        finally:
            self._pool.release(slot)

    def _control_id(self, payload: bytes) -> str:
        """MSH-10 of the outgoing message; PermanentDeliveryError if it is not HL7 v2."""
        try:
            outgoing = Hl7Message.parse(payload.decode(self.config.encoding, errors="replace"))
        except ParseError as exc:
            raise PermanentDeliveryError(
                f"cannot send to {self.address}: the message is not valid HL7 v2 ({exc})"
            ) from None
        control_id = (outgoing.control_id or "").strip()
        if not control_id:
            raise PermanentDeliveryError(
                f"cannot send to {self.address}: the message has no MSH-10 control id, "
                "so its ACK could not be matched")
        return control_id

    async def _exchange(self, slot: _Slot, payload: bytes, control_id: str) -> bytes:
        """One request/reply on the slot's connection, (re)connecting first if needed."""
        if self._closed:
            raise RetryableDeliveryError(f"MLLP destination {self.context.name} is closed")
        proto = slot.protocol
        if proto is None or not proto.usable:
            slot.protocol = None
            proto = await self._connect()
            slot.protocol = proto
        try:
            reply = await proto.request(frame(payload), self.config.ack_timeout, self._reactor)
        except defer.TimeoutError:
            self._forget(slot, proto, "no ACK in time")
            raise RetryableDeliveryError(
                f"no ACK from {self.address} within {_seconds(self.config.ack_timeout)}"
            ) from None
        except _AckTooLarge as exc:
            self._forget(slot, proto, "ACK too large")
            raise RetryableDeliveryError(
                f"reply from {self.address} is larger than max_ack_bytes ({exc.limit} bytes)"
            ) from None
        except defer.CancelledError:
            self._forget(slot, proto, "send cancelled")
            raise
        except Exception as exc:
            reason = describe_failure(exc)
            self._forget(slot, proto, reason)
            if self._closed:
                raise RetryableDeliveryError(
                    f"MLLP destination {self.context.name} was closed while waiting for an "
                    f"ACK from {self.address}") from None
            raise RetryableDeliveryError(
                f"connection to {self.address} failed before an ACK: {reason}") from None
        try:
            return self._check_ack(reply, control_id)
        except _BadReply as exc:
            self._forget(slot, proto, "bad reply")
            raise RetryableDeliveryError(str(exc), response=reply) from None

    def _forget(self, slot: _Slot, proto: _MllpClientProtocol, why: str) -> None:
        """Drop a connection so the next send opens a fresh one."""
        proto.drop()
        if slot.protocol is proto:
            slot.protocol = None
        self._log.info("mllp %s: dropped connection to %s (%s)", self.context.name,
                       self.address, why)

    async def _connect(self) -> _MllpClientProtocol:
        """Open one connection (TCP, then TLS handshake) within connect_timeout."""
        timeout = self.config.connect_timeout
        endpoint: Any = HostnameEndpoint(self._reactor, self.config.host, self.config.port,
                                         timeout=timeout)
        if self._tls is not None:
            endpoint = wrapClientTLS(self._tls, endpoint, clock=self._reactor)
        timed_out = False
        pending: defer.Deferred[Any]

        def expire() -> None:
            nonlocal timed_out
            timed_out = True
            pending.cancel()

        pending = connecting = endpoint.connect(self._factory)
        timer = self._reactor.callLater(timeout, expire)
        try:
            proto: _MllpClientProtocol = await pending
            if self._tls is not None:
                pending = proto.handshake
                try:
                    await pending
                except defer.CancelledError:
                    proto.drop()
                    raise
                except Exception as exc:
                    proto.drop()
                    raise RetryableDeliveryError(
                        f"TLS handshake with {self.address} failed: {describe_failure(exc)}"
                    ) from None
        except (defer.CancelledError, error.ConnectingCancelledError, error.TimeoutError):
            if not timed_out:
                raise
            if pending is not connecting:
                raise RetryableDeliveryError(
                    f"TLS handshake with {self.address} did not complete within "
                    f"{_seconds(timeout)}") from None
            raise RetryableDeliveryError(
                f"cannot connect to {self.address} within {_seconds(timeout)}") from None
        except RetryableDeliveryError:
            raise
        except Exception as exc:
            raise RetryableDeliveryError(
                f"cannot connect to {self.address}: {describe_failure(exc)}") from None
        finally:
            if timer.active():
                timer.cancel()
        if self._closed:
            proto.drop()
            raise RetryableDeliveryError(f"MLLP destination {self.context.name} is closed")
        self._log.info("mllp %s: connected to %s%s", self.context.name, self.address,
                       " (TLS)" if self._tls is not None else "")
        return proto

    def _check_ack(self, reply: bytes, control_id: str) -> bytes:
        """Return the reply if it is a positive ACK for control_id; raise otherwise."""
        try:
            ack = Hl7Message.parse(reply.decode(self.config.encoding, errors="replace"))
        except Exception as exc:  # ParseError, or anything a garbage reply provokes
            raise _BadReply(f"unparseable reply from {self.address} (expected an HL7 ACK): "
                            f"{exc}") from None
        code = _text(ack, "MSA-1").upper()
        if code not in _ACK_CODES:
            what = f"MSA-1 {code!r}" if code else "no MSA segment"
            raise _BadReply(f"reply from {self.address} is not an ACK ({what})")
        acked = _text(ack, "MSA-2")
        if acked != control_id:
            raise _BadReply(f"ACK from {self.address} is for control id {acked!r}, "
                            f"not the sent {control_id!r}")
        if code in ("AA", "CA"):
            return reply
        detail = _error_text(ack) or "no error text"
        if code in ("AE", "CE"):
            raise RetryableDeliveryError(f"{code} from {self.address}: {detail}", response=reply)
        raise PermanentDeliveryError(f"{code} from {self.address}: {detail}", response=reply)

    async def close(self) -> None:
        """Close every connection; sends still waiting for an ACK fail as retryable."""
        self._closed = True
        waits = []
        for slot in self._slots:
            proto, slot.protocol = slot.protocol, None
            if proto is not None and proto._open:
                timer = self._reactor.callLater(_CLOSE_GRACE, proto.drop)
                proto.lost.addBoth(lambda _, t=timer: t.cancel() if t.active() else None)
                waits.append(proto.lost)
                proto.transport.loseConnection()
        if waits:
            await defer.DeferredList(waits)


class _BadReply(Exception):
    """The reply cannot be trusted as the ACK for the message sent."""


def _text(msg: Hl7Message, path: str) -> str:
    """A field as stripped text ('' when absent)."""
    try:
        value = msg.get(path)
    except Exception:
        return ""
    return "" if value is None else str(value).strip()


def _error_text(ack: Hl7Message) -> str:
    """MSA-3 text, else ERR-8 user message, ERR-3 / ERR-1 code text (v2.5 / v2.3 layouts)."""
    parts: list[str] = []
    for path in ("MSA-3", "ERR-8", "ERR-3.2", "ERR-1.4.2", "ERR-3.1", "ERR-1.4.1"):
        value = _text(ack, path)
        if value and value not in parts:
            parts.append(value)
        if len(parts) == 2:
            break
    return "; ".join(parts)
