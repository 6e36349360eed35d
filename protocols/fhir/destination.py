"""FHIR client destination: create, update, conditional create or transaction on a server.

429/5xx and connection failures retry (Retry-After honoured); other 4xx are permanent and
the server's OperationOutcome is kept with the message. Auth: a static bearer token or
OAuth2 client credentials (token cached until shortly before it expires; a 401 drops it).
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any, ClassVar, Literal
from urllib.parse import quote, quote_plus, urlencode

from pydantic import Field, field_validator
from twisted.web.http_headers import Headers

from engine.connector import ConnectorContext, DestinationConfig, StrictModel, TlsConfig
from engine.errors import PermanentDeliveryError, RetryableDeliveryError
from engine.message import Message
from engine.units import ByteSize, Duration
from protocols.http.destination import HttpDestination, HttpDestinationConfig, parse_retry_after

FHIR_JSON = b"application/fhir+json"


class OAuth2ClientCredentials(StrictModel):
    """OAuth2 client-credentials grant (RFC 6749 4.4)."""

    token_url: str = Field(description="the authorization server's token endpoint")
    client_id: str = Field(description="client id")
    client_secret: str = Field(description="client secret (from the environment)")
    scope: str | None = Field(default=None, description="requested scope, e.g. system/*.write")


class FhirDestinationConfig(DestinationConfig):
    """Send each message (a FHIR resource or Bundle, JSON) to a FHIR R4 server."""

    type: Literal["fhir"] = Field(description="connector type")
    base_url: str = Field(description="the server's FHIR base, e.g. https://host/fhir")
    interaction: Literal["auto", "create", "update", "conditional-create", "transaction"] = Field(
        default="auto", description="auto: a Bundle is POSTed to the base, a resource with an "
        "id is PUT, one without is POSTed")
    conditional_on: str | None = Field(
        default=None, description="conditional-create: the identifier system to match "
        "(default: the resource's first identifier)")
    bearer_token: str | None = Field(default=None, description="static bearer token")
    oauth2: OAuth2ClientCredentials | None = Field(default=None,
                                                   description="client-credentials grant")
    headers: dict[str, str] = Field(default_factory=dict, description="extra request headers")
    timeout: Duration = Field(default=30.0, description="per-request timeout")
    tls: TlsConfig | None = Field(default=None, description="https: ca, client cert, verify")
    max_response_bytes: ByteSize = Field(default=1024 * 1024,
                                         description="response bodies beyond this are cut")

    @field_validator("base_url")
    @classmethod
    def _check_base(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("base_url must be an http:// or https:// URL")
        return value.rstrip("/")


class FhirDestination:
    """Turns each message into the FHIR interaction it calls for and checks the answer."""

    Config: ClassVar[type[FhirDestinationConfig]] = FhirDestinationConfig

    def __init__(self, config: FhirDestinationConfig, context: ConnectorContext) -> None:
        self.config = config
        self.context = context
        http_config = HttpDestinationConfig(
            name=config.name, type="http", url=config.base_url, headers=config.headers,
            timeout=config.timeout, tls=config.tls, max_response_bytes=config.max_response_bytes,
            max_in_flight=config.max_in_flight)
        self.http = HttpDestination(http_config, context)
        self._token: str | None = config.bearer_token
        self._token_expires = float("inf")

    async def send(self, message: Message) -> bytes | None:
        """One interaction; the response body is kept as the message's response stage."""
        try:
            resource = json.loads(message.content)
        except ValueError as exc:
            raise PermanentDeliveryError(f"the message is not FHIR JSON: {exc}") from None
        if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
            raise PermanentDeliveryError("the message is not a FHIR resource (no resourceType)")
        method, path, extra = self._interaction(resource)
        headers = Headers({b"Content-Type": [FHIR_JSON], b"Accept": [FHIR_JSON],
                           b"Prefer": [b"return=OperationOutcome"],
                           b"X-Correlation-ID": [message.correlation_id.encode("utf-8",
                                                                                "replace")]})
        for name, value in extra.items():
            headers.addRawHeader(name.encode("ascii"), value.encode("utf-8"))
        for name, value in self.config.headers.items():
            headers.setRawHeaders(name.encode("ascii"), [value.encode("utf-8")])
        token = await self._bearer()
        if token:
            headers.setRawHeaders(b"Authorization", [f"Bearer {token}".encode()])
        url = f"{self.config.base_url}{path}".encode("ascii")
        status, response_headers, body = await self.http.request(
            method, url, headers, message.content, f"message {message.message_id}")
        return self._outcome(status, response_headers, body, f"{method.decode()} {path}")

    def _interaction(self, resource: dict[str, Any]) -> tuple[bytes, str, dict[str, str]]:
        """(method, path below the base, extra headers) for the configured interaction."""
        rtype = resource["resourceType"]
        kind = self.config.interaction
        if kind == "auto":
            kind = ("transaction" if rtype == "Bundle" else
                    "update" if isinstance(resource.get("id"), str) else "create")
        if kind == "transaction":
            if rtype != "Bundle":
                raise PermanentDeliveryError(f"a transaction needs a Bundle, not {rtype}")
            return b"POST", "", {}
        if kind == "update":
            rid = resource.get("id")
            if not isinstance(rid, str) or not rid:
                raise PermanentDeliveryError(f"update needs {rtype}.id")
            return b"PUT", f"/{rtype}/{quote(rid, safe='')}", {}
        if kind == "conditional-create":
            return b"POST", f"/{rtype}", {"If-None-Exist": self._criteria(resource)}
        return b"POST", f"/{rtype}", {}

    def _criteria(self, resource: dict[str, Any]) -> str:
        wanted = self.config.conditional_on
        for ident in resource.get("identifier") or ():
            if not isinstance(ident, dict) or not ident.get("value"):
                continue
            if wanted is None or ident.get("system") == wanted:
                token = f"{ident.get('system', '')}|{ident['value']}" if ident.get("system") \
                    else ident["value"]
                return urlencode({"identifier": token})
        raise PermanentDeliveryError(
            f"conditional-create needs {resource['resourceType']}.identifier"
            + (f" with system {wanted}" if wanted else ""))

    def _outcome(self, status: int, headers: Any, body: bytes, what: str) -> bytes:
        if 200 <= status < 300:
            return body
        detail = _diagnostics(body)
        text = f"FHIR {what}: HTTP {status}" + (f": {detail}" if detail else "")
        if status == 401 and self.config.oauth2 is not None:
            self._token = None  # a revoked or expired token: fetch a new one next time
            raise RetryableDeliveryError(text, response=body)
        if status in (408, 429) or status >= 500:
            raw = headers.getRawHeaders(b"retry-after")
            retry_after = parse_retry_after(raw[0].decode("latin-1")) if raw else None
            raise RetryableDeliveryError(text, retry_after=retry_after, response=body)
        raise PermanentDeliveryError(text, response=body)

    async def _bearer(self) -> str | None:
        oauth = self.config.oauth2
        if oauth is None:
            return self._token
        if self._token is None or time.monotonic() >= self._token_expires:
            self._token, lifetime = await self._fetch_token(oauth)
            self._token_expires = time.monotonic() + max(0.0, lifetime - 30.0)
        return self._token

    async def _fetch_token(self, oauth: OAuth2ClientCredentials) -> tuple[str, float]:
        form = {"grant_type": "client_credentials"}
        if oauth.scope:
            form["scope"] = oauth.scope
        # RFC 6749 2.3.1: id and secret form-urlencoded, then HTTP Basic
        basic = base64.b64encode(f"{quote_plus(oauth.client_id, safe='')}:"
                                 f"{quote_plus(oauth.client_secret, safe='')}".encode()).decode()
        headers = Headers({b"Content-Type": [b"application/x-www-form-urlencoded"],
                           b"Accept": [b"application/json"],
                           b"Authorization": [f"Basic {basic}".encode()]})
        status, _, body = await self.http.request(b"POST", oauth.token_url.encode("ascii"),
                                                  headers, urlencode(form).encode(),
                                                  "token request")
        if status != 200:
            error = RetryableDeliveryError if status >= 500 or status == 429 else \
                PermanentDeliveryError
            raise error(f"OAuth2 token request: HTTP {status}: "
                        f"{body[:300].decode('utf-8', 'replace')}")
        try:
            data = json.loads(body)
            return str(data["access_token"]), float(data.get("expires_in", 300))
        except (ValueError, KeyError, TypeError) as exc:
            raise PermanentDeliveryError(f"OAuth2 token response unreadable: {exc}") from None

    async def close(self) -> None:
        """Close the kept-alive connections."""
        await self.http.close()


def _diagnostics(body: bytes) -> str:
    """The issues of an OperationOutcome body, or the start of any other body."""
    try:
        outcome = json.loads(body)
    except ValueError:
        return body[:300].decode("utf-8", "replace").strip()
    if isinstance(outcome, dict) and outcome.get("resourceType") == "OperationOutcome":
        parts = []
        for issue in outcome.get("issue") or ():
            text = issue.get("diagnostics") or issue.get("details", {}).get("text") or ""
            where = ",".join(issue.get("expression") or ())
            parts.append(f"{issue.get('code', '?')}: {text}" + (f" at {where}" if where else ""))
        return "; ".join(parts)
    return ""
