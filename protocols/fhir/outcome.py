"""What the FHIR listener answers: FhirError / OperationOutcome (FHIRPath expressions), status
lines, and the Location / ETag / Last-Modified headers of a successful write."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

from engine.errors import MessageError, ParseError, RejectedError, ValidationError

__all__ = [
    "ISSUE_TYPES", "FhirError", "Issue", "as_fhir_error", "bad_request", "etag", "fhirpath",
    "forbidden", "information_outcome", "instant", "location", "malformed", "method_not_allowed",
    "multiple_matches", "not_acceptable", "not_found", "operation_outcome",
    "outcome_from_pydantic", "precondition_failed", "response_headers", "status_line",
    "too_large", "unauthorized", "unknown_type", "unprocessable", "unsupported_media",
    "version_conflict",
]

#: FHIR R4 IssueType codes (http://hl7.org/fhir/R4/valueset-issue-type.html).
ISSUE_TYPES = frozenset({
    "invalid", "structure", "required", "value", "invariant", "security", "login", "unknown",
    "expired", "forbidden", "suppressed", "processing", "not-supported", "duplicate",
    "multiple-matches", "not-found", "deleted", "too-long", "code-invalid", "extension",
    "too-costly", "business-rule", "conflict", "transient", "lock-error", "no-store",
    "exception", "timeout", "incomplete", "throttled", "informational",
})
_SEVERITIES = frozenset({"fatal", "error", "warning", "information"})
_REASONS = {
    200: "OK", 201: "Created", 204: "No Content", 304: "Not Modified", 400: "Bad Request",
    401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
    406: "Not Acceptable", 409: "Conflict", 410: "Gone", 412: "Precondition Failed",
    413: "Payload Too Large", 415: "Unsupported Media Type", 422: "Unprocessable Entity",
    429: "Too Many Requests", 500: "Internal Server Error", 503: "Service Unavailable",
}
_EXT = "http://hl7.org/fhir/StructureDefinition/operationoutcome-issue-"
_LINE_COL = re.compile(r"^(\d+):(\d+)$")


def status_line(status: int) -> str:
    """The HTTP status as FHIR writes it in Bundle.entry.response.status: '201 Created'."""
    return f"{status} {_REASONS.get(status, '')}".rstrip()


@dataclass(frozen=True, slots=True)
class Issue:
    """One OperationOutcome.issue: what is wrong (code), where (FHIRPath expression), and why."""

    code: str
    diagnostics: str
    expression: tuple[str, ...] = ()
    severity: str = "error"
    line: int | None = None
    column: int | None = None

    def __post_init__(self) -> None:
        if self.code not in ISSUE_TYPES:
            raise ValueError(f"not a FHIR issue type: {self.code!r}")
        if self.severity not in _SEVERITIES:
            raise ValueError(f"not a FHIR issue severity: {self.severity!r}")
        if isinstance(self.expression, str):
            object.__setattr__(self, "expression", (self.expression,))

    def to_fhir(self) -> dict[str, Any]:
        """The issue as R4 JSON (line/column in the operationoutcome-issue-line/col extensions)."""
        out: dict[str, Any] = {"severity": self.severity, "code": self.code}
        if self.line is not None:
            out["extension"] = [{"url": _EXT + "line", "valueInteger": self.line},
                                {"url": _EXT + "col", "valueInteger": self.column or 1}]
        if self.diagnostics:
            out["diagnostics"] = self.diagnostics
        if self.line is not None:
            out["location"] = [f"Line[{self.line}] Col[{self.column or 1}]"]
        if self.expression:
            out["expression"] = list(self.expression)
        return out


class FhirError(MessageError):
    """A request FHIR must refuse: the HTTP status, its issues and any extra response headers."""

    def __init__(self, status: int, issues: Issue | Sequence[Issue],
                 headers: dict[str, str] | None = None) -> None:
        issues = [issues] if isinstance(issues, Issue) else list(issues)
        if not issues:
            raise ValueError("a FhirError needs at least one issue")
        first = issues[0]
        super().__init__(first.diagnostics, first.expression[0] if first.expression else None)
        self.status = status
        self.issues = issues
        self.headers = dict(headers or {})
        self.reason = ("parse" if status == 400 else "validation" if status == 422
                       else "rejected")

    def __str__(self) -> str:
        return f"{self.status}: " + "; ".join(
            f"{', '.join(i.expression)}: {i.diagnostics}" if i.expression else i.diagnostics
            for i in self.issues)

    def outcome(self) -> dict[str, Any]:
        """The OperationOutcome to send as the response body."""
        return operation_outcome(self.issues)


def operation_outcome(issues: Iterable[Issue], outcome_id: str | None = None) -> dict[str, Any]:
    """An R4 OperationOutcome resource (JSON form) holding the issues."""
    out: dict[str, Any] = {"resourceType": "OperationOutcome"}
    if outcome_id:
        out["id"] = outcome_id
    out["issue"] = [i.to_fhir() for i in issues]
    if not out["issue"]:
        out["issue"] = [Issue("informational", "All OK", severity="information").to_fhir()]
    return out


def information_outcome(diagnostics: str) -> dict[str, Any]:
    """An all-OK OperationOutcome (for `Prefer: return=OperationOutcome`)."""
    return operation_outcome([Issue("informational", diagnostics, severity="information")])


def _one(status: int, code: str, diagnostics: str, expression: str | Sequence[str] | None,
         headers: dict[str, str] | None = None) -> FhirError:
    expr = (expression,) if isinstance(expression, str) else tuple(expression or ())
    return FhirError(status, Issue(code, diagnostics, expr), headers)


def malformed(diagnostics: str, line: int | None = None, column: int | None = None) -> FhirError:
    """400: the body is not well-formed (JSON syntax, encoding, duplicate keys)."""
    return FhirError(400, Issue("structure", diagnostics, line=line, column=column))


def bad_request(diagnostics: str, expression: str | Sequence[str] | None = None,
                code: str = "invalid") -> FhirError:
    """400: the request itself is wrong (bad URL, id mismatch, bad bundle entry)."""
    return _one(400, code, diagnostics, expression)


def unauthorized(diagnostics: str = "a valid bearer token is required", realm: str = "plexus",
                 error: str | None = None) -> FhirError:
    """401 with `WWW-Authenticate: Bearer` (RFC 6750); error='invalid_token' for a bad token."""
    challenge = f'Bearer realm="{realm}"' + (f', error="{error}"' if error else "")
    return _one(401, "login", diagnostics, None, {"WWW-Authenticate": challenge})


def forbidden(diagnostics: str = "the token does not allow this interaction") -> FhirError:
    """403: authenticated but not allowed."""
    return _one(403, "forbidden", diagnostics, None)


def not_found(diagnostics: str, expression: str | Sequence[str] | None = None) -> FhirError:
    """404: the resource (Type/id) does not exist."""
    return _one(404, "not-found", diagnostics, expression)


def unknown_type(resource_type: str, expression: str | Sequence[str] | None = None) -> FhirError:
    """404: the resource type is unknown or not served by this endpoint."""
    return _one(404, "not-supported",
                f"resource type {resource_type!r} is not supported here", expression)


def method_not_allowed(method: str, allowed: Iterable[str]) -> FhirError:
    """405 with an Allow header."""
    allow = ", ".join(allowed)
    return _one(405, "not-supported", f"{method} is not allowed here (allowed: {allow})", None,
                {"Allow": allow})


def not_acceptable(requested: str) -> FhirError:
    """406: the client asked (via _format) for a format this server does not produce."""
    return _one(406, "not-supported",
                f"format {requested!r} is not supported; use application/fhir+json", None)


def version_conflict(diagnostics: str, expression: str | Sequence[str] | None = None) -> FhirError:
    """409: the write conflicts with the current state (version, concurrent update)."""
    return _one(409, "conflict", diagnostics, expression)


def precondition_failed(diagnostics: str, expression: str | Sequence[str] | None = None
                        ) -> FhirError:
    """412: If-Match does not match the current version."""
    return _one(412, "conflict", diagnostics, expression)


def multiple_matches(criteria: str, count: int, expression: str | Sequence[str] | None = None
                     ) -> FhirError:
    """412: a conditional create's If-None-Exist matched more than one resource."""
    return _one(412, "multiple-matches",
                f"If-None-Exist {criteria!r} matched {count} resources; it must match at most one",
                expression)


