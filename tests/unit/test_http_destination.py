"""HttpDestination against a real twisted.web server on 127.0.0.1 (plain and TLS)."""

from __future__ import annotations

import datetime as dt
import email.utils
import logging
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pydantic import ValidationError
from twisted.internet import defer, ssl
from twisted.protocols import policies
from twisted.web import resource, server

from engine.connector import ConnectorContext
from engine.errors import ConfigError, PermanentDeliveryError, RetryableDeliveryError
from engine.message import Message
from protocols.http.destination import (
    HttpDestination,
    HttpDestinationConfig,
    default_content_type,
    parse_retry_after,
)

try:
    from tests.unit.reactor_thread import reactor_thread, run_coroutine, run_in_reactor
except ModuleNotFoundError:  # plain `pytest` with tests/unit not importable as a package
    from reactor_thread import reactor_thread, run_coroutine, run_in_reactor  # type: ignore[no-redef]

__all__ = ["reactor_thread"]  # the fixture is used by name

pytestmark = pytest.mark.usefixtures("reactor_thread")


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
def _serve(reactor: Any, tls_options: Any = None) -> Iterator[Server]:
    srv = Server(tls_options)
    run_in_reactor(srv.start, reactor)
    try:
        yield srv
    finally:
        run_in_reactor(srv.stop)


@pytest.fixture
def http_server(reactor_thread: Any) -> Iterator[Server]:
    """A plain HTTP server for one test."""
    with _serve(reactor_thread) as srv:
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


# --- success ------------------------------------------------------------------------------

@pytest.mark.parametrize("status", [200, 201, 204])
def test_2xx_is_success_and_returns_body(reactor_thread: Any, http_server: Server,
                                         status: int) -> None:
    http_server.replies["/x"] = Reply(status, b"accepted-" + str(status).encode())
    dest = make_dest(reactor_thread, http_server.url("/x"))
    try:
        result = send(dest, msg())
    finally:
        close(dest)
    assert result == (b"" if status == 204 else b"accepted-" + str(status).encode())
    assert len(http_server.seen) == 1


def test_request_method_body_and_headers(reactor_thread: Any, http_server: Server) -> None:
    dest = make_dest(reactor_thread, http_server.url("/in"), method="PUT",
                     headers={"Authorization": "Bearer t0k", "X-Site": "north"})
    body = b"MSH|^~\\&|LAB|HOSP|||20240101||ORU^R01|1|P|2.5\rPID|1||123\r"
    try:
        send(dest, msg(body, message_id=7, correlation_id="c-77"))
    finally:
        close(dest)
    (seen,) = http_server.seen
    assert seen.method == "PUT"
    assert seen.path == "/in"
    assert seen.body == body
    assert seen.headers["authorization"] == "Bearer t0k"
    assert seen.headers["x-site"] == "north"
    assert seen.headers["content-type"] == "x-application/hl7-v2+er7; charset=utf-8"
    assert seen.headers["content-length"] == str(len(body))
    assert seen.headers["x-correlation-id"] == "c-77"
    assert seen.headers["idempotency-key"] == "adt-7"


def test_configured_content_type_wins(reactor_thread: Any, http_server: Server) -> None:
    dest = make_dest(reactor_thread, http_server.url(), content_type="application/custom")
    try:
        send(dest, msg(b"{}", "json"))
    finally:
        close(dest)
    assert http_server.seen[0].headers["content-type"] == "application/custom"


def test_keep_alive_reuses_one_connection(reactor_thread: Any, http_server: Server) -> None:
    dest = make_dest(reactor_thread, http_server.url())
    try:
        for i in range(5):
            assert send(dest, msg(message_id=i)) == b"ok"
    finally:
        close(dest)
    assert len(http_server.seen) == 5
    assert http_server.factory.connections == 1


