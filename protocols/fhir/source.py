"""FHIR R4 REST listener (`type: fhir`): resources in, each durable before its 201/200."""

from __future__ import annotations

import hmac
import logging
from typing import Any, Literal

from pydantic import Field
from twisted.web import server

from engine.connector import ConnectorContext, SourceConfig, StrictModel, TlsConfig
from engine.units import ByteSize, Duration
from protocols.http.listener import HttpSource

from .content import XML_TYPES, is_xml, negotiate_response
from .interactions import Interactions, Reply
from .outcome import FhirError, as_fhir_error, forbidden, not_found, unauthorized
from .xml import to_xml

log = logging.getLogger("plexus.source.fhir")


class FhirToken(StrictModel):
    """A bearer token and what it may do: write implies read."""

    token: str = Field(min_length=16, description="the secret (from the environment)")
    access: Literal["read", "write"] = Field(description="read, or write (and read)")


class FhirAuth(StrictModel):
    """Bearer tokens accepted by the listener."""

    tokens: list[FhirToken] = Field(min_length=1, description="tokens and their access")


class FhirSourceConfig(SourceConfig):
    """A FHIR R4 REST endpoint: create, update, read, transaction and batch."""

    type: Literal["fhir"]
    host: str = Field(default="0.0.0.0", description="interface to listen on")
    port: int = Field(ge=0, le=65535, description="TCP port")
    base_path: str = Field(default="/fhir", pattern=r"^(/[A-Za-z0-9._~-]+)*$",
                           description="path the FHIR base URL ends with")
    resources: list[str] = Field(min_length=1, description="resource types accepted")
    auth: FhirAuth | None = Field(default=None,
                                  description="bearer tokens; without it the listener is open")
    tls: TlsConfig | None = Field(default=None, description="TLS / mutual TLS")
    max_body_bytes: ByteSize = Field(default=10 * 1024 * 1024,
                                     description="larger requests get 413 unread")
    idle_timeout: Duration = Field(default=300.0, description="close silent connections")
    duplicate_window: Duration = Field(
        default=10 * 365 * 86400.0,
        description="how long a conditional create (If-None-Exist) keeps matching")
    public_url: str | None = Field(
        default=None, description="base URL in Location headers (default: from the request)")


class FhirSource(HttpSource):
    """Listens for FHIR REST, validates, stores each write durably before answering."""

    content_type = "fhir+json"  # of the messages it makes (offline channel tests use it)
    Config = FhirSourceConfig

    def __init__(self, config: FhirSourceConfig, ingest: Any, context: ConnectorContext) -> None:
        self.config = config
        self.channel = context.channel
        self.reactor = context.reactor
        self.in_flight: set[Any] = set()
        self.interactions = Interactions(config, ingest, context)
        self._tokens = [(t.token.encode(), t.access) for t in config.auth.tokens] \
            if config.auth else []

    def bug_reply(self) -> Reply:
        """An OperationOutcome when answer() itself fails (a bug)."""
        return Reply.error(as_fhir_error(RuntimeError("internal error")))

    def start(self) -> None:
        """Start listening (TLS when configured)."""
        host, port = self.listen_http(self.answer)
        log.info("channel %s serving FHIR on %s:%d%s%s", self.channel, host, port,
                 self.config.base_path, " (TLS)" if self.config.tls else "")
        if not self._tokens:
            log.warning("channel %s: the FHIR listener has no auth: anyone who reaches it "
                        "can read and write", self.channel)

    def stop(self) -> Any:
        """Stop accepting, then let in-flight requests get their answer."""
        return self.stop_http()

    async def answer(self, request: server.Request) -> Reply:
        """Authorize, route and run one request; every failure is an OperationOutcome."""
        try:
            method = request.method.decode("ascii", "replace")
            path = request.path.decode("utf-8", "replace")
            base = self.config.base_path
            if path != base and not path.startswith(base + "/"):
                raise not_found(f"{path} is not under this FHIR base")
            parts = [p for p in path[len(base):].split("/") if p]
            if parts != ["metadata"]:
                self._authorize(request, write=method in ("POST", "PUT", "DELETE", "PATCH"))
            reply = await self.interactions.dispatch(request, method, parts)
        except FhirError as exc:
            reply = Reply.error(exc)
        return as_xml(request, reply) if self._wants_xml(request) else reply

    @staticmethod
    def _wants_xml(request: server.Request) -> bool:
        try:
            return is_xml(negotiate_response(request.getHeader("accept"),
                                             _format_param(request)))
        except FhirError:  # an unknown _format: answered 406 in JSON
            return False

    def _authorize(self, request: server.Request, write: bool) -> None:
        if not self._tokens:
            return
        header = (request.getHeader("authorization") or "").strip()
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise unauthorized()
        presented = token.strip().encode()
        for secret, access in self._tokens:
            if hmac.compare_digest(secret, presented):
                if write and access != "write":
                    raise forbidden("this token may read, not write")
                return
        raise unauthorized("the bearer token is not valid")



def _format_param(request: server.Request) -> str | None:
    values = request.args.get(b"_format")
    return values[0].decode("utf-8", "replace") if values else None


def as_xml(request: server.Request, reply: Reply) -> Reply:
    """The reply with its FHIR JSON body written as XML (kept as JSON if that cannot be done)."""
    mime = (reply.headers.get("Content-Type") or "").split(";")[0].strip()
    if not reply.body or mime not in ("application/fhir+json", "application/json",
                                      *XML_TYPES):
        return reply
    written = to_xml(reply.body)
    if written is None:
        log.warning("FHIR XML answer could not be written; answered in JSON")
        reply.headers["Content-Type"] = "application/fhir+json; charset=utf-8"
        return reply
    wanted = negotiate_response(request.getHeader("accept"), _format_param(request))
    return Reply(reply.status, written, {**reply.headers,
                                         "Content-Type": f"{wanted}; charset=utf-8"})
