"""Collects the resources of one conversion: deterministic ids, merging, the batch Bundle."""

from __future__ import annotations

import uuid
from typing import Any

NAMESPACE = uuid.UUID("6f0d3b0e-8c1a-5c59-9d0e-2f6a8b7f1c42")
"""UUID v5 namespace of every id Plexus generates for converted resources."""


def make_id(*parts: str) -> str:
    """A stable UUID v5 from the given key parts."""
    return str(uuid.uuid5(NAMESPACE, "\x1f".join(parts)))


def prune(value: Any) -> Any:
    """The value without empty strings, lists, dicts and None (recursively); None if empty."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            v = prune(v)
            if v is not None:
                out[k] = v
        return out or None
    if isinstance(value, list):
        items = [p for p in (prune(v) for v in value) if p is not None]
        return items or None
    if value is None or value == "":
        return None
    return value


def merge(target: dict[str, Any], source: dict[str, Any]) -> None:
    """Deep-merge `source` into `target`: new keys added, lists unioned, objects merged, and a
    single-valued element (scalar or Reference) takes the later value."""
    for key, value in source.items():
        if key not in target:
            target[key] = value
        elif isinstance(target[key], dict) and isinstance(value, dict):
            if "reference" in value and "reference" in target[key]:
                target[key] = value
            else:
                merge(target[key], value)
        elif isinstance(target[key], list) and isinstance(value, list):
            for item in value:
                if item not in target[key]:
                    target[key].append(item)
        else:
            target[key] = value


class BundleBuilder:
    """Resources keyed by ``Type/id``; adding a resource twice merges the two."""

    def __init__(self) -> None:
        self.resources: dict[str, dict[str, Any]] = {}

    def put(self, rtype: str, key: str, body: dict[str, Any]) -> str:
        """Add (or merge into) the resource of type `rtype` whose id derives from `key`."""
        rid = make_id(rtype, key)
        ref = f"{rtype}/{rid}"
        clean = prune(body) or {}
        existing = self.resources.get(ref)
        if existing is None:
            self.resources[ref] = {"resourceType": rtype, "id": rid, **clean}
        else:
            merge(existing, clean)
        return ref

    def get(self, ref: str) -> dict[str, Any] | None:
        """The resource for a ``Type/id`` reference, if it was added."""
        return self.resources.get(ref)

    def update(self, ref: str, body: dict[str, Any]) -> None:
        """Merge more elements into an already added resource."""
        clean = prune(body)
        if clean and ref in self.resources:
            merge(self.resources[ref], clean)

    def to_bundle(self, bundle_id: str, header: dict[str, Any]) -> dict[str, Any]:
        """A FHIR batch Bundle with one PUT entry per resource."""
        entries = []
        for ref, resource in self.resources.items():
            entries.append({"fullUrl": f"urn:uuid:{resource['id']}", "resource": resource,
                            "request": {"method": "PUT", "url": ref}})
        # resources were pruned as they were put; only the header may hold empties
        return {"resourceType": "Bundle", "id": bundle_id, "type": "batch",
                **(prune(header) or {}), "entry": entries}
