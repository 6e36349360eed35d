"""HTTP(S) destination: POST/PUT/PATCH each message over keep-alive connections.

Outcome rules (the engine owns retries; this connector never retries by itself):

* 2xx -> delivered; the response body (at most ``max_response_bytes``) is returned.
* 408, 429, 5xx -> :class:`RetryableDeliveryError`, honouring ``Retry-After``.
* connection refused/reset, DNS failure, timeout, TLS handshake or certificate
  verification failure -> :class:`RetryableDeliveryError` (a certificate problem is an
  operator problem: once the certificates are fixed the queued messages go through).
* any other status (3xx and the remaining 4xx) -> :class:`PermanentDeliveryError`.
"""

from __future__ import annotations

import email.utils
import logging
import re
import time
from datetime import UTC
from typing import Any, ClassVar, Literal
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from OpenSSL import SSL
from pydantic import Field, field_validator, model_validator
from twisted.internet import defer, error, protocol
from twisted.internet.abstract import isIPAddress, isIPv6Address
from twisted.internet.interfaces import IOpenSSLClientConnectionCreator
from twisted.internet.ssl import (
    Certificate,
    CertificateOptions,
    optionsForClientTLS,
    trustRootFromCertificates,
)
from twisted.web.client import Agent, HTTPConnectionPool, ResponseDone
from twisted.web.http import PotentialDataLoss
from twisted.web.http_headers import Headers
from twisted.web.iweb import IBodyProducer, IPolicyForHTTPS, IResponse
from zope.interface import implementer

from engine.connector import ConnectorContext, DestinationConfig, TlsConfig
from engine.errors import ConfigError, PermanentDeliveryError, RetryableDeliveryError
from engine.message import Message
from engine.units import ByteSize, Duration

_CONTENT_TYPES = {
    "hl7v2": "x-application/hl7-v2+er7",
    "json": "application/json",
    "fhir+json": "application/fhir+json",
    "fhir": "application/fhir+json",
    "x12": "application/edi-x12",
    "xml": "application/xml",
}
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_RESERVED_HEADERS = {
    "content-type": "set `content_type` instead",
    "content-length": "it is computed from the message",
    "transfer-encoding": "it is computed from the message",
    "host": "it is taken from `url`",
    "connection": "connections are kept alive by the connector",
    "x-correlation-id": "the connector sets it from the message",
    "idempotency-key": "the connector sets it from the message",
}
_PEM_CERT = re.compile(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.S)
_ERROR_BODY_BYTES = 500


def _no_control_chars(value: str, what: str) -> str:
    if any(ord(c) < 32 and c != "\t" or ord(c) == 127 for c in value):
        raise ValueError(f"{what} must not contain control characters (CR, LF, NUL...)")
    return value


