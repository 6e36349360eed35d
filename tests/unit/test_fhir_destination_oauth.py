"""FHIR destination with OAuth2 client credentials against a real HTTP server."""

from __future__ import annotations

import base64
import json
import logging
from typing import Any
from urllib.parse import parse_qs

import pytest

from engine.connector import ConnectorContext
from engine.errors import PermanentDeliveryError, RetryableDeliveryError
from engine.message import Message
from protocols.fhir.destination import FhirDestination, FhirDestinationConfig
from tests.unit.http_server import Reply, Server, http_server
from tests.unit.reactor_thread import reactor_thread, run_coroutine

__all__ = ["http_server", "reactor_thread"]  # fixtures used by name

CHARGE = json.dumps({"resourceType": "ChargeItem", "status": "billable"}).encode()


def token(value: str, lifetime: int = 3600) -> Reply:
    return Reply(200, json.dumps({"access_token": value, "token_type": "bearer",
                                  "expires_in": lifetime}).encode(),
                 {"Content-Type": "application/json"})


def destination(reactor: Any, srv: Server) -> FhirDestination:
    config = FhirDestinationConfig.model_validate({
        "name": "billing", "type": "fhir", "base_url": srv.url("/fhir"),
        "oauth2": {"token_url": srv.url("/token"), "client_id": "plexus app",
                   "client_secret": "s3cret:with/odd", "scope": "system/ChargeItem.write"}})
    return FhirDestination(config, ConnectorContext("charges", "billing", reactor,
                                                    logging.getLogger("test.fhir")))


def send(dest: FhirDestination) -> Any:
    return run_coroutine(lambda: dest.send(Message(CHARGE, "fhir+json", message_id=1)))


def test_the_token_is_fetched_once_and_sent_as_bearer(reactor_thread: Any,
                                                      http_server: Server) -> None:
    http_server.replies["/token"] = token("tok-1")
    http_server.replies["/fhir/ChargeItem"] = Reply(201, b"")
    dest = destination(reactor_thread, http_server)
    send(dest)
    send(dest)
    token_calls = [s for s in http_server.seen if s.path == "/token"]
    assert len(token_calls) == 1
    (call,) = token_calls
    assert call.method == "POST"
    assert call.headers["content-type"] == "application/x-www-form-urlencoded"
    user, _, password = base64.b64decode(call.headers["authorization"].split()[1]).decode() \
        .partition(":")
    assert (user, password) == ("plexus+app", "s3cret%3Awith%2Fodd")  # RFC 6749 2.3.1
    assert parse_qs(call.body.decode()) == {"grant_type": ["client_credentials"],
                                            "scope": ["system/ChargeItem.write"]}
    posts = [s for s in http_server.seen if s.path == "/fhir/ChargeItem"]
    assert [s.headers["authorization"] for s in posts] == ["Bearer tok-1"] * 2


def test_a_401_drops_the_token_and_the_retry_fetches_a_new_one(
        reactor_thread: Any, http_server: Server) -> None:
    http_server.replies["/token"] = token("old")
    http_server.replies["/fhir/ChargeItem"] = Reply(401, b"")
    dest = destination(reactor_thread, http_server)
    with pytest.raises(RetryableDeliveryError, match="HTTP 401"):
        send(dest)
    http_server.replies["/token"] = token("new")
    http_server.replies["/fhir/ChargeItem"] = Reply(201, b"")
    send(dest)
    posts = [s.headers["authorization"] for s in http_server.seen
             if s.path == "/fhir/ChargeItem"]
    assert posts == ["Bearer old", "Bearer new"]


def test_an_expired_token_is_renewed(reactor_thread: Any, http_server: Server) -> None:
    http_server.replies["/token"] = token("short", lifetime=10)  # inside the 30 s margin
    http_server.replies["/fhir/ChargeItem"] = Reply(201, b"")
    dest = destination(reactor_thread, http_server)
    send(dest)
    send(dest)
    assert len([s for s in http_server.seen if s.path == "/token"]) == 2


@pytest.mark.parametrize(("reply", "error"), [
    (Reply(400, b'{"error":"invalid_client"}'), PermanentDeliveryError),
    (Reply(503, b"down"), RetryableDeliveryError),
    (Reply(200, b'{"token_type":"bearer"}'), PermanentDeliveryError),
])
def test_token_endpoint_failures(reactor_thread: Any, http_server: Server, reply: Reply,
                                 error: type[Exception]) -> None:
    http_server.replies["/token"] = reply
    dest = destination(reactor_thread, http_server)
    with pytest.raises(error, match="OAuth2 token"):
        send(dest)
    assert not [s for s in http_server.seen if s.path.startswith("/fhir")]
