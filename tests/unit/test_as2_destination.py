"""The as2 destination against a real HTTP server: headers, stable Message-IDs, outcome rules."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pydantic
import pytest

from engine.connector import ConnectorContext
from engine.errors import PermanentDeliveryError, RetryableDeliveryError
from engine.message import Message
from protocols.as2.destination import As2Destination, As2DestinationConfig
from tests.certs import make_as2_identity
from tests.e2e.engine_process import free_port
from tests.unit.http_server import Reply, Server, http_server
from tests.unit.reactor_thread import reactor_thread, run_coroutine

__all__ = ["http_server", "reactor_thread"]  # fixtures used by name

pytestmark = pytest.mark.usefixtures("reactor_thread")

INTERCHANGE = b"ISA*00*...*000000042*0*P*>~IEA*0*000000042~"


@pytest.fixture(scope="module")
def keys_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("as2-dest")
    make_as2_identity(root / "keys", "us")
    make_as2_identity(root / "keys", "them")
    return root


def partners_file(root: Path, url: str) -> Path:
    path = root / "partners.yaml"
    path.write_text(f"""\
us:
  qualifier: ZZ
  id: GOODHEALTH
  as2: {{id: PLEXUS, sign_key: keys/us-key.pem, sign_cert: keys/us-cert.pem,
         mdn_url: "http://127.0.0.1:1/as2", domain: plexus.test}}
partners:
  - {{name: silent, qualifier: ZZ, id: SILENT,
     as2: {{id: THEM, cert: keys/them-cert.pem, url: "{url}", mdn: none}}}}
  - {{name: syncer, qualifier: ZZ, id: SYNCER,
     as2: {{id: THEM2, cert: keys/them-cert.pem, url: "{url}"}}}}
  - {{name: later, qualifier: ZZ, id: LATER,
     as2: {{id: THEM3, cert: keys/them-cert.pem, url: "{url}", mdn: async}}}}
  - {{name: nourl, qualifier: ZZ, id: NOURL, as2: {{id: THEM4, cert: keys/them-cert.pem}}}}
""")
    return path


def destination(reactor: Any, partners: Path, partner: str) -> As2Destination:
    config = As2DestinationConfig.model_validate({
        "name": "to-them", "type": "as2", "partners": str(partners), "partner": partner})
    return As2Destination(config, ConnectorContext("invoices", "to-them", reactor,
                                                   logging.getLogger("test.as2")))


def send(dest: As2Destination, message_id: int = 7) -> str:
    message = Message(INTERCHANGE, "x12", channel="invoices", message_id=message_id,
                      correlation_id="000000042-1-0001",
                      idempotency_key=f"invoices-{message_id}")
    try:
        return run_coroutine(lambda: dest.send(message)).decode()
    finally:
        run_coroutine(dest.close)


def test_headers_and_a_stable_message_id(reactor_thread: Any, http_server: Server,
                                         keys_dir: Path) -> None:
    partners = partners_file(keys_dir, http_server.url("/as2"))
    http_server.replies["/as2"] = Reply(200, b"")
    text = send(destination(reactor_thread, partners, "silent"))
    send(destination(reactor_thread, partners, "silent"))  # a retry of the same message
    first, second = http_server.seen
    assert first.headers["message-id"] == second.headers["message-id"]
    assert first.headers["message-id"].startswith("<invoices-7-")
    assert first.headers["message-id"].endswith("@plexus.test>")
    assert (first.headers["as2-from"], first.headers["as2-to"]) == ("PLEXUS", "THEM")
    assert first.headers["content-type"].startswith("application/pkcs7-mime")
    assert "disposition-notification-to" not in first.headers  # mdn: none
    assert INTERCHANGE not in first.body
    assert text == (f"AS2-Message-ID: {first.headers['message-id']}\n"
                    f"HTTP: 200 from {http_server.url('/as2')}\nMDN: none requested\n")


def test_async_mdn_is_sent_on_2xx_and_asks_for_the_mdn_url(
        reactor_thread: Any, http_server: Server, keys_dir: Path) -> None:
    partners = partners_file(keys_dir, http_server.url("/as2"))
    http_server.replies["/as2"] = Reply(202, b"")
    text = send(destination(reactor_thread, partners, "later"))
    (seen,) = http_server.seen
    assert seen.headers["receipt-delivery-option"] == "http://127.0.0.1:1/as2"
    assert "signed-receipt-micalg=optional, sha256" in seen.headers[
        "disposition-notification-options"]
    assert text.endswith("MDN: asynchronous, requested at http://127.0.0.1:1/as2\n")


@pytest.mark.parametrize(("reply", "error", "text"), [
    (Reply(503, b"busy", {"Retry-After": "7"}), RetryableDeliveryError, "HTTP 503 from"),
    (Reply(429, b""), RetryableDeliveryError, "HTTP 429 from"),
    (Reply(400, b"bad"), PermanentDeliveryError, "HTTP 400 from"),
    (Reply(200, b"<html>ok</html>", {"Content-Type": "text/html"}), PermanentDeliveryError,
     "to THEM2: the MDN says failed/Failure: mdn-not-found"),
])
def test_outcomes(reactor_thread: Any, http_server: Server, keys_dir: Path, reply: Reply,
                  error: type[Exception], text: str) -> None:
    partners = partners_file(keys_dir, http_server.url("/as2"))
    http_server.replies["/as2"] = reply
    with pytest.raises(error) as info:
        send(destination(reactor_thread, partners, "syncer"))
    assert text in str(info.value)
    if reply.status == 503:
        assert info.value.retry_after == 7.0  # type: ignore[attr-defined]


def test_connection_refused_is_retryable(reactor_thread: Any, keys_dir: Path) -> None:
    port = free_port()
    partners = partners_file(keys_dir, f"http://127.0.0.1:{port}/as2")
    with pytest.raises(RetryableDeliveryError, match=f"connection refused by 127.0.0.1:{port}"):
        send(destination(reactor_thread, partners, "silent"))


@pytest.mark.parametrize(("partner", "message"), [
    ("nourl", "partner 'nourl' needs an as2 block with a url"),
    ("nobody", "partner 'nobody' is not in"),
])
def test_config_errors(keys_dir: Path, partner: str, message: str) -> None:
    partners = partners_file(keys_dir, "http://127.0.0.1:1/as2")
    with pytest.raises(pydantic.ValidationError, match=message):
        As2DestinationConfig.model_validate({"name": "d", "type": "as2",
                                             "partners": str(partners), "partner": partner})