def test_response_cut_at_max_response_bytes(reactor_thread: Any, http_server: Server) -> None:
    http_server.replies["/big"] = Reply(200, b"a" * 100_000)
    dest = make_dest(reactor_thread, http_server.url("/big"), max_response_bytes="1KiB")
    try:
        assert send(dest, msg()) == b"a" * 1024
        http_server.replies["/big"] = Reply(200, b"small")
        assert send(dest, msg()) == b"small"  # a fresh connection after the cut one
    finally:
        close(dest)


def test_message_body_is_never_logged(reactor_thread: Any, http_server: Server,
                                      caplog: pytest.LogCaptureFixture) -> None:
    http_server.replies["/x"] = Reply(200, b"fine")
    dest = make_dest(reactor_thread, http_server.url())
    caplog.set_level(logging.DEBUG, logger="test.http")
    try:
        send(dest, msg(b"PID|1||SECRET-MRN-998877\r"))
    finally:
        close(dest)
    assert caplog.records, "expected a debug line per send"
    assert "SECRET-MRN-998877" not in caplog.text


# --- retryable statuses -------------------------------------------------------------------

@pytest.mark.parametrize("status", [500, 503])
def test_5xx_retryable_with_retry_after_seconds(reactor_thread: Any, http_server: Server,
                                                status: int) -> None:
    http_server.replies["/x"] = Reply(status, b"busy", {"Retry-After": "5"})
    dest = make_dest(reactor_thread, http_server.url("/x"))
    try:
        with pytest.raises(RetryableDeliveryError) as info:
            send(dest, msg())
    finally:
        close(dest)
    assert info.value.retry_after == 5.0
    assert str(info.value).startswith(f"HTTP {status} from {http_server.url('/x')} "
                                      "(Retry-After 5s)")
    assert info.value.response == b"busy"


def test_503_retry_after_http_date(reactor_thread: Any, http_server: Server) -> None:
    when = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=120)
    http_server.replies["/x"] = Reply(503, b"", {"Retry-After": email.utils.format_datetime(
        when, usegmt=True)})
    dest = make_dest(reactor_thread, http_server.url("/x"))
    try:
        with pytest.raises(RetryableDeliveryError) as info:
            send(dest, msg())
    finally:
        close(dest)
    assert info.value.retry_after is not None
    assert 100 <= info.value.retry_after <= 121


def test_5xx_without_retry_after(reactor_thread: Any, http_server: Server) -> None:
    http_server.replies["/x"] = Reply(502, b"bad gateway")
    dest = make_dest(reactor_thread, http_server.url("/x"))
    try:
        with pytest.raises(RetryableDeliveryError) as info:
            send(dest, msg())
    finally:
        close(dest)
    assert info.value.retry_after is None
    assert str(info.value) == f"HTTP 502 from {http_server.url('/x')}: bad gateway"


@pytest.mark.parametrize("status", [408, 429])
def test_408_and_429_retryable(reactor_thread: Any, http_server: Server, status: int) -> None:
    http_server.replies["/x"] = Reply(status, b"slow down", {"Retry-After": "30"})
    dest = make_dest(reactor_thread, http_server.url("/x"))
    try:
        with pytest.raises(RetryableDeliveryError) as info:
            send(dest, msg())
    finally:
        close(dest)
    assert info.value.retry_after == 30.0
    assert f"HTTP {status}" in str(info.value)


# --- permanent statuses -------------------------------------------------------------------

@pytest.mark.parametrize("status", [400, 404, 422])
def test_4xx_permanent_with_body(reactor_thread: Any, http_server: Server, status: int) -> None:
    detail = b'{"error": "PID-3 missing"}' + b" " * 1000 + b"TAIL"
    http_server.replies["/x"] = Reply(status, detail)
    dest = make_dest(reactor_thread, http_server.url("/x"))
    try:
        with pytest.raises(PermanentDeliveryError) as info:
            send(dest, msg())
    finally:
        close(dest)
    text = str(info.value)
    assert text.startswith(f"HTTP {status} from {http_server.url('/x')}: ")
    assert "PID-3 missing" in text
    assert "TAIL" not in text  # only the first 500 bytes are quoted
    assert info.value.response == detail


