"""POST / with a transaction or batch Bundle: plan the writes, rewrite references, build the reply.

The listener's flow (all pure; the store does the I/O in between):
  plan = plan_bundle(bundle, allowed_types)         # FhirError: the transaction is refused
  ids = {e.index: store.lookup(criteria_keys(e.resource_type, e.criteria))
         for e in plan.conditional()}
  resolve_conditional(plan, ids)                    # 412 when If-None-Exist matches several
  results = store.write(plan.writes())              # one transaction: {index: WriteResult}
  body = response_bundle(plan, results)             # transaction-response / batch-response
Resources are changed in place (id set, references rewritten): no copies.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from .content import (
    criteria_keys,
    criteria_match,
    identifier_keys,
    parse_etag,
    parse_if_none_exist,
)
from .outcome import (
    FhirError,
    Issue,
    bad_request,
    etag,
    information_outcome,
    instant,
    location,
    multiple_matches,
    status_line,
)
from .validation import check_id, check_type, validate_resource

__all__ = ["BundlePlan", "PlannedEntry", "WriteResult", "criteria_keys", "criteria_match",
           "identifier_keys", "parse_if_none_exist", "plan_bundle", "resolve_conditional",
           "response_bundle"]

_URN = re.compile(r"urn:uuid:[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}"
                  r"|urn:oid:[0-2](?:\.(?:0|[1-9][0-9]*))+")
_RESTFUL = re.compile(r"(https?://.+)/([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})")
_TYPE_ID = re.compile(r"([A-Z][A-Za-z]+)/([^/?#]+)")
_ORDER = {"POST": 0, "PUT": 1}
_PLACEHOLDER = {"resourceType": "Parameters"}  # stands in for entry resources (no required parts)


@dataclass
class PlannedEntry:
    """One entry of a transaction or batch, ready for the store (or failed, in a batch)."""

    index: int
    method: str  # POST | PUT ('' when the entry failed before its method was known)
    resource_type: str
    resource_id: str
    resource: dict[str, Any]
    full_url: str | None = None
    criteria: list[tuple[str, str]] = field(default_factory=list)  # If-None-Exist, parsed
    if_match: str | None = None  # the version request.ifMatch requires (store: 412 if not)
    matched: bool = False  # a conditional create found the resource: nothing to write
    error: FhirError | None = None  # batch only: this entry fails on its own

    @property
    def reference(self) -> str:
        """'Type/id' of the resource this entry writes (or matched)."""
        return f"{self.resource_type}/{self.resource_id}"


@dataclass
class BundlePlan:
    """A checked transaction or batch: entries in Bundle order and the fullUrl -> Type/id map."""

    kind: Literal["transaction", "batch"]
    entries: list[PlannedEntry]
    references: dict[str, str] = field(default_factory=dict)
    sites: list[tuple[dict[str, Any], int]] = field(default_factory=list)  # (Reference, target)

    def conditional(self) -> list[PlannedEntry]:
        """Entries whose If-None-Exist the store must look up before writing."""
        return [e for e in self.entries if e.criteria and e.error is None and not e.matched]

    def writes(self) -> list[PlannedEntry]:
        """Entries to write, in FHIR processing order (POST before PUT)."""
        todo = [e for e in self.entries if e.error is None and not e.matched]
        return sorted(todo, key=lambda e: (_ORDER[e.method], e.index))


@dataclass(frozen=True)
class WriteResult:
    """What the store did with one entry: created, or updated / matched (created=False)."""

    created: bool = True
    version_id: str = "1"
    last_modified: datetime | str | None = None
    resource: dict[str, Any] | None = None  # stored form, for Prefer: return=representation


# -- planning -----------------------------------------------------------------------------------

def _request(entry: dict[str, Any], kind: str, at: str, issues: list[Issue]
             ) -> tuple[str, str, dict[str, Any]]:
    """(method, url, request); method '' when it is missing or not supported (see issues)."""
    request = entry.get("request")
    if not isinstance(request, dict):
        issues.append(Issue("required", f"entry.request (method and url) is required in a {kind}",
                            (f"{at}.request",)))
        return "", "", {}
    method, url = request.get("method"), request.get("url")
    missing = [n for n, v in (("method", method), ("url", url)) if not isinstance(v, str) or not v]
    issues.extend(Issue("required", f"entry.request.{n} is required", (f"{at}.request.{n}",))
                  for n in missing)
    if missing:
        return "", "", request
    if method not in _ORDER:
        issues.append(Issue("not-supported", f"{method} is not supported in a {kind} here; only "
                            "POST (create, conditional create) and PUT (update)",
                            (f"{at}.request.method",)))
        return "", url, request
    return method, url.lstrip("/"), request


def _collect(issues: list[Issue], check: Callable[..., Any], *args: Any) -> Any:
    """check(*args), its FhirError's issues going to issues (then None)."""
    try:
        return check(*args)
    except FhirError as exc:
        issues.extend(exc.issues)
        return None


