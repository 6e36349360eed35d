"""MLLP listener: frames in, HL7 ACK/NAK out, each ACK only after the durable commit."""

from __future__ import annotations

import logging
from collections import deque
from typing import Any, Literal

from pydantic import ConfigDict, Field
from twisted.internet import defer, protocol, threads
from twisted.protocols.policies import TimeoutMixin
from twisted.python.failure import Failure

from engine import metrics
from engine.connector import ConnectorContext, SourceConfig, TlsConfig
from engine.errors import MessageError, ParseError, RejectedError, StoreError
from engine.logs import loggable
from engine.message import Message, Receipt
from engine.units import ByteSize, Duration
from protocols.hl7v2.ack import ack_code, build_ack, is_ack
from protocols.hl7v2.message import Hl7Message
from protocols.hl7v2.validation import StructureValidationConfig, StructureValidator

from .framing import Frame, MllpDecoder, Oversize, frame

log = logging.getLogger("plexus.source.mllp")

DEFAULT_VERSIONS = ["2.1", "2.2", "2.3", "2.3.1", "2.4", "2.5", "2.5.1", "2.6", "2.7", "2.7.1",
                    "2.8", "2.8.1", "2.8.2"]


class MllpSourceConfig(SourceConfig):
    """An MLLP (HL7 v2) listener."""

    type: Literal["mllp"]
    host: str = Field(default="0.0.0.0", description="interface to listen on")
    port: int = Field(ge=0, le=65535, description="TCP port")
    ack: Literal["after-store"] = Field(
        default="after-store", description="the ACK is sent after the message is committed")
    max_message_bytes: ByteSize = Field(default=1024 * 1024,
                                        description="larger frames get AR and the link closes")
    idle_timeout: Duration = Field(default=300.0, description="close silent connections")
    max_connections: int = Field(default=500, ge=1, description="concurrent connections")
    duplicate_window: Duration = Field(
        default=86400.0, description="same MSH-3/MSH-4/MSH-10 within it: AA, not redelivered")
    versions: list[str] = Field(default_factory=lambda: list(DEFAULT_VERSIONS),
                                description="accepted MSH-12 versions; others get AR")
    processing_ids: list[str] = Field(default_factory=lambda: ["P", "T", "D"],
                                      description="accepted MSH-11 values; others get AR")
    tls: TlsConfig | None = Field(default=None, description="TLS / mutual TLS")
    validate_: StructureValidationConfig | None = Field(
        default=None, alias="validate",
        description="structural validation with hl7apy (slow: tens of messages/s); a "
        "failure is answered AE and stored with its error")

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class _Connection(protocol.Protocol, TimeoutMixin):
    """One sender connection; ACKs leave in the order the messages arrived."""

    def __init__(self, source: MllpSource) -> None:
        self.source = source
        self.decoder = MllpDecoder(source.config.max_message_bytes)
        self.pending: deque[list[Any]] = deque()  # [deferred-fired?, ack bytes or None]
        self.closing = False
        self.peer = ""

    def connectionMade(self) -> None:  # noqa: N802 - Twisted API
        peer = self.transport.getPeer()
        self.peer = f"{getattr(peer, 'host', '?')}:{getattr(peer, 'port', '?')}"
        self.source.connections.add(self)
        metrics.SOURCE_CONNECTIONS.labels(self.source.channel).inc()
        if len(self.source.connections) > self.source.config.max_connections:
            log.warning("too many connections on %s; closing %s", self.source.channel, self.peer)
            self.transport.loseConnection()
            return
        self.setTimeout(self.source.config.idle_timeout)

    def connectionLost(self, reason: Failure = protocol.connectionDone) -> None:  # noqa: N802
        self.setTimeout(None)
        if self in self.source.connections:
            self.source.connections.discard(self)
            metrics.SOURCE_CONNECTIONS.labels(self.source.channel).dec()

    def timeoutConnection(self) -> None:  # noqa: N802 - Twisted API
        log.info("closing idle MLLP connection from %s", self.peer)
        self.transport.loseConnection()

    def dataReceived(self, data: bytes) -> None:  # noqa: N802 - Twisted API
        self.resetTimeout()
        if self.closing:
            return
        before = self.decoder.discarded_bytes
        events = self.decoder.feed(data)
        if self.decoder.discarded_bytes != before:
            metrics.MLLP_DISCARDED_BYTES.labels(self.source.channel).inc(
                self.decoder.discarded_bytes - before)
        for event in events:
            if isinstance(event, Frame):
                self._queue(self.source.handle(event.payload, self.peer))
            elif isinstance(event, Oversize):
                self._queue(self.source.handle_oversize(event, self.peer))
                self.closing = True
                break

    def _queue(self, d: defer.Deferred[bytes | None]) -> None:
        slot: list[Any] = [False, None]
        self.pending.append(slot)

        def done(ack: bytes | None) -> None:
            slot[0], slot[1] = True, ack
            self._flush()

        d.addCallback(done)
        d.addErrback(lambda f: (log.error("MLLP handler failed: %s", f.getTraceback()),
                                done(None)))

    def _flush(self) -> None:
        while self.pending and self.pending[0][0]:
            _, ack = self.pending.popleft()
            if ack is not None and self.transport is not None:
                self.transport.write(frame(ack))
        if self.closing and not self.pending and self.transport is not None:
            self.transport.loseConnection()