def test_301_permanent(reactor_thread: Any, http_server: Server) -> None:
    http_server.replies["/old"] = Reply(301, b"moved", {"Location": "http://elsewhere/new"})
    dest = make_dest(reactor_thread, http_server.url("/old"))
    try:
        with pytest.raises(PermanentDeliveryError) as info:
            send(dest, msg())
    finally:
        close(dest)
    assert "HTTP 301" in str(info.value)
    assert "http://elsewhere/new" in str(info.value)
    assert len(http_server.seen) == 1  # not followed


# --- network failures ---------------------------------------------------------------------

def test_connection_refused_retryable(reactor_thread: Any) -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    dest = make_dest(reactor_thread, f"http://127.0.0.1:{port}/x")
    try:
        with pytest.raises(RetryableDeliveryError) as info:
            send(dest, msg())
    finally:
        close(dest)
    assert str(info.value) == f"connection refused by 127.0.0.1:{port}"


def test_server_never_answers_times_out(reactor_thread: Any, http_server: Server) -> None:
    http_server.replies["/hang"] = Reply(hang=True)
    dest = make_dest(reactor_thread, http_server.url("/hang"), timeout="300ms")
    started = time.monotonic()
    try:
        with pytest.raises(RetryableDeliveryError) as info:
            send(dest, msg())
    finally:
        close(dest)
    assert time.monotonic() - started < 5
    assert "timeout" in str(info.value)
    assert "0.3s" in str(info.value)


def test_cancel_by_the_engine_is_not_turned_into_a_delivery_error(
        reactor_thread: Any, http_server: Server) -> None:
    http_server.replies["/hang"] = Reply(hang=True)
    dest = make_dest(reactor_thread, http_server.url("/hang"))

    def start() -> Any:
        d = defer.ensureDeferred(dest.send(msg()))
        reactor_thread.callLater(0.1, d.cancel)
        return d

    try:
        with pytest.raises(defer.CancelledError):
            run_in_reactor(start)
    finally:
        close(dest)


def test_connection_dropped_by_server_retryable(reactor_thread: Any,
                                                http_server: Server) -> None:
    class Drop(resource.Resource):
        isLeaf = True

        def render(self, request: Any) -> Any:
            request.channel.transport.abortConnection()
            return server.NOT_DONE_YET

    http_server.site.resource = Drop()
    dest = make_dest(reactor_thread, http_server.url())
    try:
        with pytest.raises(RetryableDeliveryError) as info:
            send(dest, msg())
    finally:
        close(dest)
    assert "closed before the response was complete" in str(info.value)


# --- TLS ----------------------------------------------------------------------------------

def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _ca(cn: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = _key()
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(_name(cn))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return cert, key


def _leaf(cn: str, ca: tuple[x509.Certificate, ec.EllipticCurvePrivateKey],
          sans: list[x509.GeneralName], usage: Any) -> tuple[x509.Certificate, Any]:
    key = _key()
    now = dt.datetime.now(dt.UTC)
    builder = (x509.CertificateBuilder().subject_name(_name(cn))
               .issuer_name(ca[0].subject).public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(minutes=5))
               .not_valid_after(now + dt.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.ExtendedKeyUsage([usage]), critical=False))
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(ca[1], hashes.SHA256()), key