class HttpDestinationConfig(DestinationConfig):
    """Send each message as the body of an HTTP(S) request."""

    type: Literal["http"] = Field(description="connector type")
    url: str = Field(description="http:// or https:// URL the message is sent to")
    method: Literal["POST", "PUT", "PATCH"] = Field(default="POST", description="HTTP method")
    headers: dict[str, str] = Field(
        default_factory=dict,
        description="extra request headers, e.g. Authorization; Content-Type, Host, "
                    "Content-Length, X-Correlation-ID and Idempotency-Key are set by the "
                    "connector")
    content_type: str | None = Field(
        default=None,
        description="Content-Type header; default from the message type: hl7v2 -> "
                    "x-application/hl7-v2+er7, json -> application/json, fhir+json -> "
                    "application/fhir+json, x12 -> application/edi-x12, xml -> "
                    "application/xml, otherwise text/plain (with the message charset)")
    timeout: Duration = Field(
        default=30.0,
        description="limit for the whole exchange: connect, send, and read the response")
    tls: TlsConfig | None = Field(
        default=None,
        description="https only: `ca` to verify the server (default: system trust store), "
                    "`cert` + `key` for a client certificate, `verify: false` to skip "
                    "verification (testing only)")
    max_response_bytes: ByteSize = Field(
        default="1MiB", validate_default=True,
        description="response bodies are read up to this size; the rest is discarded")

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        if not value.isascii() or any(c.isspace() for c in value):
            raise ValueError("url must be ASCII without spaces (percent-encode, use punycode)")
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https"):
            raise ValueError("url must start with http:// or https://")
        if not parts.hostname:
            raise ValueError("url has no host")
        if parts.username is not None or parts.password is not None:
            raise ValueError("url must not contain credentials; put them in `headers` "
                             "(Authorization)")
        try:
            parts.port  # noqa: B018 - raises ValueError on a bad port
        except ValueError as exc:
            raise ValueError(f"url has an invalid port: {exc}") from None
        if parts.fragment:
            raise ValueError("url must not contain a #fragment")
        return value

    @field_validator("headers")
    @classmethod
    def _check_headers(cls, value: dict[str, str]) -> dict[str, str]:
        seen: set[str] = set()
        for name, header_value in value.items():
            if not _TOKEN.match(name):
                raise ValueError(f"invalid header name {name!r}")
            lower = name.lower()
            if lower in _RESERVED_HEADERS:
                raise ValueError(f"header {name!r} cannot be set here: "
                                 f"{_RESERVED_HEADERS[lower]}")
            if lower in seen:
                raise ValueError(f"header {name!r} is given twice (names are case-insensitive)")
            seen.add(lower)
            _no_control_chars(header_value, f"header {name!r}")
        return value

    @field_validator("content_type")
    @classmethod
    def _check_content_type(cls, value: str | None) -> str | None:
        if value is not None:
            if not value.strip():
                raise ValueError("content_type must not be empty")
            _no_control_chars(value, "content_type")
        return value

    @field_validator("timeout")
    @classmethod
    def _check_timeout(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("timeout must be greater than zero")
        return value

    @model_validator(mode="after")
    def _check_tls(self) -> HttpDestinationConfig:
        if self.tls is None:
            return self
        if not self.url.lower().startswith("https://"):
            raise ValueError("tls is set but url is not https://")
        if (self.tls.cert is None) != (self.tls.key is None):
            raise ValueError("tls: a client certificate needs both `cert` and `key`")
        if self.tls.require_client_cert:
            raise ValueError("tls.require_client_cert applies to listeners, not destinations")
        if not self.tls.verify and self.tls.ca is not None:
            raise ValueError("tls.ca has no effect with verify: false; remove one of them")
        return self


def default_content_type(message: Message) -> str:
    """The Content-Type header for a message when the config does not set one."""
    kind = message.content_type or ""
    charset = getattr(message, "encoding", None) or "utf-8"
    if "/" in kind:
        base = kind
    else:
        base = _CONTENT_TYPES.get(kind.lower(), "text/plain")
    if "charset=" in base.lower():
        return base
    return f"{base}; charset={charset}"


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After value (delta-seconds or HTTP-date); None if invalid."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    if value.isdigit():
        return float(int(value))
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


def _header_safe(value: str) -> bytes:
    """A header value with control characters removed (ids come from untrusted input)."""
    return "".join(c for c in value if ord(c) >= 32 and ord(c) != 127).encode("utf-8")


def _load_file(path: str, what: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise ConfigError(f"http destination: cannot read tls.{what} {path!r}: "
                          f"{exc.strerror or exc}") from exc


@implementer(IBodyProducer)
class _BytesProducer:
    """The whole request body, written at once (so Content-Length is always sent)."""

    def __init__(self, body: bytes) -> None:
        self._body = body
        self.length = len(body)

    def startProducing(self, consumer: Any) -> defer.Deferred[None]:  # noqa: N802 - Twisted API
        """Write the body and finish."""
        consumer.write(self._body)
        return defer.succeed(None)

    def pauseProducing(self) -> None:  # noqa: N802 - Twisted API
        """Nothing to pause: the body is written in one call."""

    def resumeProducing(self) -> None:  # noqa: N802 - Twisted API
        """Nothing to resume."""

    def stopProducing(self) -> None:  # noqa: N802 - Twisted API
        """Nothing to stop."""


class _BodyCollector(protocol.Protocol):
    """Collects a response body up to a limit, then drops the connection."""

    def __init__(self, limit: int, finished: defer.Deferred[tuple[bytes, bool]]) -> None:
        self._limit = limit
        self._finished = finished
        self._chunks: list[bytes] = []
        self._size = 0
        self._done = False

    def dataReceived(self, data: bytes) -> None:  # noqa: N802 - Twisted API
        """Keep data until the limit is reached."""
        if self._done:
            return
        room = self._limit - self._size
        if len(data) <= room:
            self._chunks.append(data)
            self._size += len(data)
            return
        self._chunks.append(data[:room])
        self._done = True
        self.abort()
        self._finished.callback((b"".join(self._chunks), True))

    def connectionLost(self, reason: Any = None) -> None:  # noqa: N802 - Twisted API
        """Fire with the body once the response is complete, or fail."""
        if self._done:
            return
        self._done = True
        if reason is None or reason.check(ResponseDone, PotentialDataLoss):
            self._finished.callback((b"".join(self._chunks), False))
        else:
            self._finished.errback(reason)

    def abort(self) -> None:
        """Drop the connection (it cannot be reused with unread data on it)."""
        transport = self.transport
        if transport is None:
            return
        abort = getattr(transport, "abortConnection", None)
        if abort is not None:
            abort()
        else:
            transport.stopProducing()


def _read_body(response: IResponse, limit: int) -> defer.Deferred[tuple[bytes, bool]]:
    """Read a response body up to `limit` bytes; fires with (body, truncated)."""
    collector: _BodyCollector | None = None

    def cancel(_: defer.Deferred[tuple[bytes, bool]]) -> None:
        if collector is not None:
            collector.abort()

    finished: defer.Deferred[tuple[bytes, bool]] = defer.Deferred(cancel)
    collector = _BodyCollector(limit, finished)
    response.deliverBody(collector)
    return finished


def _load_client_certificate(cert_path: str, key_path: str) -> dict[str, Any]:
    """CertificateOptions arguments for a client certificate (leaf + chain) and its key."""
    where = f"tls.cert/tls.key ({cert_path!r}, {key_path!r})"
    try:
        certs = x509.load_pem_x509_certificates(_load_file(cert_path, "cert"))
    except ValueError as exc:
        raise ConfigError(f"http destination: tls.cert {cert_path!r} is not a PEM "
                          f"certificate: {exc}") from None
    try:
        key = serialization.load_pem_private_key(_load_file(key_path, "key"), password=None)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"http destination: tls.key {key_path!r} is not an unencrypted PEM "
                          f"private key: {exc}") from None
    options: dict[str, Any] = {"privateKey": key, "certificate": certs[0]}
    if len(certs) > 1:
        options["extraCertChain"] = certs[1:]
    try:
        CertificateOptions(**options).getContext()  # fails now if key and cert do not match
    except SSL.Error as exc:
        raise ConfigError(f"http destination: {where} do not match: {exc}") from None
    return options


@implementer(IPolicyForHTTPS)
class _TlsPolicy:
    """Chooses the TLS client options for each connection from the destination's TlsConfig."""

    def __init__(self, tls: TlsConfig | None) -> None:
        self._verify = tls.verify if tls is not None else True
        self._trust: Any = None
        self._client_cert: dict[str, Any] = {}
        if tls is None:
            return
        if tls.ca is not None:
            pem = _load_file(tls.ca, "ca")
            blocks = _PEM_CERT.findall(pem)
            if not blocks:
                raise ConfigError(f"http destination: tls.ca {tls.ca!r} holds no PEM "
                                  "certificate")
            try:
                self._trust = trustRootFromCertificates(
                    [Certificate.loadPEM(block) for block in blocks])
            except (SSL.Error, ValueError) as exc:
                raise ConfigError(f"http destination: tls.ca {tls.ca!r} is not valid PEM: "
                                  f"{exc}") from exc
        if tls.cert is not None and tls.key is not None:
            self._client_cert = _load_client_certificate(tls.cert, tls.key)

    def creatorForNetloc(self, hostname: bytes, port: int) -> Any:  # noqa: N802 - Twisted API
        """TLS connection creator for one host."""
        host = hostname.decode("ascii")
        if self._verify:
            return optionsForClientTLS(host, trustRoot=self._trust,
                                       extraCertificateOptions=dict(self._client_cert))
        return _UnverifiedCreator(host, self._client_cert)


@implementer(IOpenSSLClientConnectionCreator)
class _UnverifiedCreator:
    """TLS without certificate checks (verify: false); still sends SNI."""

    def __init__(self, host: str, client_cert: dict[str, Any]) -> None:
        self._options = CertificateOptions(verify=False, **client_cert)
        is_ip = isIPAddress(host) or isIPv6Address(host)
        self._sni = None if is_ip else host.encode("idna")

    def clientConnectionForTLS(self, tls_protocol: Any) -> SSL.Connection:  # noqa: N802
        """A client TLS connection that accepts any server certificate."""
        connection = self._options.clientConnectionForTLS(tls_protocol)
        if self._sni:
            connection.set_tlsext_host_name(self._sni)
        return connection


def _reasons(exc: BaseException) -> list[BaseException]:
    """The underlying exceptions wrapped in ResponseFailed/ResponseNeverReceived."""
    nested = getattr(exc, "reasons", None)
    if not nested:
        return [exc]
    found: list[BaseException] = []
    for reason in nested:
        value = getattr(reason, "value", reason)
        if isinstance(value, BaseException):
            found.extend(_reasons(value))
    return found or [exc]


def _describe_tls_error(exc: BaseException) -> str | None:
    """An operator-facing description of a TLS failure, or None if exc is not one."""
    name = type(exc).__name__
    module = type(exc).__module__
    if module.startswith("service_identity") and name == "VerificationError":
        return f"server certificate does not match the host name ({exc})"
    if isinstance(exc, SSL.Error):
        text = str(exc)
        if "certificate verify failed" in text:
            return "server certificate verification failed (check tls.ca)"
        return f"TLS handshake failed: {text}"
    return None


class HttpDestination:
    """Sends messages with an HTTP request; see the module docstring for outcome rules."""

    Config: ClassVar[type[HttpDestinationConfig]] = HttpDestinationConfig

    def __init__(self, config: HttpDestinationConfig, context: ConnectorContext) -> None:
        self.config = config
        self.context = context
        self._reactor = context.reactor
        self._log: logging.Logger = context.logger
        self._url = config.url
        self._url_bytes = config.url.encode("ascii")
        self._method = config.method.encode("ascii")
        self._pool = HTTPConnectionPool(self._reactor, persistent=True)
        self._pool.retryAutomatically = False
        self._pool.maxPersistentPerHost = max(2, config.max_in_flight)
        self._agent = Agent(self._reactor, contextFactory=_TlsPolicy(config.tls),
                            connectTimeout=config.timeout, pool=self._pool)
        self._static_headers = [(name.encode("ascii"), value.encode("utf-8"))
                                for name, value in config.headers.items()]

    def _headers(self, message: Message) -> Headers:
        """Request headers for one message."""
        headers = Headers()
        for name, value in self._static_headers:
            headers.addRawHeader(name, value)
        content_type = self.config.content_type or default_content_type(message)
        headers.addRawHeader(b"Content-Type", content_type.encode("utf-8"))
        headers.addRawHeader(b"X-Correlation-ID", _header_safe(message.correlation_id))
        key = message.idempotency_key
        if not key:
            channel = message.channel or self.context.channel
            ident = message.message_id if message.message_id is not None \
                else message.correlation_id
            key = f"{channel}-{ident}"
        headers.addRawHeader(b"Idempotency-Key", _header_safe(key))
        return headers

    async def _exchange(self, method: bytes, url: bytes, headers: Headers, body: bytes | None
                        ) -> tuple[int, Any, bytes, bool]:
        """One request/response: (status, response headers, body, truncated)."""
        response = await self._agent.request(method, url, headers,
                                             _BytesProducer(body) if body is not None else None)
        data, truncated = await _read_body(response, self.config.max_response_bytes)
        return response.code, response.headers, data, truncated

    async def request(self, method: bytes, url: bytes, headers: Headers, body: bytes | None,
                      what: str = "message") -> tuple[int, Any, bytes]:
        """One exchange on the kept-alive pool within the timeout; transport faults retry."""
        started = time.monotonic()
        exchange = defer.ensureDeferred(self._exchange(method, url, headers, body))
        timed_out = False

        def on_timeout() -> None:
            nonlocal timed_out
            timed_out = True
            exchange.cancel()

        timer = self._reactor.callLater(self.config.timeout, on_timeout)
        target = url.decode("ascii", "replace")
        try:
            status, response_headers, data, truncated = await exchange
        except Exception as exc:
            if timed_out:
                raise RetryableDeliveryError(
                    f"no response from {target} within {self.config.timeout:g}s "
                    "(timeout)") from None
            if any(isinstance(r, defer.CancelledError) for r in _reasons(exc)):
                raise defer.CancelledError() from None  # the engine cancelled the send
            raise self._transport_error(exc, target) from exc
        finally:
            if timer.active():
                timer.cancel()
        elapsed_ms = (time.monotonic() - started) * 1000
        self._log.debug("%s to %s: HTTP %d in %.0fms (%d response bytes)", what, target,
                        status, elapsed_ms, len(data))
        if truncated:
            self._log.warning("response from %s for %s cut at max_response_bytes=%d", target,
                              what, self.config.max_response_bytes)
        return status, response_headers, data

    async def send(self, message: Message) -> bytes | None:
        """Deliver one message; returns the response body or raises a DeliveryError."""
        status, response_headers, body = await self.request(
            self._method, self._url_bytes, self._headers(message), message.content,
            f"message {message.message_id}")
        return self._outcome(status, response_headers, body)

    def _outcome(self, status: int, headers: Any, body: bytes) -> bytes:
        """The body of a 2xx response; any other status raises a DeliveryError."""
        if 200 <= status < 300:
            return body
        excerpt = body[:_ERROR_BODY_BYTES].decode("utf-8", errors="replace")
        if status in (408, 429) or 500 <= status < 600:
            raw = headers.getRawHeaders(b"retry-after")
            retry_after = parse_retry_after(raw[0].decode("latin-1")) if raw else None
            text = f"HTTP {status} from {self._url}"
            if retry_after is not None:
                text += f" (Retry-After {retry_after:g}s)"
            if excerpt:
                text += f": {excerpt}"
            raise RetryableDeliveryError(text, retry_after=retry_after, response=body)
        text = f"HTTP {status} from {self._url}"
        if 300 <= status < 400:
            location = headers.getRawHeaders(b"location")
            text += " (redirects are not followed"
            if location:
                text += f"; Location: {location[0].decode('latin-1')}"
            text += ")"
        if excerpt:
            text += f": {excerpt}"
        raise PermanentDeliveryError(text, response=body)

    def _transport_error(self, exc: BaseException, url: str | None = None) -> Exception:
        """Classify a failure below HTTP (no usable response) as a DeliveryError."""
        target = urlsplit(url or self._url)
        where = f"{target.hostname}:{target.port or (443 if target.scheme == 'https' else 80)}"
        reasons = _reasons(exc)
        for reason in reasons:
            tls = _describe_tls_error(reason)
            if tls is not None:
                return RetryableDeliveryError(f"TLS to {where} failed: {tls}")
        first = reasons[0]
        if isinstance(first, error.ConnectionRefusedError):
            text = f"connection refused by {where}"
        elif isinstance(first, error.DNSLookupError):
            text = f"cannot resolve host {target.hostname!r}"
        elif isinstance(first, error.TimeoutError | error.TCPTimedOutError):
            text = f"timed out connecting to {where}"
        elif isinstance(first, error.ConnectionLost | error.ConnectionDone):
            text = f"connection to {where} closed before the response was complete"
        elif isinstance(first, error.ConnectError | OSError):
            text = f"cannot connect to {where}: {first}"
        else:
            # Anything unexpected is retried too: the engine dead-letters after the last
            # attempt, so nothing is lost and a transient oddity gets its second chance.
            text = f"request to {url or self._url} failed: {first!r}"
        return RetryableDeliveryError(text)

    async def close(self) -> None:
        """Close the kept-alive connections."""
        await self._pool.closeCachedConnections()