def _plan_entry(entry: Any, i: int, kind: str, allowed: set[str], new_id: Callable[[], str],
                issues: list[Issue]) -> PlannedEntry:
    """Plan one entry; problems go to issues, FhirError when there is nothing left to check."""
    at = f"Bundle.entry[{i}]"
    if not isinstance(entry, dict):
        raise bad_request("a Bundle entry must be an object", at, code="structure")
    method, url, request = _request(entry, kind, at, issues)
    resource = entry.get("resource")
    if not isinstance(resource, dict):
        if method or not issues:
            issues.append(Issue("required", f"{method or 'the entry'} needs entry.resource",
                                (f"{at}.resource",)))
        raise FhirError(400, issues)
    try:
        check_type(resource.get("resourceType"), allowed, f"{at}.resource")
    except FhirError as exc:
        raise FhirError(400, issues + exc.issues) from None
    rtype = resource["resourceType"]
    p = PlannedEntry(i, method, rtype, "", resource)
    if method == "POST":
        if url != rtype:
            issues.append(Issue("invalid", f"POST url {url!r} must be the resource type "
                                f"{rtype!r}", (f"{at}.request.url",)))
        if (crit := request.get("ifNoneExist")) is not None:
            try:
                p.criteria = parse_if_none_exist(str(crit), rtype)
            except FhirError as exc:
                issues.extend(Issue(x.code, x.diagnostics, (f"{at}.request.ifNoneExist",))
                              for x in exc.issues)
        p.resource_id = resource["id"] = new_id()
    elif method == "PUT":
        m = _TYPE_ID.fullmatch(url)
        if "?" in url:
            issues.append(Issue("not-supported", "conditional update (PUT Type?search) is not "
                                "supported; PUT Type/id", (f"{at}.request.url",)))
        elif not m or m[1] != rtype:
            issues.append(Issue("invalid", f"PUT url {url!r} must be {rtype}/[id]",
                                (f"{at}.request.url",)))
        else:
            _collect(issues, check_id, m[2], f"{at}.request.url")
            if resource.setdefault("id", m[2]) != m[2]:
                issues.append(Issue("invalid", f"resource id {resource['id']!r} must equal the "
                                    f"URL id {m[2]!r}", (f"{at}.resource.id",)))
            p.resource_id = m[2]
        if (match := request.get("ifMatch")) is not None:
            p.if_match = _collect(issues, parse_etag, str(match), f"{at}.request.ifMatch")
    full_url = entry.get("fullUrl")
    if full_url is not None:
        rest = _RESTFUL.fullmatch(full_url) if isinstance(full_url, str) else None
        if not isinstance(full_url, str) or not (rest or _URN.fullmatch(full_url)):
            issues.append(Issue("value", f"fullUrl {full_url!r} must be an absolute URL "
                                "([base]/Type/id), urn:uuid: or urn:oid:", (f"{at}.fullUrl",)))
        elif rest and method == "PUT" and (rest[2], rest[3]) != (rtype, p.resource_id):
            issues.append(Issue("invalid", f"fullUrl {full_url!r} disagrees with PUT "
                                f"{p.reference}", (f"{at}.fullUrl",)))
        else:
            p.full_url = full_url
    return p


