"""Connector registry: type name -> "module:Class", imported lazily.

Third-party connectors register through the entry-point group ``plexus.connectors`` with
names ``source.<type>`` or ``destination.<type>``.
"""

from __future__ import annotations

import importlib
from functools import cache
from importlib.metadata import entry_points
from typing import Any

SOURCES: dict[str, str] = {
    "mllp": "protocols.mllp.source:MllpSource",
    "fhir": "protocols.fhir.source:FhirSource",
    "x12-http": "protocols.x12.http_source:X12HttpSource",
    "as2": "protocols.as2.source:As2Source",
}

DESTINATIONS: dict[str, str] = {
    "mllp": "protocols.mllp.destination:MllpDestination",
    "http": "protocols.http.destination:HttpDestination",
    "file": "protocols.file.destination:FileDestination",
    "fhir": "protocols.fhir.destination:FhirDestination",
    "as2": "protocols.as2.destination:As2Destination",
    "x12": "protocols.x12.destination:X12Destination",
}


def _load(target: str) -> Any:
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


@cache
def _plugins() -> dict[str, dict[str, str]]:
    found: dict[str, dict[str, str]] = {"source": {}, "destination": {}}
    for ep in entry_points(group="plexus.connectors"):
        kind, _, name = ep.name.partition(".")
        if kind in found and name:
            found[kind][name] = ep.value
    return found


def source_types() -> dict[str, str]:
    """Every known source type and where it lives."""
    return {**_plugins()["source"], **SOURCES}


def destination_types() -> dict[str, str]:
    """Every known destination type and where it lives."""
    return {**_plugins()["destination"], **DESTINATIONS}


@cache
def source_class(type_name: str) -> Any:
    """The source class for a type name."""
    return _load(source_types()[type_name])


@cache
def destination_class(type_name: str) -> Any:
    """The destination class for a type name."""
    return _load(destination_types()[type_name])
