"""plan_bundle / resolve_conditional / response_bundle on the corpus and on edge cases."""

from __future__ import annotations

import copy
import itertools
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class

from protocols.fhir.bundle import (
    BundlePlan,
    WriteResult,
    criteria_keys,
    identifier_keys,
    plan_bundle,
    resolve_conditional,
    response_bundle,
)
from protocols.fhir.outcome import FhirError, version_conflict

DATA = Path(__file__).resolve().parent.parent / "data" / "fhir"
SERVED = {"ChargeItem", "SupplyDelivery", "SupplyRequest", "Device", "Invoice", "Claim",
          "Patient", "Encounter", "Organization", "Location", "Practitioner"}
WHEN = datetime(2024, 1, 15, 8, 0, tzinfo=UTC)
DEVICE_URN = "urn:uuid:0c3151bd-1cbf-4d64-b04d-cd9187a4c6e0"
SUPPLY = "authored/transaction_bundle_supply_chain_authored.json"


def _load(name: str) -> dict[str, Any]:
    return json.loads((DATA / name).read_bytes())


def _ids() -> Any:
    counter = itertools.count(1)
    return lambda: f"new-{next(counter)}"


def _fails(bundle: dict[str, Any], allowed: set[str] = SERVED, **kw: Any) -> FhirError:
    with pytest.raises(FhirError) as info:
        plan_bundle(bundle, allowed, id_factory=_ids(), **kw)
    get_fhir_model_class("OperationOutcome").model_validate(info.value.outcome())
    return info.value


def _paths(err: FhirError | None) -> set[str]:
    assert err is not None
    return {i.expression[0] for i in err.issues if i.expression}


def _respond(plan: BundlePlan, results: dict[int, Any] | None = None, **kw: Any) -> dict:
    if results is None:
        results = {e.index: WriteResult(created=not e.matched, last_modified=WHEN)
                   for e in plan.entries if e.error is None}
    bundle = response_bundle(plan, results, now=WHEN, **kw)
    get_fhir_model_class("Bundle").model_validate(bundle)
    return bundle


def test_supply_chain_transaction_plans_and_rewrites_every_urn() -> None:
    bundle = _load(SUPPLY)
    plan = plan_bundle(bundle, SERVED, id_factory=_ids())
    assert plan.kind == "transaction"
    assert [e.reference for e in plan.entries] == [
        "Device/new-1", "SupplyRequest/new-2", "ChargeItem/new-3"]
    assert [e.method for e in plan.entries] == ["POST"] * 3
    assert plan.references[DEVICE_URN] == "Device/new-1"
    device, request, charge = (e.resource for e in plan.entries)
    assert request["itemReference"] == {"reference": "Device/new-1"}
    assert charge["productReference"] == {"reference": "Device/new-1"}
    assert charge["subject"] == {"reference": "Patient/example"}  # not in the bundle: untouched
    assert device["id"] == "new-1" and charge["id"] == "new-3"
    assert "urn:uuid" not in json.dumps([e["resource"] for e in bundle["entry"]])
    assert plan.entries[0].resource is bundle["entry"][0]["resource"]  # changed in place
    (cond,) = plan.conditional()
    assert (cond.index, cond.criteria) == (0, [("identifier",
                                                "urn:oid:2.16.840.1.113883.19.5.1|100234")])
    assert criteria_keys(cond.resource_type, cond.criteria) == [
        "Device|urn:oid:2.16.840.1.113883.19.5.1|100234"]
    assert criteria_keys("Device", cond.criteria)[0] in identifier_keys(device)
    assert [e.index for e in plan.writes()] == [0, 1, 2]


def test_supply_chain_no_match_creates_everything() -> None:
    plan = plan_bundle(_load(SUPPLY), SERVED, id_factory=_ids())
    resolve_conditional(plan, {0: []})
    reply = _respond(plan)
    assert reply["type"] == "transaction-response"
    assert reply["meta"]["lastUpdated"] == "2024-01-15T08:00:00.000Z"
    assert [e["response"] for e in reply["entry"]] == [
        {"status": "201 Created", "location": f"{t}/new-{n}/_history/1", "etag": 'W/"1"',
         "lastModified": "2024-01-15T08:00:00.000Z"}
        for n, t in enumerate(("Device", "SupplyRequest", "ChargeItem"), 1)]


