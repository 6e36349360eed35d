"""validate_resource: the R4 examples, the malformed corpus files, JSON form and business rules."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class

from protocols.fhir.outcome import FhirError
from protocols.fhir.validation import (
    RULES,
    check_create,
    check_id,
    check_update,
    resource_model,
    validate_resource,
)

DATA = Path(__file__).resolve().parent.parent / "data" / "fhir"
SERVED = {
    "ChargeItem", "SupplyDelivery", "SupplyRequest", "Device", "Invoice", "Claim", "Patient",
    "Encounter", "Account", "Coverage", "Organization", "Location", "Practitioner", "Procedure",
    "Medication", "MedicationDispense", "PaymentNotice", "PaymentReconciliation", "ClaimResponse",
    "ExplanationOfBenefit", "DeviceRequest", "DeviceDefinition", "ChargeItemDefinition",
}
#: Official R4 examples our supply-chain invariants reject, with the exact expressions.
REJECTED_EXAMPLES = {
    # SupplyDelivery-pumpdelivery records a delivery with no suppliedItem at all; receiving
    # needs to know what arrived and how much (three-way match), so we require it.
    "r4_supplydelivery-pumpdelivery.json": ["SupplyDelivery.suppliedItem"],
    # SupplyDelivery-simpledelivery has suppliedItem.quantity {"value": 10} with no unit: 10
    # boxes or 10 tubes? Receiving against a purchase order needs the unit of measure.
    "r4_supplydelivery-simpledelivery.json": ["SupplyDelivery.suppliedItem.quantity.unit"],
}
EXAMPLES = sorted(p.name for p in DATA.glob("r4_*.json")
                  if json.loads(p.read_bytes())["resourceType"] in SERVED)


def _load(name: str) -> dict[str, Any]:
    return json.loads((DATA / name).read_bytes())


def _fails(resource: dict[str, Any], allowed: set[str] = SERVED, prefix: str = "") -> FhirError:
    with pytest.raises(FhirError) as info:
        validate_resource(resource, allowed, prefix)
    get_fhir_model_class("OperationOutcome").model_validate(info.value.outcome())
    return info.value


def _paths(err: FhirError) -> dict[str, str]:
    return {i.expression[0]: i.code for i in err.issues if i.expression}


def test_every_served_type_has_examples() -> None:
    types = {_load(name)["resourceType"] for name in EXAMPLES}
    assert types == SERVED
    assert len(EXAMPLES) == 46  # every R4 example of a served type in the corpus


@pytest.mark.parametrize("name", EXAMPLES)
def test_official_r4_examples(name: str) -> None:
    resource = _load(name)
    if name in REJECTED_EXAMPLES:
        err = _fails(resource)
        assert err.status == 422
        assert sorted(_paths(err)) == REJECTED_EXAMPLES[name]
        assert {i.code for i in err.issues} == {"required"}
    else:
        assert validate_resource(resource, SERVED) is resource


def test_duplicate_keys_and_bad_types_file() -> None:
    # json.loads keeps the last 'status'; parse_body refuses the duplicate (test_fhir_content)
    resource = json.loads((DATA / "authored" /
                           "malformed_duplicate_keys_and_bad_types_authored.json").read_bytes())
    err = _fails(resource)
    assert err.status == 400  # not valid FHIR JSON: wrong kinds and an unknown element
    paths = _paths(err)
    assert paths == {
        "ChargeItem.code": "structure",  # a string where a CodeableConcept belongs
        "ChargeItem.quantity.value": "structure",  # "three": decimals are JSON numbers
        "ChargeItem.priceOverride.currency": "code-invalid",  # "US Dollars" is not ISO 4217
        "ChargeItem.unknownElement": "structure",
    }
    text = {i.expression[0]: i.diagnostics for i in err.issues}
    assert "CodeableConcept" in text["ChargeItem.code"]
    assert "unknownElement" in text["ChargeItem.unknownElement"]


def test_unknown_resource_type_file() -> None:
    resource = _load("authored/malformed_unknown_resource_type_authored.json")
    err = _fails(resource)
    assert err.status == 404
    assert "PurchaseOrder" in err.issues[0].diagnostics
    err = _fails(resource, prefix="Bundle.entry[3].resource")
    assert err.status == 400  # inside a Bundle: the entry is bad, POST / itself exists
    assert err.issues[0].expression == ("Bundle.entry[3].resource.resourceType",)


def test_type_not_served_is_404_and_non_resources_are_unknown() -> None:
    patient = _load("r4_patient-example.json")
    assert _fails(patient, {"ChargeItem"}).status == 404
    for not_a_resource in ("Quantity", "Resource", "DomainResource", "Citation", "", "x"):
        assert resource_model(not_a_resource) is None
        assert _fails({"resourceType": not_a_resource}, {not_a_resource}).status in (400, 404)
    assert _fails({"id": "x"}).status == 400


BASE = {"resourceType": "ChargeItem", "status": "billable", "code": {"text": "syringe"},
        "subject": {"reference": "Patient/p1"}}


def _charge(**changes: Any) -> dict[str, Any]:
    out = copy.deepcopy(BASE)
    out.update(changes)
    return {k: v for k, v in out.items() if v is not ...}


def test_base_charge_item_is_valid() -> None:
    assert validate_resource(_charge(), SERVED) == BASE


@pytest.mark.parametrize(("changes", "path", "code"), [
    ({"quantity": {"value": "3"}}, "ChargeItem.quantity.value", "structure"),
    ({"factorOverride": "0.8"}, "ChargeItem.factorOverride", "structure"),
    ({"quantity": {"value": True}}, "ChargeItem.quantity.value", "structure"),
    ({"code": None}, "ChargeItem.code", "structure"),
    ({"code": {}}, "ChargeItem.code", "structure"),
    ({"identifier": []}, "ChargeItem.identifier", "structure"),
    ({"identifier": {"system": "s", "value": "v"}}, "ChargeItem.identifier", "structure"),
    ({"identifier": [None]}, "ChargeItem.identifier[0]", "structure"),
    ({"overrideReason": ""}, "ChargeItem.overrideReason", "structure"),
    ({"status": 1}, "ChargeItem.status", "structure"),
    ({"fhir_comments": ["hello"]}, "ChargeItem.fhir_comments", "structure"),
    ({"code": {"text": "x", "fhir_comments": "y"}}, "ChargeItem.code.fhir_comments", "structure"),
    ({"contained": [{"resourceType": "Foo"}]}, "ChargeItem.contained[0]", "structure"),
    ({"contained": [{"resourceType": 5}]}, "ChargeItem.contained[0]", "structure"),
    ({"contained": ["Patient"]}, "ChargeItem.contained[0]", "structure"),
    ({"contained": [{"resourceType": "Device", "active": "true"}]},
     "ChargeItem.contained[0].active", "structure"),
    ({"product": [{"concept": {"text": "x"}}]}, "ChargeItem.product", "structure"),
])
def test_fhir_json_form_is_400(changes: dict[str, Any], path: str, code: str) -> None:
    err = _fails(_charge(**changes))
    assert err.status == 400
    assert _paths(err).get(path) == code, err


def test_r5_names_get_a_hint() -> None:
    err = _fails(_charge(product=[{"concept": {"text": "x"}}]))
    assert "productReference" in err.issues[0].diagnostics


@pytest.mark.parametrize(("changes", "path", "code"), [
    ({"status": "bogus"}, "ChargeItem.status", "code-invalid"),
    ({"status": ...}, "ChargeItem.status", "required"),
    ({"code": ...}, "ChargeItem.code", "required"),
    ({"subject": {"reference": "Device/d1"}}, "ChargeItem.subject.reference", "value"),
    ({"subject": {"reference": "http://x.org/fhir/Organization/o1/_history/2"}},
     "ChargeItem.subject.reference", "value"),
    ({"occurrenceDateTime": "2024-13-01"}, "ChargeItem.occurrenceDateTime", "value"),
    ({"productReference": {"reference": "Device/1"}, "productCodeableConcept": {"text": "x"}},
     "ChargeItem.product[x]", "value"),
    ({"priceOverride": {"value": 1, "currency": "usd"}}, "ChargeItem.priceOverride.currency",
     "code-invalid"),
    ({"quantity": {"value": 1, "code": "mL"}}, "ChargeItem.quantity.system", "invariant"),
    ({"quantity": {"unit": "EA"}}, "ChargeItem.quantity.value", "required"),
    ({"productReference": {"reference": "Device/1"}, "quantity": {"value": 2.5}},
     "ChargeItem.quantity.unit", "required"),
    ({"identifier": [{"value": "C1"}]}, "ChargeItem.identifier[0].system", "required"),
    ({"identifier": [{"system": "urn:x"}]}, "ChargeItem.identifier[0].value", "required"),
])
def test_rules_are_422(changes: dict[str, Any], path: str, code: str) -> None:
    err = _fails(_charge(**changes))
    assert err.status == 422
    assert _paths(err).get(path) == code, err


@pytest.mark.parametrize("changes", [
    {"quantity": {"value": 3}},  # a whole count of the product: 'each'
    {"productReference": {"reference": "Device/1"}, "quantity": {"value": 3}},
    {"productReference": {"reference": "Device/1"}, "quantity": {"value": 2.5, "unit": "mL"}},
    {"quantity": {"value": 2.5, "unit": "mL", "system": "http://unitsofmeasure.org",
                  "code": "mL"}},
    {"subject": {"reference": "Group/g1"}},
    {"subject": {"reference": "urn:uuid:0c3151bd-1cbf-4d64-b04d-cd9187a4c6e0"}},
    {"subject": {"identifier": {"system": "urn:mrn", "value": "1"}}},
    {"supportingInformation": [{"reference": "Anything/x"}]},  # target type Resource
    {"subject": {"reference": "https://acme.example/Orders/123"}},  # not a FHIR type: no check
    {"contained": [{"resourceType": "Patient", "id": "p", "name": [
        {"given": ["Ann", None], "_given": [None, {"extension": [
            {"url": "http://x.org/e", "valueString": "initial"}]}]}]}]},  # primitive arrays
    {"priceOverride": {"value": 1.25, "currency": "EUR"}},
    {"_status": {"extension": [{"url": "http://x.org/e", "valueString": "y"}]}},
])
def test_charge_item_variants_that_pass(changes: dict[str, Any]) -> None:
    validate_resource(_charge(**changes), SERVED)


@pytest.mark.parametrize(("resource", "paths"), [
    ({"resourceType": "SupplyDelivery", "status": "completed",
      "suppliedItem": {"quantity": {"unit": "EA"}}},
     {"SupplyDelivery.suppliedItem.quantity.value"}),
    ({"resourceType": "SupplyDelivery", "status": "completed",
      "suppliedItem": {"itemReference": {"reference": "Device/d"}}},
     {"SupplyDelivery.suppliedItem.quantity"}),
    ({"resourceType": "SupplyDelivery", "suppliedItem": {"quantity": {"value": 1, "unit": "EA"}}},
     {"SupplyDelivery.status"}),
    ({"resourceType": "SupplyRequest", "status": "active", "quantity": {"value": 1}},
     {"SupplyRequest.item[x]"}),
    ({"resourceType": "SupplyRequest", "itemCodeableConcept": {"text": "x"}},
     {"SupplyRequest.quantity"}),
    ({"resourceType": "Device", "status": "active"}, {"Device.identifier"}),
    ({"resourceType": "Device", "identifier": [{"value": "100234"}]},
     {"Device.identifier[0].system"}),
    ({"resourceType": "Invoice"}, {"Invoice.status"}),
    ({"resourceType": "Patient", "identifier": [{"system": "urn:mrn"}]},
     {"Patient.identifier[0].value"}),
])
def test_business_rules(resource: dict[str, Any], paths: set[str]) -> None:
    err = _fails(resource)
    assert err.status == 422
    assert paths <= set(_paths(err)), err


def test_claim_rules() -> None:
    claim = _load("r4_claim-100150.json")
    for element in ("patient", "provider", "insurance"):
        broken = {k: v for k, v in claim.items() if k != element}
        err = _fails(broken)
        assert err.status == 422
        assert f"Claim.{element}" in _paths(err)
        assert len([i for i in err.issues if i.expression == (f"Claim.{element}",)]) == 1


def test_rule_table_covers_the_flows() -> None:
    assert set(RULES) == {"ChargeItem", "SupplyDelivery", "SupplyRequest", "Device", "Invoice",
                          "Claim"}


def test_device_with_udi_carrier_only() -> None:
    device = {"resourceType": "Device", "udiCarrier": [{"deviceIdentifier": "00844588003288",
                                                        "entryType": "barcode"}]}
    validate_resource(device, SERVED)
    device["udiCarrier"][0]["entryType"] = "self-reported"  # generated list stops at '+'
    validate_resource(device, SERVED)


def test_incomplete_generated_code_lists_are_completed() -> None:
    request = _load("r4_supplyrequest-simpleorder.json")
    request["status"] = "completed"  # R4 allows it; fhir.resources lists only 'draft|active|...'
    validate_resource(request, SERVED)
    request["status"] = "done"
    assert _paths(_fails(request)) == {"SupplyRequest.status": "code-invalid"}


def test_every_issue_of_a_bad_resource_is_reported_once() -> None:
    err = _fails(_charge(status="bogus", code=..., quantity={"value": "x"}))
    assert err.status == 400
    paths = [i.expression[0] for i in err.issues]
    assert len(paths) == len(set(paths))
    assert {"ChargeItem.status", "ChargeItem.code", "ChargeItem.quantity.value"} <= set(paths)


def test_prefix_roots_expressions() -> None:
    err = _fails(_charge(quantity={"unit": "EA"}), prefix="Bundle.entry[2].resource")
    assert _paths(err) == {"Bundle.entry[2].resource.quantity.value": "required"}


def test_create_and_update_checks() -> None:
    check_create(_charge(), "ChargeItem")
    with pytest.raises(FhirError) as info:
        check_create(_charge(), "Invoice")
    assert info.value.status == 400
    check_update(_charge(id="c1"), "ChargeItem", "c1")
    for resource, url_id in ((_charge(), "c1"), (_charge(id="c2"), "c1"),
                             (_charge(id="bad id"), "bad id")):
        with pytest.raises(FhirError) as info:
            check_update(resource, "ChargeItem", url_id)
        assert info.value.status == 400
    check_id("A-1.b", "X.id")
    for bad in ("", "a" * 65, "a/b", 5):
        with pytest.raises(FhirError):
            check_id(bad, "X.id")
