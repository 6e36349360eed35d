"""The CapabilityStatement for GET /metadata."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fhir.resources.R4B import get_fhir_model_class

from protocols.fhir.capability import capability_statement
from protocols.fhir.validation import validate_resource

SERVED = ["SupplyRequest", "ChargeItem", "Device", "SupplyDelivery", "Invoice"]
WHEN = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


def _valid(statement: dict[str, Any]) -> dict[str, Any]:
    get_fhir_model_class("CapabilityStatement").model_validate(statement)
    validate_resource(statement, {"CapabilityStatement"})  # also the strict JSON form
    return statement


def test_default_statement() -> None:
    cs = _valid(capability_statement("https://plexus.example/fhir/", SERVED,
                                     software_version="1.2.3", date=WHEN))
    assert cs["status"] == "active"
    assert cs["kind"] == "instance"
    assert cs["fhirVersion"] == "4.0.1"
    assert cs["date"] == "2024-03-01T12:00:00Z"
    assert cs["format"] == ["application/fhir+json", "json"]
    assert cs["software"] == {"name": "Plexus", "version": "1.2.3"}
    assert cs["implementation"]["url"] == "https://plexus.example/fhir"
    (rest,) = cs["rest"]
    assert rest["mode"] == "server"
    assert "security" not in rest  # no tokens required: say nothing about them
    assert rest["interaction"] == [{"code": "transaction"}, {"code": "batch"}]
    assert [r["type"] for r in rest["resource"]] == sorted(SERVED)
    for resource in rest["resource"]:
        assert resource["interaction"] == [{"code": "read"}, {"code": "update"},
                                           {"code": "create"}]
        assert resource["conditionalCreate"] is True
        assert resource["updateCreate"] is True
        assert resource["versioning"] == "versioned"
        assert "identifier" in resource["documentation"]


def test_bearer_tokens_are_declared_truthfully() -> None:
    cs = _valid(capability_statement("https://h/fhir", SERVED, auth_required=True))
    security = cs["rest"][0]["security"]
    assert security["service"][0]["coding"][0] == {
        "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
        "code": "OAuth", "display": "OAuth"}
    assert "SMART" not in security["service"][0]["coding"][0]["code"]
    assert "Bearer" in security["description"]


def test_create_only_without_bundles() -> None:
    cs = _valid(capability_statement("https://h/fhir", ["ChargeItem"], ["create"],
                                     conditional_create=False, versioning="no-version"))
    (resource,) = cs["rest"][0]["resource"]
    assert resource == {"type": "ChargeItem", "interaction": [{"code": "create"}],
                        "versioning": "no-version"}
    assert "interaction" not in cs["rest"][0]


def test_per_type_interactions() -> None:
    cs = _valid(capability_statement(
        "https://h/fhir", ["Device", "ChargeItem", "Invoice"],
        {"Device": ["create", "read", "vread"], "ChargeItem": ["create", "transaction"],
         "Invoice": []}))
    rest = cs["rest"][0]
    assert [r["type"] for r in rest["resource"]] == ["ChargeItem", "Device"]  # Invoice: nothing
    device = rest["resource"][1]
    assert device["interaction"] == [{"code": "read"}, {"code": "vread"}, {"code": "create"}]
    assert "updateCreate" not in device
    assert rest["interaction"] == [{"code": "transaction"}]


def test_formats_and_no_resources() -> None:
    cs = _valid(capability_statement("https://h/fhir", [], ["batch"], formats=["json", "xml"]))
    assert cs["format"] == ["application/fhir+json", "json", "application/fhir+xml", "xml"]
    assert "resource" not in cs["rest"][0]
    assert cs["rest"][0]["interaction"] == [{"code": "batch"}]