def test_supply_chain_conditional_match_points_references_at_the_existing_device() -> None:
    plan = plan_bundle(_load(SUPPLY), SERVED, id_factory=_ids())
    resolve_conditional(plan, {0: ["dev-7"]})
    device, request, charge = plan.entries
    assert device.matched and device.reference == "Device/dev-7"
    assert request.resource["itemReference"] == {"reference": "Device/dev-7"}
    assert charge.resource["productReference"] == {"reference": "Device/dev-7"}
    assert plan.references[DEVICE_URN] == "Device/dev-7"
    assert [e.index for e in plan.writes()] == [1, 2]
    assert plan.conditional() == []
    with pytest.raises(ValueError):  # already resolved
        resolve_conditional(plan, {0: ["dev-8"]})
    results = {0: WriteResult(created=False, version_id="4", last_modified=WHEN),
               1: WriteResult(last_modified=WHEN), 2: WriteResult(last_modified=WHEN)}
    reply = _respond(plan, results, base_url="https://plexus.example/fhir")
    first = reply["entry"][0]
    assert first["response"]["status"] == "200 OK"
    assert first["response"]["location"] == "Device/dev-7/_history/4"
    assert first["response"]["etag"] == 'W/"4"'
    assert first["fullUrl"] == "https://plexus.example/fhir/Device/dev-7"
    assert [e["response"]["status"] for e in reply["entry"][1:]] == ["201 Created"] * 2


def test_conditional_multiple_matches() -> None:
    plan = plan_bundle(_load(SUPPLY), SERVED, id_factory=_ids())
    with pytest.raises(FhirError) as info:
        resolve_conditional(plan, {0: ["a", "b"]})
    issue = info.value.issues[0]
    assert (info.value.status, issue.code) == (412, "multiple-matches")
    assert issue.expression == ("Bundle.entry[0].request.ifNoneExist",)
    batch = _load(SUPPLY)
    batch["type"] = "batch"
    for entry in batch["entry"][1:]:  # batch entries may not refer to each other
        entry["resource"].pop("itemReference", None)
        entry["resource"].pop("productReference", None)
    batch["entry"][1]["resource"]["itemCodeableConcept"] = {"text": "syringe"}
    plan = plan_bundle(batch, SERVED, id_factory=_ids())
    resolve_conditional(plan, {0: ["a", "b"]})
    assert [e.index for e in plan.writes()] == [1, 2]
    reply = _respond(plan)
    assert reply["type"] == "batch-response"
    assert reply["entry"][0]["response"]["status"] == "412 Precondition Failed"
    assert reply["entry"][0]["response"]["outcome"]["issue"][0]["code"] == "multiple-matches"


def test_malformed_transaction_missing_request() -> None:
    bundle = _load("authored/malformed_transaction_bundle_missing_request_authored.json")
    err = _fails(bundle)
    assert err.status == 400
    codes = {i.expression[0]: i.code for i in err.issues}
    assert codes == {
        "Bundle.entry[0].request": "required",  # no request at all
        "Bundle.entry[0].resource.deliverTo": "not-found",  # urn:uuid:...dead: no such entry
        "Bundle.entry[1].request.method": "not-supported",  # PATCH
        "Bundle.entry[1].fullUrl": "duplicate",  # the same fullUrl as entry 0
        "Bundle.entry[1].resource.suppliedItem": "required",  # our SupplyDelivery rule
    }


def test_official_transaction_fails_with_one_reason_per_unsupported_entry() -> None:
    err = _fails(_load("r4_bundle-bundle-transaction.json"))
    assert err.status == 400
    reasons = {i.expression[0]: i.diagnostics for i in err.issues}
    assert set(reasons) == {
        "Bundle.entry[3].request.url", "Bundle.entry[5].request.method",
        "Bundle.entry[6].request.method", "Bundle.entry[7].resource.resourceType",
        "Bundle.entry[8].request.method", "Bundle.entry[9].request.method"}
    assert "conditional update" in reasons["Bundle.entry[3].request.url"]
    assert "DELETE" in reasons["Bundle.entry[5].request.method"]
    assert "Parameters" in reasons["Bundle.entry[7].resource.resourceType"]
    assert "GET" in reasons["Bundle.entry[9].request.method"]


