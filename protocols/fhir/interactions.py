"""What the FHIR listener does per interaction: read, create, update, transaction, batch.

Every write is one channel message (a resource, or a whole transaction Bundle) committed
with its resources before the answer; a rejected write is stored with its error too.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from twisted.internet import threads

from engine.connector import ConnectorContext
from engine.errors import MessageError, StoreError
from engine.logs import loggable
from engine.message import Message, Receipt
from engine.store.base import ResourceConflict, ResourceWrite, StoredResource
from protocols.http.listener import HttpReply

from .bundle import BundlePlan, WriteResult, plan_bundle, resolve_conditional, response_bundle
from .capability import capability_statement
from .content import (
    criteria_keys,
    dump_json,
    identifier_keys,
    negotiate_request,
    negotiate_response,
    parse_body,
    parse_etag,
    parse_if_none_exist,
    prefer_return,
)
from .outcome import (
    FhirError,
    Issue,
    as_fhir_error,
    bad_request,
    information_outcome,
    instant,
    method_not_allowed,
    multiple_matches,
    not_found,
    precondition_failed,
    response_headers,
    version_conflict,
)
from .validation import check_create, check_type, check_update, validate_resource

if TYPE_CHECKING:
    from twisted.web.server import Request

    from .source import FhirSourceConfig

log = logging.getLogger("plexus.source.fhir")

FHIR_JSON = "application/fhir+json; charset=utf-8"


class Reply(HttpReply):
    """An HTTP answer of the FHIR listener."""

    @classmethod
    def error(cls, exc: FhirError) -> Reply:
        """The OperationOutcome of an error, with its status and headers."""
        return cls(exc.status, dump_json(exc.outcome()),
                   {"Content-Type": FHIR_JSON, **(exc.headers or {})})


class Refused(FhirError):
    """The channel refused a write (a filter or transform error); ingest stored it already."""


class Interactions:
    """The listener's interactions against the channel's ingest and the store's resources."""

    def __init__(self, config: FhirSourceConfig, ingest: Any, context: ConnectorContext) -> None:
        self.config = config
        self.ingest = ingest
        self.channel = context.channel
        self.allowed = set(config.resources)
        self.store = context.store  # resources are read back from the channel's store

    async def dispatch(self, request: Request, method: str, parts: list[str]) -> Reply:
        """Route by method and path below the base."""
        if parts == ["metadata"]:
            _only(method, "GET")
            return self._json(request, 200, self._capability(request))
        if not parts:
            _only(method, "POST")
            return await self._rejecting(request, self.bundle(request))
        try:
            check_type(parts[0], self.allowed)
        except FhirError as exc:
            if method in ("POST", "PUT"):  # a refused write is stored like any other
                await self._store_rejection(request, exc)
            raise
        if len(parts) == 1:
            _only(method, "POST")
            return await self._rejecting(request, self.create(request, parts[0]))
        if len(parts) == 2:
            _only(method, "GET", "PUT")
            if method == "GET":
                return await self.read(request, parts[0], parts[1])
            return await self._rejecting(request, self.update(request, parts[0], parts[1]))
        if len(parts) == 4 and parts[2] == "_history":
            _only(method, "GET")
            return await self.read(request, parts[0], parts[1], parts[3])
        raise not_found(f"no interaction at {'/'.join(parts)}")

    # -- reads ---------------------------------------------------------------------------
    async def read(self, request: Request, rtype: str, rid: str,
                   version: str | None = None) -> Reply:
        """The current version (or a vread of it: only the current one is kept)."""
        found = await threads.deferToThread(self.store.get_resource, self.channel, rtype, rid)
        if found is None:
            raise not_found(f"{rtype}/{rid} is not known", f"{rtype}.id")
        if version is not None and version != str(found.version):
            raise not_found(f"{rtype}/{rid} version {version} is not kept (current: "
                            f"{found.version})")
        return Reply(200, found.content, {"Content-Type": self._mime(request),
                                          **self._headers(request, found)})

    # -- writes ----------------------------------------------------------------------------
    async def create(self, request: Request, rtype: str) -> Reply:
        """POST /Type, conditional with If-None-Exist."""
        res = self._body(request)
        check_create(res, rtype)
        validate_resource(res, self.allowed)
        criteria = request.getHeader("if-none-exist")
        key = None
        if criteria is not None:
            wanted = criteria_keys(rtype, parse_if_none_exist(criteria, rtype))
            matches = await threads.deferToThread(self.store.find_resources, self.channel,
                                                  wanted)
            if len(matches) > 1:
                raise multiple_matches(criteria, len(matches))
            if matches:
                return self._written(request, matches[0], created=False)
            key = f"{rtype}?{'&'.join(sorted(wanted))}"
        rid = str(uuid.uuid4())
        content = _stamp(res, rid, 1)
        receipt = await self._commit(request, content, rtype, rid, key,
                                     [ResourceWrite(rtype, rid, 1, content,
                                                    identifier_keys(res))])
        if receipt.status == "duplicate":  # the same conditional create won a race
            original = await threads.deferToThread(
                self.store.resource_of_message, self.channel,
                receipt.details["duplicate_of"])
            if original is not None:
                return self._written(request, original, created=False)
        return self._written(request, _stored(rtype, rid, 1, content), created=True)

    async def update(self, request: Request, rtype: str, rid: str) -> Reply:
        """PUT /Type/id: a new version (or the first: update as create); If-Match honoured."""
        res = self._body(request)
        check_update(res, rtype, rid)
        validate_resource(res, self.allowed)
        current = await threads.deferToThread(self.store.get_resource, self.channel, rtype, rid)
        match = request.getHeader("if-match")
        if match is not None:
            expected = parse_etag(match, "If-Match")
            if current is None or str(current.version) != expected:
                raise precondition_failed(
                    f"If-Match {match} does not match the current version "
                    f"({current.version if current else 'none'})")
        version = current.version + 1 if current else 1
        content = _stamp(res, rid, version)
        await self._commit(request, content, rtype, rid, None,
                           [_versioned(rtype, rid, version, content, res, current)])
        return self._written(request, _stored(rtype, rid, version, content),
                             created=current is None)

    async def bundle(self, request: Request) -> Reply:
        """POST / with a transaction (one message, all or nothing) or a batch Bundle."""
        body = self._body(request)
        if body.get("resourceType") != "Bundle":
            raise bad_request("POST to the base takes a Bundle", "resourceType")
        plan: BundlePlan = await threads.deferToThread(plan_bundle, body, self.allowed,
                                                       None, self._base(request))
        pending = plan.conditional()
        if pending:
            matches = {}
            for entry in pending:
                found = await threads.deferToThread(
                    self.store.find_resources, self.channel,
                    criteria_keys(entry.resource_type, entry.criteria))
                matches[entry.index] = [r.resource_id for r in found]
            resolve_conditional(plan, matches)
        results: dict[int, WriteResult | FhirError] = {}
        writes = []
        for entry in plan.writes():
            version, current = 1, None
            if entry.method == "PUT":
                current = await threads.deferToThread(
                    self.store.get_resource, self.channel, entry.resource_type,
                    entry.resource_id)
                version = current.version + 1 if current else 1
                if entry.if_match is not None and str(version - 1) != entry.if_match:
                    err = precondition_failed(f"{entry.reference}: If-Match W/\"{entry.if_match}"
                                              f"\" is not the current version")
                    if plan.kind == "transaction":
                        raise err
                    results[entry.index] = err
                    continue
            content = _stamp(entry.resource, entry.resource_id, version)
            writes.append((entry, _versioned(entry.resource_type, entry.resource_id, version,
                                             content, entry.resource, current)))
        for entry in plan.entries:
            if entry.matched:
                results[entry.index] = WriteResult(created=False, resource=entry.resource)
        if plan.kind == "transaction":
            body_bytes = dump_json(_as_applied(body, plan, self._base(request)))
            await self._commit(request, body_bytes, "Bundle", body.get("id") or "",
                               None, [w for _, w in writes])
            for entry, w in writes:
                results[entry.index] = _result(w)
        else:
            for entry, w in writes:
                try:
                    await self._commit(request, w.content, w.resource_type, w.resource_id,
                                       None, [w])
                    results[entry.index] = _result(w)
                except FhirError as exc:
                    results[entry.index] = exc
        reply = response_bundle(plan, results, prefer_return(request.getHeader("prefer")),
                                self._base(request))
        return self._json(request, 200, reply)

    # -- the store -----------------------------------------------------------------------------
    async def _commit(self, request: Request, content: bytes, rtype: str, rid: str,
                      key: str | None, resources: list[ResourceWrite]) -> Receipt:
        message = Message(content, "fhir+json",
                          correlation_id=request.getHeader("x-correlation-id") or rid or None,
                          business_key=f"{rtype}/{rid}" if rid else None,
                          idempotency_key=key, metadata=self._metadata(request))
        try:
            receipt: Receipt = await self.ingest(message, resources=resources)
        except StoreError as exc:
            if isinstance(exc.__cause__, ResourceConflict):
                raise version_conflict(str(exc.__cause__)) from exc
            log.error("channel %s: FHIR write not stored: %s", self.channel, loggable(exc))
            raise FhirError(503, [Issue("transient", "the message could not be stored; "
                                        "it was not accepted, send it again")],
                            {"Retry-After": "1"}) from exc
        if receipt.status in ("error", "rejected"):
            error = receipt.error
            raise Refused(422, [Issue("processing", f"the channel refused the message: "
                                        f"{error.message if error else 'error'}",
                                        (error.location,) if error and error.location else ())])
        return receipt

    async def _rejecting(self, request: Request, work: Any) -> Reply:
        """Run a write; if it is refused, store the request with its error, then answer."""
        try:
            return await work
        except MessageError as exc:
            error = exc if isinstance(exc, FhirError) else as_fhir_error(exc)
            # conflicts refuse nothing new; a Refused message is stored already
            if error.status not in (409, 412, 503) and not isinstance(error, Refused):
                await self._store_rejection(request, error)
            raise error from None

    async def _store_rejection(self, request: Request, error: FhirError) -> None:
        body = b"" if getattr(request, "too_large", False) else request.content.getvalue()
        message = Message(body, "fhir+json",
                          correlation_id=request.getHeader("x-correlation-id") or None,
                          metadata={**self._metadata(request), "status": error.status})
        try:
            await self.ingest(message, error)
        except StoreError as exc:
            log.error("channel %s: a rejected FHIR request could not be stored: %s",
                      self.channel, loggable(exc))

    # -- helpers ---------------------------------------------------------------------------------
    def _body(self, request: Request) -> dict[str, Any]:
        if getattr(request, "too_large", False):
            from .outcome import too_large
            raise too_large(int(request.getHeader("content-length") or 0),
                            self.config.max_body_bytes)
        fmt = negotiate_request(request.getHeader("content-type"), _param(request, "_format"))
        return parse_body(request.content.getvalue(), fmt, self.config.max_body_bytes)

    def _written(self, request: Request, stored: StoredResource, created: bool) -> Reply:
        headers = self._headers(request, stored)
        asked = request.getHeader("prefer")
        prefer = prefer_return(asked) if asked else "representation"
        status = 201 if created else 200
        if prefer == "minimal":
            return Reply(status, b"", headers)
        headers["Content-Type"] = self._mime(request)
        if prefer == "OperationOutcome":
            text = f"{stored.resource_type}/{stored.resource_id} " + (
                "created" if created else "already exists or was updated")
            return Reply(status, dump_json(information_outcome(text)), headers)
        return Reply(status, stored.content, headers)

    def _headers(self, request: Request, stored: StoredResource) -> dict[str, str]:
        return response_headers(self._base(request), stored.resource_type,
                                stored.resource_id, str(stored.version),
                                datetime.fromtimestamp(stored.updated_at, UTC))

    def _json(self, request: Request, status: int, body: dict[str, Any]) -> Reply:
        return Reply(status, dump_json(body), {"Content-Type": self._mime(request)})

    def _mime(self, request: Request) -> str:
        mime = negotiate_response(request.getHeader("accept"), _param(request, "_format"))
        return f"{mime}; charset=utf-8"

    def _base(self, request: Request) -> str:
        if self.config.public_url:
            return self.config.public_url.rstrip("/")
        scheme = "https" if request.isSecure() else "http"
        host = request.getHeader("host") or "{}:{}".format(*_address(request))
        return f"{scheme}://{host}{self.config.base_path}"

    def _capability(self, request: Request) -> dict[str, Any]:
        return capability_statement(
            self._base(request), sorted(self.allowed),
            ("create", "update", "read", "vread", "transaction", "batch"),
            auth_required=self.config.auth is not None, versioning="versioned-update",
            formats=("json", "xml"))

    def _metadata(self, request: Request) -> dict[str, Any]:
        peer = request.getClientAddress()
        return {"peer": f"{getattr(peer, 'host', '')}:{getattr(peer, 'port', '')}",
                "method": request.method.decode("ascii", "replace"),
                "path": request.path.decode("utf-8", "replace")}