def too_large(size: int, limit: int) -> FhirError:
    """413: the body is over the size limit."""
    return _one(413, "too-long", f"body of {size} bytes is over the limit of {limit} bytes", None)


def unsupported_media(content_type: str | None, supported: Iterable[str]) -> FhirError:
    """415: the request's Content-Type is not a FHIR format this server reads."""
    got = repr(content_type) if content_type else "no Content-Type"
    return _one(415, "not-supported",
                f"unsupported media type {got}; send one of: {', '.join(supported)}", None)


def unprocessable(issues: Issue | Sequence[Issue]) -> FhirError:
    """422: well-formed but breaks FHIR structure or a business rule."""
    return FhirError(422, issues)


def as_fhir_error(exc: BaseException) -> FhirError:
    """Map any Plexus message error to the FhirError the listener answers with."""
    if isinstance(exc, FhirError):
        return exc
    if isinstance(exc, ParseError):
        m = _LINE_COL.match(exc.location or "")
        if m:
            return malformed(exc.message, int(m[1]), int(m[2]))
        return FhirError(400, Issue("structure", exc.message, _expr(exc.location)))
    if isinstance(exc, ValidationError):
        return FhirError(422, Issue("invalid", exc.message, _expr(exc.location)))
    if isinstance(exc, RejectedError):
        return FhirError(422, Issue("business-rule", exc.message, _expr(exc.location)))
    if isinstance(exc, MessageError):
        return FhirError(400, Issue("processing", exc.message, _expr(exc.location)))
    return FhirError(500, Issue("exception", f"internal error: {type(exc).__name__}"))