def test_official_transaction_as_a_batch_gives_per_entry_outcomes() -> None:
    bundle = _load("r4_bundle-bundle-transaction.json")
    bundle["type"] = "batch"
    plan = plan_bundle(bundle, SERVED, id_factory=_ids())
    ok = [e.index for e in plan.entries if e.error is None]
    assert ok == [0, 1, 2, 4]
    assert plan.entries[1].criteria == [("identifier", "http:/example.org/fhir/ids|234234")]
    assert plan.entries[2].reference == "Patient/123"
    assert plan.entries[4].if_match == "2"
    assert [e.index for e in plan.writes()] == [0, 1, 2, 4]  # POSTs, then PUTs
    results: dict[int, Any] = {0: WriteResult(last_modified=WHEN),
                               1: WriteResult(created=False, last_modified=WHEN),
                               2: WriteResult(created=False, version_id="3", last_modified=WHEN),
                               4: version_conflict("version 2 is not current")}
    resolve_conditional(plan, {1: ["p9"]})
    reply = _respond(plan, results, prefer="OperationOutcome")
    statuses = [e["response"]["status"] for e in reply["entry"]]
    assert statuses == ["201 Created", "200 OK", "200 OK", "400 Bad Request", "409 Conflict"] + [
        "400 Bad Request"] * 5
    assert reply["entry"][1]["response"]["location"] == "Patient/p9/_history/1"
    assert reply["entry"][0]["response"]["outcome"]["issue"][0]["severity"] == "information"
    assert reply["entry"][7]["response"]["outcome"]["issue"][0]["expression"] == [
        "Bundle.entry[7].resource.resourceType"]


def test_xds_transaction_resolves_relative_references_against_fullurls() -> None:
    bundle = _load("r4_bundle-xds.json")
    allowed = SERVED | {"DocumentReference", "Binary"}
    plan = plan_bundle(bundle, allowed, id_factory=_ids())
    doc, patient, author1, author2, _binary = plan.entries
    assert doc.resource["subject"] == {"reference": patient.reference}
    assert doc.resource["author"] == [{"reference": author1.reference},
                                      {"reference": author2.reference}]
    assert patient.reference == "Patient/new-2"  # a create: the id a2 in the body is replaced
    assert patient.criteria == [("identifier", "http://acme.org/xds/patients!89765a87b")]
    _respond(plan)
    err = _fails(_load("r4_bundle-xds.json"))
    assert _paths(err) == {"Bundle.entry[0].resource.resourceType",
                           "Bundle.entry[4].resource.resourceType"}


def test_v2_to_fhir_bundle_fails_with_clear_reasons() -> None:
    err = _fails(_load("bundle_batch_adt_a01_from_v2_hl7v2tofhir_ig.json"))
    assert err.status == 400
    reasons = {i.expression[0]: i for i in err.issues}
    assert "absolute URL" in reasons["Bundle.entry[0].fullUrl"].diagnostics  # 'Location/1.2.3.4.5'
    assert reasons["Bundle.entry[11].resource.resourceType"].code == "not-supported"  # header
    assert reasons["Bundle.entry[1].resource.name[0].use"].code == "code-invalid"  # use '9'
    assert reasons["Bundle.entry[12].resource.birthDate"].code == "value"


@pytest.mark.parametrize(("name", "count"), [("r4_bundle-bundle-request-medsallergies.json", 5),
                                           ("r4_bundle-bundle-request-simplesummary.json", 4)])
def test_batch_of_reads_is_refused_entry_by_entry(name: str, count: int) -> None:
    plan = plan_bundle(_load(name), SERVED)
    assert plan.kind == "batch" and plan.writes() == [] and len(plan.entries) == count
    for i, entry in enumerate(_respond(plan, {})["entry"]):
        issue = entry["response"]["outcome"]["issue"][0]
        assert (entry["response"]["status"], issue["code"]) == ("400 Bad Request", "not-supported")
        assert issue["expression"] == [f"Bundle.entry[{i}].request.method"]


@pytest.mark.parametrize(("bundle", "path"), [
    ({"resourceType": "Patient"}, "Bundle"),
    ({"resourceType": "Bundle", "type": "collection"}, "Bundle.type"),
    ({"resourceType": "Bundle"}, "Bundle.type"),
    ({"resourceType": "Bundle", "type": "transaction", "entry": {}}, "Bundle.entry"),
    ({"resourceType": "Bundle", "type": "transaction", "entry": []}, "Bundle.entry"),  # empty
    ({"resourceType": "Bundle", "type": "transaction", "entry": ["x"]}, "Bundle.entry[0]"),
    ({"resourceType": "Bundle", "type": "transaction", "id": "a b"}, "Bundle.id"),
])
def test_not_a_transaction(bundle: dict[str, Any], path: str) -> None:
    err = _fails(bundle)
    assert err.status == 400
    assert path in _paths(err)


def _tx(*entries: dict[str, Any], kind: str = "transaction") -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": kind, "entry": list(entries)}