@dataclass
class Pki:
    """Files and server options for the TLS tests."""

    ca: Path
    other_ca: Path
    client_cert: Path
    client_key: Path
    server_options: Any
    mtls_server_options: Any
    wrong_host_options: Any


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A test CA, a server cert for 127.0.0.1, a client cert, and an unrelated CA."""
    import ipaddress

    tmp = tmp_path_factory.mktemp("pki")
    ca = _ca("Plexus Test CA")
    other = _ca("Some Other CA")
    ip_san = [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
    srv_cert, srv_key = _leaf("127.0.0.1", ca, ip_san, ExtendedKeyUsageOID.SERVER_AUTH)
    bad_cert, bad_key = _leaf("example.invalid", ca, [x509.DNSName("example.invalid")],
                              ExtendedKeyUsageOID.SERVER_AUTH)
    cli_cert, cli_key = _leaf("plexus-client", ca, [], ExtendedKeyUsageOID.CLIENT_AUTH)

    def write(name: str, data: bytes) -> Path:
        path = tmp / name
        path.write_bytes(data)
        return path

    pem = serialization.Encoding.PEM
    ca_path = write("ca.pem", ca[0].public_bytes(pem))
    other_path = write("other-ca.pem", other[0].public_bytes(pem))
    cli_cert_path = write("client.pem", cli_cert.public_bytes(pem))
    cli_key_path = write("client.key", _pem_key(cli_key))

    def options(cert: x509.Certificate, key: Any, **kwargs: Any) -> Any:
        return ssl.CertificateOptions(privateKey=key, certificate=cert, **kwargs)

    return Pki(ca=ca_path, other_ca=other_path, client_cert=cli_cert_path,
               client_key=cli_key_path, server_options=options(srv_cert, srv_key),
               mtls_server_options=options(srv_cert, srv_key,
                                           trustRoot=ssl.trustRootFromCertificates(
                                               [ssl.Certificate.loadPEM(ca_path.read_bytes())])),
               wrong_host_options=options(bad_cert, bad_key))


def test_tls_server_verified_with_ca(reactor_thread: Any, pki: Pki) -> None:
    with _serve(reactor_thread, pki.server_options) as srv:
        dest = make_dest(reactor_thread, srv.url(), tls={"ca": str(pki.ca)})
        try:
            assert send(dest, msg()) == b"ok"
            assert send(dest, msg()) == b"ok"
        finally:
            close(dest)
        assert srv.factory.connections == 1


def test_tls_wrong_ca_is_retryable(reactor_thread: Any, pki: Pki) -> None:
    """A certificate that fails verification is an operator problem: retried, not dropped."""
    with _serve(reactor_thread, pki.server_options) as srv:
        dest = make_dest(reactor_thread, srv.url(), tls={"ca": str(pki.other_ca)})
        try:
            with pytest.raises(RetryableDeliveryError) as info:
                send(dest, msg())
        finally:
            close(dest)
        assert "certificate verification failed" in str(info.value)
        assert srv.seen == []


def test_tls_host_mismatch_is_retryable(reactor_thread: Any, pki: Pki) -> None:
    with _serve(reactor_thread, pki.wrong_host_options) as srv:
        dest = make_dest(reactor_thread, srv.url(), tls={"ca": str(pki.ca)})
        try:
            with pytest.raises(RetryableDeliveryError) as info:
                send(dest, msg())
        finally:
            close(dest)
        assert "does not match the host name" in str(info.value)
        assert srv.seen == []


def test_tls_verify_false_accepts_any_certificate(reactor_thread: Any, pki: Pki) -> None:
    with _serve(reactor_thread, pki.wrong_host_options) as srv:
        dest = make_dest(reactor_thread, srv.url(), tls={"verify": False})
        try:
            assert send(dest, msg()) == b"ok"
        finally:
            close(dest)


def test_tls_client_certificate(reactor_thread: Any, pki: Pki) -> None:
    with _serve(reactor_thread, pki.mtls_server_options) as srv:
        dest = make_dest(reactor_thread, srv.url(), tls={
            "ca": str(pki.ca), "cert": str(pki.client_cert), "key": str(pki.client_key)})
        try:
            assert send(dest, msg()) == b"ok"
        finally:
            close(dest)
        assert srv.seen[0].client_cert_cn == "plexus-client"


def test_tls_missing_client_certificate_is_retryable(reactor_thread: Any, pki: Pki) -> None:
    with _serve(reactor_thread, pki.mtls_server_options) as srv:
        dest = make_dest(reactor_thread, srv.url(), tls={"ca": str(pki.ca)})
        try:
            with pytest.raises(RetryableDeliveryError) as info:
                send(dest, msg())
        finally:
            close(dest)
        assert srv.url().split("//")[1].split("/")[0] in str(info.value)


def test_tls_unreadable_files_fail_at_construction(reactor_thread: Any, pki: Pki,
                                                   tmp_path: Path) -> None:
    url = "https://127.0.0.1:1/x"
    with pytest.raises(ConfigError, match="tls.ca"):
        make_dest(reactor_thread, url, tls={"ca": str(tmp_path / "missing.pem")})
    with pytest.raises(ConfigError, match="no PEM certificate"):
        make_dest(reactor_thread, url, tls={"ca": str(pki.client_key)})
    with pytest.raises(ConfigError, match="do not match"):
        other_key = tmp_path / "other.key"
        other_key.write_bytes(_pem_key(_key()))
        make_dest(reactor_thread, url, tls={"cert": str(pki.client_cert),
                                            "key": str(other_key)})


# --- config and helpers -------------------------------------------------------------------

def _config(**fields: Any) -> HttpDestinationConfig:
    return HttpDestinationConfig.model_validate(
        {"name": "out", "type": "http", "url": "http://h/x", **fields})


def test_config_defaults() -> None:
    config = _config()
    assert config.method == "POST"
    assert config.timeout == 30.0
    assert config.max_response_bytes == 1024 * 1024
    assert config.headers == {}
    assert config.content_type is None
    assert config.tls is None


def test_config_every_field_documented() -> None:
    own = set(HttpDestinationConfig.model_fields) - {
        "name", "filters", "transforms", "retry", "ordered", "max_in_flight", "batch_size"}
    for name in own:
        assert HttpDestinationConfig.model_fields[name].description, name


@pytest.mark.parametrize("fields", [
    {"unknown": 1},
    {"url": "ftp://h/x"},
    {"url": "h/x"},
    {"url": "http:///x"},
    {"url": "http://user:pw@h/x"},
    {"method": "GET"},
    {"timeout": 0},
    {"timeout": "soon"},
    {"max_response_bytes": "lots"},
    {"headers": {"Content-Type": "text/plain"}},
    {"headers": {"Idempotency-Key": "x"}},
    {"headers": {"Bad Name": "x"}},
    {"headers": {"X-A": "1\r\nX-Injected: 1"}},
    {"headers": {"X-A": "1", "x-a": "2"}},
    {"tls": {"ca": "/ca.pem"}},  # tls on an http:// url
    {"url": "https://h/x", "tls": {"cert": "/c.pem"}},
    {"url": "https://h/x", "tls": {"require_client_cert": True}},
    {"url": "https://h/x", "tls": {"verify": False, "ca": "/ca.pem"}},
    {"url": "https://h/x", "tls": {"bogus": 1}},
])
def test_config_rejects(fields: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        _config(**fields)


def test_default_content_types() -> None:
    cases = {"hl7v2": "x-application/hl7-v2+er7", "json": "application/json",
             "fhir+json": "application/fhir+json", "x12": "application/edi-x12",
             "xml": "application/xml", "text": "text/plain", "weird": "text/plain"}
    for kind, expected in cases.items():
        assert default_content_type(Message(b"", kind)) == f"{expected}; charset=utf-8"


def test_parse_retry_after() -> None:
    now = time.time()
    date = email.utils.formatdate(now + 60, usegmt=True)
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after(" 0 ") == 0.0
    assert 58 <= (parse_retry_after(date, now=now) or 0) <= 60
    assert parse_retry_after(email.utils.formatdate(now - 60, usegmt=True), now=now) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after("-5") is None
    assert parse_retry_after("") is None
    assert parse_retry_after(None) is None