def _expr(location: str | None) -> tuple[str, ...]:
    return (location,) if location else ()


# -- success headers ----------------------------------------------------------------------------

def etag(version_id: str) -> str:
    """The weak ETag FHIR uses for a version: W/"3"."""
    return f'W/"{version_id}"'


def location(resource_type: str, resource_id: str, version_id: str) -> str:
    """'Type/id/_history/version' (relative; prefix the base URL for a Location header)."""
    return f"{resource_type}/{resource_id}/_history/{version_id}"


def instant(value: datetime | str) -> str:
    """A FHIR instant (UTC, milliseconds, 'Z') from a datetime; strings pass through."""
    if isinstance(value, str):
        return value
    value = value if value.tzinfo else value.replace(tzinfo=UTC)
    return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def response_headers(base_url: str, resource_type: str, resource_id: str, version_id: str,
                     last_modified: datetime | None = None) -> dict[str, str]:
    """Location, ETag and Last-Modified (HTTP-date) for a create/update response."""
    out = {"Location": f"{base_url.rstrip('/')}/{location(resource_type, resource_id, version_id)}",
           "ETag": etag(version_id)}
    if last_modified is not None:
        utc = last_modified if last_modified.tzinfo else last_modified.replace(tzinfo=UTC)
        out["Last-Modified"] = format_datetime(utc.astimezone(UTC), usegmt=True)
    return out


# -- pydantic (fhir.resources) errors -> issues ---------------------------------------------

_CHOICE = re.compile(r"from this list \[([^\]]*)\]")
_PYDANTIC_CODES = {
    "missing": "required", "model_field_validation.missing": "required",
    "extra_forbidden": "structure", "list_type": "structure", "model_type": "structure",
    "dict_type": "structure", "json_invalid": "structure", "model_attributes_type": "structure",
}


def fhirpath(root: str, loc: Iterable[Any]) -> str:
    """A pydantic loc tuple as FHIRPath: ('quantity', 'value') -> 'ChargeItem.quantity.value'."""
    out = root
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def outcome_from_pydantic(exc: Any, resource_type: str, prefix: str = "") -> list[Issue]:
    """Issues from a pydantic ValidationError raised by a fhir.resources model."""
    root = prefix or resource_type
    issues = []
    for err in exc.errors(include_url=False):
        loc = tuple(p for p in err.get("loc", ()) if p != "__root__")
        kind = err.get("type", "")
        message = str(err.get("msg", "invalid"))
        if kind.startswith("value_error") or kind == "value_error":
            message = message.removeprefix("Value error, ")
        path = fhirpath(root, loc)
        if kind in ("missing", "model_field_validation.missing"):
            message = f"{loc[-1]} is required" if loc else "a required element is missing"
        elif kind == "extra_forbidden":
            message = f"unknown element {loc[-1]!r}" if loc else "unknown element"
        elif kind == "json_invalid":
            message = "expected a JSON object, got a " + type(err.get("input")).__name__
        elif not loc and (m := _CHOICE.search(message)):
            names = [n.strip(" '\"") for n in m[1].split(",")]
            path = fhirpath(root, (_common_prefix(names) + "[x]",))
            message = f"only one of {', '.join(names)} may be present"
        issues.append(Issue(_PYDANTIC_CODES.get(kind, "value"), message, (path,)))
    return issues


def _common_prefix(names: Sequence[str]) -> str:
    first = min(names) if names else ""
    last = max(names) if names else ""
    i = 0
    while i < len(first) and i < len(last) and first[i] == last[i]:
        i += 1
    return first[:i] or "value"