def _device(n: int, method: str = "POST", url: str = "Device", **extra: Any) -> dict[str, Any]:
    resource = {"resourceType": "Device", "identifier": [{"system": "urn:x", "value": str(n)}]}
    return {"fullUrl": f"urn:uuid:00000000-0000-4000-8000-{n:012d}", "resource": resource,
            "request": {"method": method, "url": url, **extra}}


def _charge(ref: str, n: int = 99) -> dict[str, Any]:
    return {"fullUrl": f"urn:uuid:00000000-0000-4000-8000-{n:012d}",
            "resource": {"resourceType": "ChargeItem", "status": "billable",
                         "code": {"text": "x"}, "subject": {"reference": "Patient/p"},
                         "productReference": {"reference": ref}},
            "request": {"method": "POST", "url": "ChargeItem"}}


def test_references_at_any_depth_and_in_contained_resources() -> None:
    charge = _charge("Device/other")
    urn = "urn:uuid:00000000-0000-4000-8000-000000000001"
    charge["resource"]["performer"] = [{"actor": {"reference": urn}}]
    charge["resource"]["contained"] = [{"resourceType": "Device", "id": "c1",
                                        "identifier": [{"system": "s", "value": "v"}],
                                        "parent": {"reference": urn}}]
    charge["resource"]["extension"] = [{"url": "http://x.org/e", "valueReference":
                                        {"reference": urn}}]
    plan = plan_bundle(_tx(_device(1), charge), SERVED | {"Device"}, id_factory=_ids())
    res = plan.entries[1].resource
    assert res["performer"][0]["actor"] == {"reference": "Device/new-1"}
    assert res["contained"][0]["parent"] == {"reference": "Device/new-1"}
    assert res["extension"][0]["valueReference"] == {"reference": "Device/new-1"}
    assert res["productReference"] == {"reference": "Device/other"}


def test_absolute_fullurls_and_relative_references() -> None:
    device = _device(1)
    device["fullUrl"] = "https://erp.example/fhir/Device/abc"
    for ref in ("Device/abc", "https://erp.example/fhir/Device/abc"):
        plan = plan_bundle(_tx(copy.deepcopy(device), _charge(ref)), SERVED, id_factory=_ids())
        assert plan.entries[1].resource["productReference"] == {"reference": "Device/new-1"}
    device["fullUrl"] = "https://a.example/fhir/Device/abc"
    other = _device(2)
    other["fullUrl"] = "https://b.example/fhir/Device/zzz"  # two bases: no common base
    plan = plan_bundle(_tx(device, other, _charge("Device/abc")), SERVED, id_factory=_ids())
    assert plan.entries[2].resource["productReference"] == {"reference": "Device/abc"}
    plan = plan_bundle(_tx(copy.deepcopy(device), copy.deepcopy(other), _charge("Device/abc")),
                       SERVED, id_factory=_ids(), base_url="https://a.example/fhir/")
    assert plan.entries[2].resource["productReference"] == {"reference": "Device/new-1"}


def test_put_entries() -> None:
    put = _device(1, "PUT", "Device/d1")
    plan = plan_bundle(_tx(put, _charge(put["fullUrl"])), SERVED, id_factory=_ids())
    assert plan.entries[0].resource["id"] == "d1"  # the URL id, when the body has none
    assert plan.entries[1].resource["productReference"] == {"reference": "Device/d1"}
    assert [e.method for e in plan.writes()] == ["POST", "PUT"]
    reply = _respond(plan, {0: WriteResult(created=False, version_id="5"), 1: WriteResult()})
    assert reply["entry"][0]["response"] == {"status": "200 OK", "etag": 'W/"5"',
                                             "location": "Device/d1/_history/5"}