def _versioned(rtype: str, rid: str, version: int, content: bytes, resource: dict[str, Any],
               current: StoredResource | None) -> ResourceWrite:
    """The write of a new version: its identifier keys, and those its predecessor loses."""
    keys = identifier_keys(resource)
    dropped: list[str] = []
    if current is not None:
        try:
            previous = json.loads(current.content)
        except ValueError:
            previous = {}
        dropped = [k for k in identifier_keys(previous) if k not in keys]
    return ResourceWrite(rtype, rid, version, content, keys, dropped)


def _only(method: str, *allowed: str) -> None:
    if method not in allowed:
        raise method_not_allowed(method, allowed)


def _param(request: Request, name: str) -> str | None:
    values = request.args.get(name.encode())
    return unquote(values[0].decode("utf-8", "replace")) if values else None


def _address(request: Request) -> tuple[str, int]:
    host = request.getHost()
    return host.host, host.port


def _as_applied(body: dict[str, Any], plan: BundlePlan, base: str) -> dict[str, Any]:
    """The transaction as committed, for the channel: every entry's fullUrl is its resource's
    URL here and each write is a PUT of the id given here, so that a FHIR destination gets
    the same ids and references (not new ids and dangling references) and a redelivery
    changes nothing. Conditional creates that matched stay conditional."""
    for entry in plan.entries:
        raw = body["entry"][entry.index]
        raw["fullUrl"] = f"{base}/{entry.reference}"
        if not entry.matched:
            raw["request"] = {"method": "PUT", "url": entry.reference}
    return body


def _stamp(res: dict[str, Any], rid: str, version: int) -> bytes:
    """The stored form: server id, meta.versionId and meta.lastUpdated set."""
    res["id"] = rid
    meta = dict(res.get("meta") or {})
    meta["versionId"] = str(version)
    meta["lastUpdated"] = instant(datetime.now(UTC))
    res["meta"] = meta
    return dump_json(res)


def _stored(rtype: str, rid: str, version: int, content: bytes) -> StoredResource:
    return StoredResource(rtype, rid, version, content, 0, time.time())


def _result(w: ResourceWrite) -> WriteResult:
    return WriteResult(created=w.version == 1, version_id=str(w.version),
                       last_modified=datetime.now(UTC), resource=json.loads(w.content))