class _Factory(protocol.Factory):
    def __init__(self, source: MllpSource) -> None:
        self.source = source

    def buildProtocol(self, addr: Any) -> _Connection:  # noqa: N802 - Twisted API
        return _Connection(self.source)


class MllpSource:
    """Listens for MLLP, parses MSH, hands messages to the channel, answers per HL7 v2."""

    content_type = "hl7v2"  # of the messages it makes (offline channel tests use it)
    Config = MllpSourceConfig

    def __init__(self, config: MllpSourceConfig, ingest: Any, context: ConnectorContext) -> None:
        self.config = config
        self.ingest = ingest
        self.channel = context.channel
        self.reactor = context.reactor
        self.validator = StructureValidator(config.validate_) if config.validate_ else None
        self.connections: set[_Connection] = set()
        self.in_flight: set[defer.Deferred[Any]] = set()
        self.port: Any = None

    @property
    def address(self) -> tuple[str, int]:
        """The bound host and port (after start)."""
        host = self.port.getHost()
        return host.host, host.port

    def start(self) -> None:
        """Start listening (TLS when configured)."""
        factory = _Factory(self)
        if self.config.tls is not None:
            from engine.tls import server_options
            self.port = self.reactor.listenSSL(self.config.port, factory,
                                               server_options(self.config.tls),
                                               interface=self.config.host)
        else:
            self.port = self.reactor.listenTCP(self.config.port, factory,
                                               interface=self.config.host)
        host, port = self.address
        log.info("channel %s listening for MLLP on %s:%d%s", self.channel, host, port,
                 " (TLS)" if self.config.tls else "")

    @defer.inlineCallbacks
    def stop(self) -> Any:
        """Stop accepting, let in-flight messages get their ACK, then close connections."""
        if self.port is not None:
            yield defer.maybeDeferred(self.port.stopListening)
        if self.in_flight:
            yield defer.DeferredList(list(self.in_flight))
        for conn in list(self.connections):
            conn.closing = True
            conn._flush()
            if conn.transport is not None:
                conn.transport.loseConnection()

    # -- per message ----------------------------------------------------------------
    def handle(self, payload: bytes, peer: str) -> defer.Deferred[bytes | None]:
        """Parse, ingest and build the answer for one frame."""
        d = defer.ensureDeferred(self._handle(payload, peer))
        d.addErrback(self._internal_error, payload, peer)
        self.in_flight.add(d)
        d.addBoth(self._done, d)
        return d

    def _internal_error(self, failure: Failure, payload: bytes, peer: str) -> bytes | None:
        """A bug must never leave the sender waiting or get an AA: answer AE."""
        log.error("MLLP handler failed for a message from %s: %s", peer, failure.getTraceback())
        try:
            return build_ack(None, "AE", text="internal error; message not accepted",
                             error_code="207",
                             raw_fallback=payload.decode("latin-1")).encode("utf-8")
        except Exception:  # noqa: BLE001 - nothing sensible left to answer
            return None

    def _done(self, result: Any, d: defer.Deferred[Any]) -> Any:
        self.in_flight.discard(d)
        return result

    async def _handle(self, payload: bytes, peer: str) -> bytes | None:
        encoding = "utf-8"
        try:
            text = payload.decode("utf-8")
        except UnicodeDecodeError:
            text, encoding = payload.decode("latin-1"), "latin-1"
        message = Message(payload, "hl7v2", metadata={"source": peer}, encoding=encoding)
        head = text.lstrip("\ufeff \r\n\t\x00")[:3]
        if head in ("FHS", "BHS"):
            return await self._reject(message, None, RejectedError(
                "HL7 batches (FHS/BHS) are not accepted over MLLP; send one message per frame",
                head), text, "100")
        try:
            hl7 = Hl7Message.parse(text)
        except ParseError as exc:
            return await self._reject(message, None, exc, text, "100")
        ids = hl7.segment_ids
        if ids.count("MSH") > 1 or not _BATCH_IDS.isdisjoint(ids):
            return await self._reject(message, None, RejectedError(
                "the frame holds more than one message or a batch segment; send one message "
                "per frame", "MSH"), text, "100")
        if is_ack(hl7):
            # never acknowledge an acknowledgment; keep it so nothing is lost
            await self._store_rejection(message, RejectedError(
                "inbound acknowledgment on a listener; not acknowledged", "MSH-9"))
            return None
        control_id = hl7.control_id
        if control_id:
            message.correlation_id = control_id
        message.business_key = control_id or None
        message.metadata["message_type"] = hl7.message_type
        # the channel gets its own copy, so transforms never change the header this ACK
        # is built from
        message.use_parsed(hl7.copy())
        try:
            hl7.validate_header()
        except ParseError as exc:
            return await self._reject(message, hl7, exc, text, "101")  # required field missing
        if hl7.version not in self.config.versions:
            return await self._reject(message, hl7, RejectedError(
                f"unsupported HL7 version {hl7.version!r}", "MSH-12"), text, "203")
        if hl7.processing_id not in self.config.processing_ids:
            return await self._reject(message, hl7, RejectedError(
                f"unsupported processing id {hl7.processing_id!r}", "MSH-11"), text, "202")
        if control_id and self.config.duplicate_window > 0:
            message.idempotency_key = (f"{hl7.sending_application}|{hl7.sending_facility}|"
                                       f"{control_id}")
        if self.validator is not None:
            failure = await self._validate(text)
            if failure is not None:
                await self._store_rejection(message, failure)
                return self._answer(hl7, "error", failure.message, failure.location,
                                    getattr(failure, "error_code", "207"), text)
        try:
            receipt: Receipt = await self.ingest(message)
        except StoreError as exc:
            log.error("store unavailable; answering AE to %s: %s", peer, exc)
            return self._answer(hl7, "error", "message not stored: store unavailable, retry",
                                None, "207", text)
        if receipt.ok:
            return self._answer(hl7, "accept", "", None, None, text)
        error = receipt.error
        log.warning("message %s from %s stored with error: %s", receipt.message_id, peer,
                    loggable(error),
                    extra={"message_id": receipt.message_id,
                           "correlation_id": message.correlation_id})
        outcome = "reject" if receipt.status == "rejected" else "error"
        return self._answer(hl7, outcome, error.message if error else "error",
                            error.location if error else None, "207", text)

    async def _validate(self, text: str) -> MessageError | None:
        """hl7apy validation in a worker thread, so the listener keeps serving meanwhile."""
        assert self.validator is not None
        try:
            await threads.deferToThreadPool(self.reactor, self.reactor.getThreadPool(),
                                            self.validator.validate, text)
        except MessageError as exc:
            return exc
        return None

    async def _store_rejection(self, message: Message, error: MessageError) -> Receipt | None:
        try:
            return await self.ingest(message, error)
        except StoreError as exc:
            log.error("could not store a rejected message: %s", exc)
            return None

    async def _reject(self, message: Message, hl7: Hl7Message | None, error: MessageError,
                      text: str, code: str) -> bytes | None:
        receipt = await self._store_rejection(message, error)
        log.warning("rejected message %s: %s", receipt.message_id if receipt else None,
                    loggable(error),
                    extra={"message_id": receipt.message_id if receipt else None,
                           "correlation_id": message.correlation_id})
        return self._answer(hl7, "reject", error.message, error.location, code, text)

    def _answer(self, hl7: Hl7Message | None, outcome: Literal["accept", "error", "reject"],
                text: str, location: str | None, error_code: str | None,
                raw: str) -> bytes | None:
        if hl7 is not None and not _wants_ack(hl7, outcome):
            return None
        code = ack_code(outcome, hl7)
        ack = build_ack(hl7, code, text=text, error_location=location, error_code=error_code,
                        raw_fallback=raw if hl7 is None else None)
        encoding = "utf-8"
        return ack.encode(encoding, errors="replace")

    def handle_oversize(self, event: Oversize, peer: str) -> defer.Deferred[bytes | None]:
        """AR for a frame over max_message_bytes; the connection is closed after it."""
        text = event.prefix.decode("latin-1")
        hl7 = None
        try:
            hl7 = Hl7Message.parse(text.split("\r", 1)[0].split("\n", 1)[0])
        except ParseError:
            pass
        error = RejectedError(f"message larger than {event.limit} bytes", "MSH")
        message = Message(event.prefix, "hl7v2", metadata={"source": peer, "truncated": True},
                          correlation_id=hl7.control_id if hl7 and hl7.control_id else None)
        return defer.ensureDeferred(self._reject(message, hl7, error, text, "207"))


_BATCH_IDS = frozenset(("BHS", "BTS", "FHS", "FTS"))


def _wants_ack(hl7: Hl7Message, outcome: str) -> bool:
    """Enhanced mode honours MSH-15 (AL, NE, ER, SU); original mode always answers."""
    accept = (hl7.accept_ack_type or "").upper()
    if not accept and not (hl7.application_ack_type or ""):
        return True
    if accept in ("", "AL"):
        return True
    if accept == "NE":
        return False
    if accept == "ER":
        return outcome != "accept"
    if accept == "SU":
        return outcome == "accept"
    return True
