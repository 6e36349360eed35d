"""HttpDestination against a real twisted.web server on 127.0.0.1 (plain and TLS)."""

from __future__ import annotations

import datetime as dt
import email.utils
import logging
import socket
import time
from typing import Any

import pytest
from pydantic import ValidationError
from twisted.internet import defer
from twisted.web import resource, server

from engine.errors import PermanentDeliveryError, RetryableDeliveryError
from engine.message import Message
from protocols.http.destination import (
    HttpDestinationConfig,
    default_content_type,
    parse_retry_after,
)
from tests.unit.http_server import (
    Reply,
    Server,
    close,
    http_server,
    make_dest,
    msg,
    send,
)
from tests.unit.reactor_thread import reactor_thread, run_in_reactor

__all__ = ["http_server", "reactor_thread"]  # fixtures used by name

pytestmark = pytest.mark.usefixtures("reactor_thread")


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