@pytest.mark.parametrize(("entry", "path"), [
    (_device(1, "PUT", "Device/d1") | {"resource": {"resourceType": "Device", "id": "d2",
                                                    "identifier": [{"system": "s", "value": "1"}]}},
     "Bundle.entry[0].resource.id"),
    (_device(1, "PUT", "Device?identifier=1"), "Bundle.entry[0].request.url"),
    (_device(1, "PUT", "Invoice/d1"), "Bundle.entry[0].request.url"),
    (_device(1, "PUT", "Device/bad id"), "Bundle.entry[0].request.url"),
    (_device(1, "PUT", "Device/d1", ifMatch="W/\"x y\""), "Bundle.entry[0].request.ifMatch"),
    (_device(1, "POST", "Invoice"), "Bundle.entry[0].request.url"),
    (_device(1, ifNoneExist="name=x"), "Bundle.entry[0].request.ifNoneExist"),
    (_device(1) | {"fullUrl": "Device/1"}, "Bundle.entry[0].fullUrl"),
    (_device(1) | {"fullUrl": "urn:uuid:not-a-uuid"}, "Bundle.entry[0].fullUrl"),
    ({"request": {"method": "POST", "url": "Device"}}, "Bundle.entry[0].resource"),
    ({"resource": {"resourceType": "Device"}, "request": {"url": "Device"}},
     "Bundle.entry[0].request.method"),
    ({"resource": {"resourceType": "Device", "identifier": [{"system": "s", "value": "1"}]}},
     "Bundle.entry[0].request"),
    ({"resource": "Device", "request": {"method": "POST", "url": "Device"}},
     "Bundle.entry[0].resource"),
    (_device(1) | {"request": {"method": "post", "url": "Device"}},
     "Bundle.entry[0].request.method"),
])
def test_bad_entries(entry: dict[str, Any], path: str) -> None:
    err = _fails(_tx(entry))
    assert err.status == 400
    assert path in _paths(err), err


def test_transaction_touches_a_resource_once() -> None:
    err = _fails(_tx(_device(1, "PUT", "Device/d1"), _device(2, "PUT", "Device/d1")))
    assert _paths(err) == {"Bundle.entry[1].request"}
    err = _fails(_tx(_device(1, ifNoneExist="identifier=urn:x|1"),
                     _device(2, ifNoneExist="identifier=urn:x|1")))
    assert _paths(err) == {"Bundle.entry[1].request"}
    assert err.issues[0].code == "duplicate"


def test_one_bad_entry_fails_the_transaction_with_its_path() -> None:
    charge = _charge("Device/d")
    charge["resource"]["quantity"] = {"unit": "EA"}
    err = _fails(_tx(_device(1), charge))
    assert (err.status, _paths(err)) == (422, {"Bundle.entry[1].resource.quantity.value"})
    err = _fails(_tx(_device(1), _charge("urn:uuid:00000000-0000-4000-8000-000000000002")))
    assert (err.status, err.issues[0].code) == (400, "not-found")  # no entry has that fullUrl
    assert _paths(err) == {"Bundle.entry[1].resource.productReference"}


def test_batch_entries_fail_alone() -> None:
    bad = _charge("Device/d", n=2)
    bad["resource"]["status"] = "bogus"
    linked = _charge("urn:uuid:00000000-0000-4000-8000-000000000001", n=3)
    plan = plan_bundle(_tx(_device(1), bad, linked, kind="batch"), SERVED, id_factory=_ids())
    assert plan.entries[0].error is None
    assert _paths(plan.entries[1].error) == {"Bundle.entry[1].resource.status"}
    assert _paths(plan.entries[2].error) == {"Bundle.entry[2].resource.productReference"}
    assert [e["response"]["status"] for e in _respond(plan)["entry"]] == [
        "201 Created", "422 Unprocessable Entity", "400 Bad Request"]


def test_prefer_representation() -> None:
    plan = plan_bundle(_tx(_device(1)), SERVED, id_factory=_ids())
    stored = dict(plan.entries[0].resource, meta={"versionId": "1"})
    for result, expected in ((WriteResult(resource=stored), stored),
                             (WriteResult(), plan.entries[0].resource)):
        assert _respond(plan, {0: result}, prefer="representation")["entry"][0]["resource"] == \
            expected


def test_response_needs_a_result_for_every_write() -> None:
    plan = plan_bundle(_tx(_device(1), _device(2)), SERVED, id_factory=_ids())
    with pytest.raises(ValueError, match=r"Bundle.entry\[1\]"):
        response_bundle(plan, {0: WriteResult()})
    with pytest.raises(FhirError) as info:  # a store failure fails the whole transaction
        response_bundle(plan, {0: WriteResult(), 1: version_conflict("stale")})
    assert info.value.status == 409
    empty = plan_bundle({"resourceType": "Bundle", "type": "transaction"}, SERVED)
    assert empty.entries == [] and "entry" not in _respond(empty, {})


def test_thirty_entry_transaction() -> None:
    entries = [_device(n) for n in range(15)]
    entries += [_charge(e["fullUrl"], n=100 + i) for i, e in enumerate(entries)]
    plan = plan_bundle(_tx(*entries), SERVED, id_factory=_ids())
    assert len(plan.writes()) == 30
    for i in range(15):
        assert plan.entries[15 + i].resource["productReference"] == {
            "reference": plan.entries[i].reference}
    assert len(_respond(plan)["entry"]) == 30