def plan_bundle(bundle: dict[str, Any], allowed_types: Iterable[str],
                id_factory: Callable[[], str] | None = None, base_url: str | None = None
                ) -> BundlePlan:
    """Check and plan a transaction (all or nothing: FhirError) or batch (per-entry errors).

    Every entry needs request.method (POST or PUT) and request.url; POST may carry
    request.ifNoneExist. POST entries get a new id from id_factory (uuid4). In a transaction
    every reference to an entry's fullUrl (urn:uuid:, urn:oid:, [base]/Type/id; relative ones
    against the entry's base, base_url or the bundle's single base) becomes 'Type/id'; a urn
    that is no entry's fullUrl is an error. Each resource then goes through validate_resource.
    """
    new_id = id_factory or (lambda: str(uuid.uuid4()))
    allowed = set(allowed_types)
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise bad_request("POST to the base URL takes a Bundle (transaction or batch)",
                          "Bundle", code="structure")
    kind = bundle.get("type")
    if kind not in ("transaction", "batch"):
        raise bad_request(f"Bundle.type {kind!r}: POST to the base URL takes a transaction or "
                          "batch Bundle", "Bundle.type", code="value")
    _check_envelope(bundle)
    errors: dict[int, list[FhirError]] = {}
    plan = BundlePlan(kind, [])
    seen: dict[tuple[str, str], int] = {}
    for i, entry in enumerate(bundle.get("entry") or ()):
        issues: list[Issue] = []
        try:
            p = _plan_entry(entry, i, kind, allowed, new_id, issues)
        except FhirError as exc:
            errors[i] = [exc]
            plan.entries.append(PlannedEntry(i, "", "", "", {}))
            continue
        plan.entries.append(p)
        keys = [("fullUrl", p.full_url, f"Bundle.entry[{i}].fullUrl")] if p.full_url else []
        if kind == "transaction":  # a transaction may touch a resource only once
            target = p.reference if p.method == "PUT" else (
                f"{p.resource_type}?{sorted(p.criteria)}" if p.criteria else None)
            keys += [("target", target, f"Bundle.entry[{i}].request")] if target else []
        for what, key, expr in keys:
            if (what, key) in seen:
                issues.append(Issue("duplicate", f"entry {i} repeats the {what} of entry "
                                    f"{seen[(what, key)]} ({key})", (expr,)))
            seen.setdefault((what, key), i)
        if issues:
            errors[i] = [FhirError(400, issues)]
    live = [p for p in plan.entries if p.index not in errors]
    if kind == "transaction":
        plan.references = {p.full_url: p.reference for p in live if p.full_url}
    _rewrite_references(plan, [p for p in plan.entries if p.resource_type], base_url, errors)
    for p in plan.entries:
        if p.resource_type:
            try:
                validate_resource(p.resource, allowed, f"Bundle.entry[{p.index}].resource")
            except FhirError as exc:
                errors.setdefault(p.index, []).append(exc)
    for i, errs in errors.items():
        status = 400 if any(e.status == 400 for e in errs) else errs[0].status
        plan.entries[i].error = FhirError(status, [x for e in errs for x in e.issues])
    failed = [plan.entries[i].error for i in sorted(errors)]
    if failed and kind == "transaction":
        statuses = {e.status for e in failed if e}
        raise FhirError(statuses.pop() if len(statuses) == 1 else 400,
                        [x for e in failed if e for x in e.issues])
    return plan


def _check_envelope(bundle: dict[str, Any]) -> None:
    """The Bundle itself (entry resources left out) against the R4B model: 400 if malformed."""
    envelope = dict(bundle)
    if isinstance(bundle.get("entry"), list):  # resources are validated one by one later
        envelope["entry"] = [_strip(e) for e in bundle["entry"]]
    try:
        validate_resource(envelope, {"Bundle"})
    except FhirError as exc:
        raise FhirError(400, exc.issues) from None


def _strip(entry: Any) -> Any:
    """An entry without its resource (or with a cheap stand-in if nothing else is left)."""
    if not isinstance(entry, dict) or not isinstance(entry.get("resource"), dict):
        return entry
    rest = {k: v for k, v in entry.items() if k != "resource"}
    return rest or {"resource": _PLACEHOLDER}


def _walk_refs(node: Any, expr: str, found: list[tuple[dict[str, Any], str]]) -> None:
    """Every dict holding a string 'reference' (any depth), with its FHIRPath."""
    if isinstance(node, dict):
        if isinstance(node.get("reference"), str):
            found.append((node, expr))
        for key, value in node.items():
            if isinstance(value, (dict, list)):
                _walk_refs(value, f"{expr}.{key}", found)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            if isinstance(value, (dict, list)):
                _walk_refs(value, f"{expr}[{i}]", found)


