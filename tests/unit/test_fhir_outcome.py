"""FhirError, OperationOutcome, pydantic errors as FHIRPath, success headers."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import pytest
from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError as PydanticValidationError

from engine.errors import MessageError, ParseError, RejectedError, ValidationError
from protocols.fhir import outcome as oc
from protocols.fhir.outcome import FhirError, Issue


def _validate(resource: dict) -> None:
    get_fhir_model_class(resource["resourceType"]).model_validate(resource)


HELPERS: list[tuple[Callable[[], FhirError], int, str]] = [
    (lambda: oc.malformed("bad JSON", 3, 7), 400, "structure"),
    (lambda: oc.bad_request("id mismatch", "Patient.id"), 400, "invalid"),
    (lambda: oc.unauthorized(), 401, "login"),
    (lambda: oc.forbidden(), 403, "forbidden"),
    (lambda: oc.not_found("ChargeItem/x is not known"), 404, "not-found"),
    (lambda: oc.unknown_type("PurchaseOrder"), 404, "not-supported"),
    (lambda: oc.method_not_allowed("DELETE", ["GET", "POST"]), 405, "not-supported"),
    (lambda: oc.not_acceptable("xml"), 406, "not-supported"),
    (lambda: oc.version_conflict("version 3 is not current"), 409, "conflict"),
    (lambda: oc.precondition_failed("If-Match W/\"2\" but current is 3"), 412, "conflict"),
    (lambda: oc.multiple_matches("identifier=x", 2), 412, "multiple-matches"),
    (lambda: oc.too_large(11, 10), 413, "too-long"),
    (lambda: oc.unsupported_media("text/plain", ["application/fhir+json"]), 415, "not-supported"),
    (lambda: oc.unprocessable(Issue("business-rule", "no unit", ("ChargeItem.quantity",))), 422,
     "business-rule"),
]


@pytest.mark.parametrize(("make", "status", "code"), HELPERS)
def test_helpers_give_status_code_and_a_valid_outcome(make: Callable[[], FhirError], status: int,
                                                      code: str) -> None:
    err = make()
    assert err.status == status
    assert err.issues[0].code == code
    outcome = err.outcome()
    _validate(outcome)
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["severity"] == "error"
    assert outcome["issue"][0]["diagnostics"]
    assert isinstance(err, MessageError)  # the engine can store it like any message error


def test_headers_for_401_and_405() -> None:
    assert oc.unauthorized().headers == {"WWW-Authenticate": 'Bearer realm="plexus"'}
    assert oc.unauthorized("expired", error="invalid_token").headers == {
        "WWW-Authenticate": 'Bearer realm="plexus", error="invalid_token"'}
    assert oc.method_not_allowed("DELETE", ["GET", "POST"]).headers == {"Allow": "GET, POST"}


def test_issue_checks_its_codes() -> None:
    with pytest.raises(ValueError):
        Issue("bogus", "x")
    with pytest.raises(ValueError):
        Issue("invalid", "x", severity="serious")
    assert Issue("invalid", "x", "Patient.id").expression == ("Patient.id",)
    with pytest.raises(ValueError):
        FhirError(400, [])


def test_error_text_and_location() -> None:
    err = FhirError(422, [Issue("required", "code is required", ("ChargeItem.code",)),
                          Issue("value", "bad", ("ChargeItem.quantity.value",))])
    assert err.location == "ChargeItem.code"
    assert err.message == "code is required"
    assert str(err) == "422: ChargeItem.code: code is required; ChargeItem.quantity.value: bad"
    assert err.reason == "validation"
    assert oc.malformed("x").reason == "parse"


def test_operation_outcome_shapes() -> None:
    issues = [Issue("structure", "bad JSON", line=2, column=5),
              Issue("value", "bad", ("A.b", "A.c"), severity="warning")]
    out = oc.operation_outcome(issues, outcome_id="oo1")
    _validate(out)
    assert out["id"] == "oo1"
    assert out["issue"][0]["location"] == ["Line[2] Col[5]"]
    assert out["issue"][1] == {"severity": "warning", "code": "value", "diagnostics": "bad",
                               "expression": ["A.b", "A.c"]}
    empty = oc.operation_outcome([])
    _validate(empty)
    assert empty["issue"][0]["severity"] == "information"
    _validate(oc.information_outcome("created"))


def test_status_line() -> None:
    assert oc.status_line(201) == "201 Created"
    assert oc.status_line(200) == "200 OK"
    assert oc.status_line(412) == "412 Precondition Failed"
    assert oc.status_line(299) == "299"


def _pydantic_error(resource: dict) -> PydanticValidationError:
    with pytest.raises(PydanticValidationError) as info:
        get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    return info.value


def test_outcome_from_pydantic_paths() -> None:
    exc = _pydantic_error({
        "resourceType": "ChargeItem", "status": "billable", "subject": {"reference": "P/1"},
        "quantity": {"value": "three"}, "contained": [{"resourceType": "Patient", "foo": 1}],
        "performer": [{"actor": {"reference": "Practitioner/1"}}, {"function": {"text": "x"}}]})
    issues = oc.outcome_from_pydantic(exc, "ChargeItem")
    by_path = {i.expression[0]: i for i in issues}
    assert by_path["ChargeItem.code"].code == "required"
    assert by_path["ChargeItem.code"].diagnostics == "code is required"
    assert by_path["ChargeItem.quantity.value"].code == "value"
    assert by_path["ChargeItem.contained[0].foo"].code == "structure"
    assert by_path["ChargeItem.contained[0].foo"].diagnostics == "unknown element 'foo'"
    assert by_path["ChargeItem.performer[1].actor"].code == "required"
    prefixed = oc.outcome_from_pydantic(exc, "ChargeItem", "Bundle.entry[2].resource")
    assert {i.expression[0] for i in prefixed} >= {
        "Bundle.entry[2].resource.code", "Bundle.entry[2].resource.quantity.value"}
    _validate(oc.operation_outcome(issues))


def test_outcome_from_pydantic_choice_type() -> None:
    exc = _pydantic_error({
        "resourceType": "ChargeItem", "status": "billable", "code": {"text": "x"},
        "subject": {"reference": "Patient/1"}, "productReference": {"reference": "Device/1"},
        "productCodeableConcept": {"text": "syringe"}})
    (issue,) = oc.outcome_from_pydantic(exc, "ChargeItem")
    assert issue.expression == ("ChargeItem.product[x]",)
    assert "productCodeableConcept" in issue.diagnostics
    assert "productReference" in issue.diagnostics


def test_fhirpath() -> None:
    assert oc.fhirpath("Claim", ("item", 0, "detail", 2, "net")) == "Claim.item[0].detail[2].net"
    assert oc.fhirpath("Claim", ()) == "Claim"


def test_as_fhir_error() -> None:
    err = oc.as_fhir_error(ParseError("invalid JSON", "4:12"))
    assert (err.status, err.issues[0].line, err.issues[0].column) == (400, 4, 12)
    err = oc.as_fhir_error(ParseError("duplicate key", "ChargeItem.status"))
    assert (err.status, err.issues[0].expression) == (400, ("ChargeItem.status",))
    err = oc.as_fhir_error(ValidationError("no unit", "ChargeItem.quantity"))
    assert (err.status, err.issues[0].code) == (422, "invalid")
    err = oc.as_fhir_error(RejectedError("closed period"))
    assert (err.status, err.issues[0].code) == (422, "business-rule")
    err = oc.as_fhir_error(RuntimeError("boom"))
    assert (err.status, err.issues[0].code) == (500, "exception")
    assert "boom" not in err.issues[0].diagnostics  # no internals leak to clients
    same = oc.not_found("x")
    assert oc.as_fhir_error(same) is same


def test_success_headers() -> None:
    when = datetime(2024, 1, 15, 8, 30, 0, 120000, tzinfo=UTC)
    assert oc.etag("3") == 'W/"3"'
    assert oc.location("Device", "d1", "2") == "Device/d1/_history/2"
    assert oc.instant(when) == "2024-01-15T08:30:00.120Z"
    assert oc.instant(datetime(2024, 1, 15, 8, 30)) == "2024-01-15T08:30:00.000Z"
    assert oc.instant("2024-01-15T08:30:00Z") == "2024-01-15T08:30:00Z"
    plus2 = when.astimezone(timezone(timedelta(hours=2)))
    assert oc.response_headers("https://h/fhir/", "Device", "d1", "1", plus2) == {
        "Location": "https://h/fhir/Device/d1/_history/1", "ETag": 'W/"1"',
        "Last-Modified": "Mon, 15 Jan 2024 08:30:00 GMT"}
    assert "Last-Modified" not in oc.response_headers("https://h/fhir", "Device", "d1", "1")
