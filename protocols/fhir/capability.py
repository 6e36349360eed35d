"""The CapabilityStatement a Plexus FHIR listener serves at GET /metadata (R4, kind instance)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

__all__ = ["SYSTEM_INTERACTIONS", "TYPE_INTERACTIONS", "capability_statement"]

#: R4 type-level interaction codes (CapabilityStatement.rest.resource.interaction.code).
TYPE_INTERACTIONS = ("read", "vread", "update", "patch", "delete", "history-instance",
                     "history-type", "create", "search-type")
#: R4 system-level interaction codes (CapabilityStatement.rest.interaction.code).
SYSTEM_INTERACTIONS = ("transaction", "batch", "search-system", "history-system")
_FORMATS = {"json": ("application/fhir+json", "json"), "xml": ("application/fhir+xml", "xml")}
_SECURITY = "http://terminology.hl7.org/CodeSystem/restful-security-service"


def _codes(interactions: Iterable[str], known: tuple[str, ...]) -> list[dict[str, str]]:
    wanted = set(interactions)
    return [{"code": code} for code in known if code in wanted]


def capability_statement(
    base_url: str,
    resources: Iterable[str],
    interactions: Iterable[str] | Mapping[str, Iterable[str]] = (
        "create", "update", "read", "transaction", "batch"),
    formats: Iterable[str] = ("json",),
    auth_required: bool = False,
    software_version: str = "0.1.0",
    *,
    conditional_create: bool = True,
    versioning: str = "versioned",
    date: datetime | None = None,
) -> dict[str, Any]:
    """An R4 CapabilityStatement saying exactly what the listener does.

    interactions: codes for every resource, or {resourceType: codes}; type-level codes
    (create, update, read, vread...) go on each resource, system-level ones (transaction,
    batch) on rest.interaction (in the mapping form, lifted from whichever type lists them).
    formats: 'json' and/or 'xml'. auth_required adds rest.security with the OAuth service
    code: RFC 6750 bearer tokens, no SMART endpoints.
    """
    names = sorted(set(resources))
    per_type: Mapping[str, Iterable[str]] = (
        interactions if isinstance(interactions, Mapping)
        else dict.fromkeys(names, tuple(interactions)))
    system = set() if isinstance(interactions, Mapping) else set(interactions)
    resource_entries = []
    for name in names:
        codes = set(per_type.get(name, ()))
        system |= codes & set(SYSTEM_INTERACTIONS)
        entry: dict[str, Any] = {"type": name, "interaction": _codes(codes, TYPE_INTERACTIONS)}
        if not entry["interaction"]:
            continue
        entry["versioning"] = versioning
        if "update" in codes:
            entry["updateCreate"] = True  # PUT Type/id creates the resource when it is new
        if "create" in codes and conditional_create:
            entry["conditionalCreate"] = True
            entry["documentation"] = ("Conditional create (If-None-Exist) supports identifier="
                                      "[system]|[value], identifier=[value] and _id.")
        resource_entries.append(entry)
    rest: dict[str, Any] = {"mode": "server"}
    if auth_required:
        rest["security"] = {
            "service": [{"coding": [{"system": _SECURITY, "code": "OAuth",
                                     "display": "OAuth"}],
                         "text": "Bearer token"}],
            "description": "Send 'Authorization: Bearer <token>' (RFC 6750). Tokens are issued "
                           "out of band by the Plexus operator; there is no SMART on FHIR "
                           "authorization endpoint.",
        }
    if resource_entries:
        rest["resource"] = resource_entries
    system_codes = _codes(system, SYSTEM_INTERACTIONS)
    if system_codes:
        rest["interaction"] = system_codes
    fmt = [m for f in formats for m in _FORMATS.get(f, (f,))]
    when = (date or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="seconds")
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": when.replace("+00:00", "Z"),
        "publisher": "Plexus",
        "kind": "instance",
        "software": {"name": "Plexus", "version": software_version},
        "implementation": {"description": "Plexus FHIR listener", "url": base_url.rstrip("/")},
        "fhirVersion": "4.0.1",
        "format": fmt,
        "rest": [rest],
    }