def _rewrite_references(plan: BundlePlan, planned: list[PlannedEntry], base_url: str | None,
                        errors: dict[int, list[FhirError]]) -> None:
    index_of = {p.full_url: p.index for p in planned if p.full_url}
    bases = {m[1] for u in index_of if (m := _RESTFUL.fullmatch(u))}
    common = bases.pop() if len(bases) == 1 else None
    for p in planned:
        own = _RESTFUL.fullmatch(p.full_url or "")
        bases_here = [b.rstrip("/") for b in (own[1] if own else None, base_url, common) if b]
        found: list[tuple[dict[str, Any], str]] = []
        _walk_refs(p.resource, f"Bundle.entry[{p.index}].resource", found)
        issues = []
        for node, expr in found:
            ref = node["reference"]
            key = ref if ref in index_of else next(
                (f"{b}/{ref}" for b in bases_here if f"{b}/{ref}" in index_of), None
            ) if _TYPE_ID.fullmatch(ref) else None
            if plan.kind == "batch" and (key or _URN.match(ref)):
                issues.append(Issue("not-supported", f"reference {ref!r}: batch entries cannot "
                                    "refer to each other or to urn: ids; send a transaction",
                                    (expr,)))
            elif key and key in plan.references:
                node["reference"] = plan.references[key]
                plan.sites.append((node, index_of[key]))
            elif key is None and ref.startswith("urn:"):
                issues.append(Issue("not-found", f"reference {ref!r} is not the fullUrl of any "
                                    "entry in this transaction", (expr,)))
            elif key is None and "?" in ref and not ref.startswith(("http:", "https:")):
                issues.append(Issue("not-supported", f"conditional reference {ref!r} is not "
                                    "supported; refer to Type/id or an entry's fullUrl", (expr,)))
        if issues:
            errors.setdefault(p.index, []).append(FhirError(400, issues))


def resolve_conditional(plan: BundlePlan, matches: Mapping[int, Sequence[str]]) -> None:
    """Apply the store's If-None-Exist results: {entry index: ids of the matching resources}.

    No match: the entry is created. One match: it becomes '200 OK' with the existing id and
    every reference to its fullUrl points there. Several: 412 (transaction) or entry error.
    """
    for index, ids in matches.items():
        p = plan.entries[index]
        if p.error is not None or p.matched or not p.criteria:
            raise ValueError(f"Bundle.entry[{index}] is not a pending conditional create")
        if len(ids) > 1:
            crit = "&".join(f"{k}={v}" for k, v in p.criteria)
            err = multiple_matches(crit, len(ids), f"Bundle.entry[{index}].request.ifNoneExist")
            if plan.kind == "transaction":
                raise err
            p.error = err
        elif len(ids) == 1:
            p.matched, p.resource_id = True, ids[0]
            p.resource["id"] = ids[0]
            if p.full_url:
                plan.references[p.full_url] = p.reference
            for node, target in plan.sites:
                if target == index:
                    node["reference"] = p.reference


# -- the response -------------------------------------------------------------------------------

def response_bundle(plan: BundlePlan, results: Mapping[int, WriteResult | FhirError],
                    prefer: str = "minimal", base_url: str | None = None,
                    now: datetime | None = None) -> dict[str, Any]:
    """The transaction-response or batch-response Bundle, one entry per request entry.

    results: a WriteResult for every written or matched entry (in a batch, a FhirError for an
    entry the store refused); prefer: the Prefer return= value.
    """
    entries = []
    for p in plan.entries:
        result = p.error or results.get(p.index)
        if result is None:
            raise ValueError(f"no result for Bundle.entry[{p.index}] ({p.reference})")
        if isinstance(result, FhirError):
            if plan.kind == "transaction":
                raise result
            entries.append({"response": {"status": status_line(result.status),
                                         "outcome": result.outcome()}})
            continue
        status = 201 if result.created and not p.matched else 200
        response: dict[str, Any] = {
            "status": status_line(status),
            "location": location(p.resource_type, p.resource_id, result.version_id),
            "etag": etag(result.version_id)}
        if result.last_modified is not None:
            response["lastModified"] = instant(result.last_modified)
        entry: dict[str, Any] = {}
        if base_url:
            entry["fullUrl"] = f"{base_url.rstrip('/')}/{p.reference}"
        if prefer == "representation":
            entry["resource"] = result.resource or p.resource
        elif prefer == "OperationOutcome":
            response["outcome"] = information_outcome(
                f"{p.reference}: {'created' if status == 201 else 'matched or updated'}")
        entry["response"] = response
        entries.append(entry)
    out = {"resourceType": "Bundle", "id": str(uuid.uuid4()),
           "meta": {"lastUpdated": instant(now or datetime.now(UTC))},
           "type": f"{plan.kind}-response"}
    if entries:  # FHIR JSON has no empty arrays
        out["entry"] = entries
    return out
