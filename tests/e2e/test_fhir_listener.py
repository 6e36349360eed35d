"""The FHIR listener against a running engine: the corpus, reads and writes, conditional create,
transactions, Prefer and _format, and what the file destination delivers.

The helpers (Fhir, Answer, CHANNEL...) live in tests/e2e/fhir_client.py.
"""

from __future__ import annotations

import copy
import json
import re
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class

from .engine_process import EngineProcess, free_port
from .fhir_client import (
    CHANNEL,
    CORPUS_CHANNEL,
    CORPUS_TYPES,
    DATA,
    ENV,
    READ_TOKEN,
    SUPPLY,
    UUID,
    WRITE_TOKEN,
    Answer,
    Fhir,
    charge,
    listed_when,
    load,
    location_of,
    messages,
    show,
    stored_form,
)


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[EngineProcess, int, int]]:
    """One engine: the issue's channel (auth, file out) and an open channel for the corpus."""
    work = tmp_path_factory.mktemp("fhir-listener")
    port, corpus_port = free_port(), free_port()
    channels = {
        "charge": CHANNEL.format(port=port, max_body="10MiB", out=work / "out"),
        "corpus": CORPUS_CHANNEL.format(port=corpus_port, types=json.dumps(CORPUS_TYPES),
                                        out=work / "corpus-out")}
    with EngineProcess(work / "engine", channels, env=ENV, log_level="warning") as proc:
        yield proc, port, corpus_port


@pytest.fixture(scope="module")
def fhir(engine: tuple[EngineProcess, int, int]) -> Fhir:
    """A writing client of the issue's channel."""
    return Fhir(engine[1], token=WRITE_TOKEN)


# -- every example of the corpus -------------------------------------------------------------

#: Official examples our supply-chain rules refuse, with the exact expressions (422).
REFUSED = {
    "r4_supplydelivery-pumpdelivery.json": [("required", ["SupplyDelivery.suppliedItem"])],
    "r4_supplydelivery-simpledelivery.json": [
        ("required", ["SupplyDelivery.suppliedItem.quantity.unit"])],
}
#: Bundles POSTed to the base that are refused as a whole: (status, issues).
BUNDLES_REFUSED = {name: (400, [("value", ["Bundle.type"])]) for name in (  # not a write
    "r4_bundle-10bb101f-a121-4264-a920-67be9cb82c74.json",  # message
    "r4_bundle-3a0707d3-549e-4467-b8b8-5a2ab3800efe.json",  # message
    "r4_bundle-bundle-example.json", "r4_bundle-bundle-search-warning.json",  # searchset
    "r4_bundle-bundle-references.json",  # collection
    "r4_bundle-bundle-response-medsallergies.json", "r4_bundle-bundle-response.json")}
EXAMPLES = sorted(p.relative_to(DATA).as_posix() for p in DATA.rglob("*.json"))


def test_the_corpus_has_every_kind_of_example() -> None:
    kinds = {load(n)["resourceType"] for n in EXAMPLES if "malformed_" not in n}
    assert kinds == {*CORPUS_TYPES, "Bundle", "OperationOutcome"} - {"Binary",
                                                                      "DocumentReference"}
    assert len(EXAMPLES) == 69


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in EXAMPLES if "malformed_" not in n])
def test_every_corpus_example_is_created_and_read_back_or_refused(
        engine: tuple[EngineProcess, int, int], name: str) -> None:
    """A resource goes to POST /Type, a Bundle to POST /; accepted writes are read back."""
    _, _, port = engine
    client = Fhir(port, "/r4")
    original = load(name)
    rtype = original["resourceType"]
    if rtype == "Bundle":
        check_corpus_bundle(client, name, original)
        return
    answer = client.post(rtype, original)
    if rtype not in CORPUS_TYPES:
        assert answer.status == 404
        assert answer.issues() == [("not-supported", [])]
        assert answer.diagnostics() == f"resource type {rtype!r} is not supported here"
        return
    if name in REFUSED:
        assert answer.status == 422
        assert answer.issues() == REFUSED[name]
        return
    assert answer.status == 201, answer.body
    rid = location_of(answer, port, rtype, base="/r4")
    created = answer.json()
    assert created == stored_form(original, created, rid)
    read = client.get(f"{rtype}/{rid}")
    assert (read.status, read.headers["etag"]) == (200, 'W/"1"')
    assert read.body == answer.body


def check_corpus_bundle(client: Fhir, name: str, bundle: dict[str, Any]) -> None:
    """The answer to one corpus Bundle POSTed to the base."""
    answer = client.post("", bundle)
    if name in BUNDLES_REFUSED:
        status, issues = BUNDLES_REFUSED[name]
        assert (answer.status, answer.issues()) == (status, issues)
    elif name == "r4_bundle-bundle-transaction.json":  # PUT Type?search, DELETE, GET...
        assert answer.status == 400
        assert answer.issues() == [
            ("not-supported", ["Bundle.entry[3].request.url"]),  # conditional update
            ("not-supported", ["Bundle.entry[5].request.method"]),  # DELETE
            ("not-supported", ["Bundle.entry[6].request.method"]),  # DELETE
            ("not-supported", ["Bundle.entry[7].resource.resourceType"]),  # Parameters
            ("not-supported", ["Bundle.entry[8].request.method"]),  # GET
            ("not-supported", ["Bundle.entry[9].request.method"])]  # GET
    elif name == "bundle_batch_adt_a01_from_v2_hl7v2tofhir_ig.json":
        assert answer.status == 400
        issues = answer.issues()  # relative fullUrls, unserved types, bad dates
        assert {e[0].split(".")[1] for _, e in issues} == {
            f"entry[{i}]" for i in range(len(bundle["entry"]))}
        assert ("value", ["Bundle.entry[0].fullUrl"]) in issues
        assert ("not-supported", ["Bundle.entry[11].resource.resourceType"]) in issues
        assert ("required", ["Bundle.entry[20].resource.beneficiary"]) in issues
    elif bundle["type"] == "batch":  # batches of GETs: every entry refused on its own
        assert answer.status == 200
        reply = answer.json()
        assert reply["type"] == "batch-response"
        assert [e["response"]["status"] for e in reply["entry"]] == \
            ["400 Bad Request"] * len(bundle["entry"])
        assert [[(i["code"], i["expression"]) for i in e["response"]["outcome"]["issue"]]
                for e in reply["entry"]] == [
            [("not-supported", [f"Bundle.entry[{n}].request.method"])]
            for n in range(len(bundle["entry"]))]
    elif name == SUPPLY:  # Device, SupplyRequest and ChargeItem linked by urn:uuid
        assert answer.status == 200, answer.body
        refs = [e["response"]["location"].split("/_history/")[0]
                for e in answer.json()["entry"]]
        assert [r.split("/")[0] for r in refs] == ["Device", "SupplyRequest", "ChargeItem"]
        assert client.get(refs[1]).json()["itemReference"] == {"reference": refs[0]}
        assert client.get(refs[2]).json()["productReference"] == {"reference": refs[0]}
    else:  # r4_bundle-xds: a transaction of 5 creates with relative references
        assert name == "r4_bundle-xds.json"
        assert answer.status == 200, answer.body
        reply = answer.json()
        assert reply["type"] == "transaction-response"
        locations = [e["response"]["location"] for e in reply["entry"]]
        assert [loc.split("/")[0] for loc in locations] == [
            e["resource"]["resourceType"] for e in bundle["entry"]]
        assert [e["response"]["status"] for e in reply["entry"]] == ["201 Created"] * 5
        refs = [loc.split("/_history/")[0] for loc in locations]
        assert all(client.get(ref).status == 200 for ref in refs)
        document = client.get(refs[0]).json()  # Patient/a2 etc. now point at the new ids
        assert document["subject"]["reference"] == refs[1]
        assert [a["reference"] for a in document["author"]] == refs[2:4]


# -- metadata, reads and writes --------------------------------------------------------------

def test_metadata_lists_exactly_the_configured_resources(
        engine: tuple[EngineProcess, int, int]) -> None:
    _, port, corpus_port = engine
    answer = Fhir(port).get("metadata")  # no token needed
    assert answer.status == 200
    assert answer.headers["content-type"] == "application/fhir+json; charset=utf-8"
    statement = answer.json()
    get_fhir_model_class("CapabilityStatement").model_validate(statement)
    assert (statement["fhirVersion"], statement["kind"]) == ("4.0.1", "instance")
    assert statement["implementation"]["url"] == f"http://127.0.0.1:{port}/fhir"
    (rest,) = statement["rest"]
    assert [r["type"] for r in rest["resource"]] == ["ChargeItem", "Device", "SupplyDelivery"]
    for resource in rest["resource"]:
        assert [i["code"] for i in resource["interaction"]] == ["read", "vread", "update",
                                                               "create"]
        assert resource["conditionalCreate"] is True
    assert [i["code"] for i in rest["interaction"]] == ["transaction", "batch"]
    assert rest["security"]["service"][0]["coding"][0]["code"] == "OAuth"
    corpus = Fhir(corpus_port, "/r4").get("metadata").json()
    assert [r["type"] for r in corpus["rest"][0]["resource"]] == CORPUS_TYPES
    assert "security" not in corpus["rest"][0]


@pytest.mark.slow
def test_create_read_vread_and_the_delivered_file(
        engine: tuple[EngineProcess, int, int], fhir: Fhir) -> None:
    proc, port, _ = engine
    original = load("r4_chargeitem-example.json")
    created = fhir.post("ChargeItem", original)
    assert created.status == 201
    assert created.headers["content-type"] == "application/fhir+json; charset=utf-8"
    rid = location_of(created, port, "ChargeItem")
    assert re.fullmatch(UUID, rid)
    assert created.json() == stored_form(original, created.json(), rid)
    reader = Fhir(port, token=READ_TOKEN)
    read = reader.get(f"ChargeItem/{rid}")
    assert (read.status, read.body, read.headers["etag"]) == (200, created.body, 'W/"1"')
    assert read.headers["location"] == created.headers["location"]
    vread = reader.get(f"ChargeItem/{rid}/_history/1")
    assert (vread.status, vread.body) == (200, created.body)
    gone = reader.get(f"ChargeItem/{rid}/_history/2")
    assert gone.status == 404 and gone.issues() == [("not-found", [])]
    unknown = reader.get("ChargeItem/no-such-id")
    assert unknown.status == 404 and unknown.issues() == [("not-found", ["ChargeItem.id"])]
    delivered = proc.workdir.parent / "out" / f"{rid}.json"
    proc.wait_for(delivered.exists, what="the file delivery")
    assert delivered.read_bytes() == created.body
    rows = listed_when(proc, "charge-capture-fhir", lambda rows: [
        m for m in rows if m["business_key"] == f"ChargeItem/{rid}" and m["status"] == "sent"])
    (row,) = [m for m in rows if m["business_key"] == f"ChargeItem/{rid}"]
    assert (row["correlation_id"], row["error"]) == (rid, None)


def test_update_creates_then_versions(fhir: Fhir, engine: tuple[EngineProcess, int, int]
                                      ) -> None:
    port = engine[1]
    rid = f"dev-{uuid.uuid4().hex[:12]}"
    device = {**load("r4_device-f001.json"), "id": rid}
    first = fhir.put(f"Device/{rid}", device)
    assert first.status == 201  # update as create
    assert location_of(first, port, "Device") == rid
    device["status"] = "inactive"
    second = fhir.put(f"Device/{rid}", device, headers={"If-Match": 'W/"1"'})
    assert second.status == 200
    assert location_of(second, port, "Device", version="2") == rid
    third = fhir.put(f"Device/{rid}", device)  # no If-Match: last write wins
    assert third.status == 200 and third.headers["etag"] == 'W/"3"'
    current = fhir.get(f"Device/{rid}").json()
    assert (current["status"], current["meta"]["versionId"]) == ("inactive", "3")
    assert fhir.get(f"Device/{rid}/_history/2").status == 404  # only the current is kept


def test_prefer_return(fhir: Fhir, engine: tuple[EngineProcess, int, int]) -> None:
    port = engine[1]
    minimal = fhir.post("ChargeItem", charge(), headers={"Prefer": "return=minimal"})
    assert (minimal.status, minimal.body) == (201, b"")
    rid = location_of(minimal, port, "ChargeItem")
    assert fhir.get(f"ChargeItem/{rid}").status == 200
    outcome = fhir.post("ChargeItem", charge(), headers={"Prefer": "return=OperationOutcome"})
    assert outcome.status == 201
    rid = location_of(outcome, port, "ChargeItem")
    assert outcome.issues() == [("informational", [])]
    assert outcome.json()["issue"][0]["severity"] == "information"
    assert outcome.diagnostics() == f"ChargeItem/{rid} created"
    full = fhir.post("ChargeItem", charge(), headers={"Prefer": "return=representation"})
    rid = location_of(full, port, "ChargeItem")
    assert full.json() == stored_form(charge(), full.json(), rid)


@pytest.mark.parametrize(("query", "accept", "mime"), [
    ("", None, "application/fhir+json"),
    ("?_format=json", "application/fhir+xml", "application/fhir+json"),
    ("?_format=application/fhir%2Bjson", None, "application/fhir+json"),
    ("?_format=application/json", None, "application/json"),
    ("", "application/json", "application/json"),
    ("", "text/turtle;q=0.9, application/json;q=0.5", "application/json"),
])
def test_format_and_accept(fhir: Fhir, query: str, accept: str | None, mime: str) -> None:
    created = fhir.post(f"ChargeItem{query}", charge(), headers={"Accept": accept})
    assert (created.status, created.headers["content-type"]) == (201, f"{mime}; charset=utf-8")
    location = created.headers["location"].split("/fhir/")[1]
    read = fhir.get(f"{location}{query}", headers={"Accept": accept})
    assert (read.status, read.headers["content-type"]) == (200, f"{mime}; charset=utf-8")
    assert read.body == created.body


def test_format_json_stands_in_for_a_missing_content_type(fhir: Fhir) -> None:
    answer = fhir.post("ChargeItem?_format=json", charge(), headers={"Content-Type": None})
    assert answer.status == 201
    turtle = fhir.get("metadata?_format=ttl")
    assert turtle.status == 406 and turtle.issues() == [("not-supported", [])]


# -- conditional create ----------------------------------------------------------------------

def test_conditional_create_is_idempotent(fhir: Fhir, engine: tuple[EngineProcess, int, int]
                                          ) -> None:
    proc, port, _ = engine
    value = f"CI-{uuid.uuid4().hex[:10]}"
    criteria = {"If-None-Exist": f"identifier=urn:plexus:test:charge|{value}"}
    first = fhir.post("ChargeItem", charge(value), headers=criteria)
    assert first.status == 201
    rid = location_of(first, port, "ChargeItem")
    again = fhir.post("ChargeItem", charge(value), headers=criteria)
    assert again.status == 200
    assert location_of(again, port, "ChargeItem") == rid
    assert again.body == first.body  # the existing resource, version 1
    any_system = fhir.post("ChargeItem", charge(value),
                           headers={"If-None-Exist": f"identifier={value}"})
    assert (any_system.status, any_system.json()["id"]) == (200, rid)
    by_id = fhir.post("ChargeItem", charge(value), headers={"If-None-Exist": f"_id={rid}"})
    assert (by_id.status, by_id.json()["id"]) == (200, rid)
    stored = [m for m in messages(proc, "charge-capture-fhir")
              if m["business_key"] == f"ChargeItem/{rid}"]
    assert len(stored) == 1  # one message, one delivery


def test_concurrent_conditional_creates_make_one_resource(fhir: Fhir) -> None:
    value = f"RACE-{uuid.uuid4().hex[:10]}"
    criteria = {"If-None-Exist": f"identifier=urn:plexus:test:charge|{value}"}
    barrier = threading.Barrier(8)
    answers: list[Answer] = []

    def post() -> None:
        barrier.wait()
        answers.append(fhir.post("ChargeItem", charge(value), headers=criteria))

    threads = [threading.Thread(target=post) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(a.status for a in answers) == [200] * 7 + [201]
    assert len({a.json()["id"] for a in answers}) == 1


# -- transactions and batches ----------------------------------------------------------------

@pytest.mark.slow
def test_supply_chain_transaction_is_one_message_with_rewritten_references(
        fhir: Fhir, engine: tuple[EngineProcess, int, int]) -> None:
    proc, port, _ = engine
    bundle = load(SUPPLY)
    bundle["entry"] = [e for e in bundle["entry"]
                       if e["resource"]["resourceType"] != "SupplyRequest"]  # not served
    bundle["entry"][0]["resource"]["identifier"][0]["value"] = value = uuid.uuid4().hex
    bundle["entry"][0]["request"]["ifNoneExist"] = \
        f"identifier=urn:oid:2.16.840.1.113883.19.5.1|{value}"
    cid = f"txn-{uuid.uuid4().hex[:8]}"
    answer = fhir.post("", bundle, headers={"X-Correlation-ID": cid,
                                            "Prefer": "return=representation"})
    assert answer.status == 200, answer.body
    reply = answer.json()
    get_fhir_model_class("Bundle").model_validate(reply)
    assert reply["type"] == "transaction-response"
    assert [e["response"]["status"] for e in reply["entry"]] == ["201 Created"] * 2
    device, item = (e["resource"] for e in reply["entry"])
    assert item["productReference"] == {"reference": f"Device/{device['id']}"}
    assert item["subject"] == {"reference": "Patient/example"}
    for entry in reply["entry"]:
        resource = entry["resource"]
        ref = f"{resource['resourceType']}/{resource['id']}"
        assert entry["fullUrl"] == f"http://127.0.0.1:{port}/fhir/{ref}"
        assert entry["response"]["location"] == f"{ref}/_history/1"
        assert fhir.get(ref).json() == resource
    delivered = proc.workdir.parent / "out" / f"{cid}.json"
    proc.wait_for(delivered.exists, what="the transaction's file")
    sent = json.loads(delivered.read_bytes())  # the whole transaction is one message,
    assert (sent["resourceType"], sent["type"]) == ("Bundle", "transaction")  # as applied:
    refs = [f"Device/{device['id']}", f"ChargeItem/{item['id']}"]
    assert [e["request"] for e in sent["entry"]] == [{"method": "PUT", "url": r} for r in refs]
    assert [e["fullUrl"] for e in sent["entry"]] == [
        f"http://127.0.0.1:{port}/fhir/{r}" for r in refs]
    assert [e["resource"] for e in sent["entry"]] == [device, item]
    again = fhir.post("", bundle, headers={"Prefer": "return=OperationOutcome",
                                           "X-Correlation-ID": f"{cid}-2"}).json()
    assert [e["response"]["status"] for e in again["entry"]] == ["200 OK", "201 Created"]
    assert again["entry"][0]["response"]["location"] == f"Device/{device['id']}/_history/1"
    second_item = fhir.get(again["entry"][1]["response"]["location"].split("/_history")[0])
    assert second_item.json()["productReference"]["reference"] == f"Device/{device['id']}"
    delivered = proc.workdir.parent / "out" / f"{cid}-2.json"
    proc.wait_for(delivered.exists, what="the second transaction's file")
    matched = json.loads(delivered.read_bytes())["entry"][0]  # stays a conditional create
    assert matched["request"] == bundle["entry"][0]["request"]
    assert matched["fullUrl"] == f"http://127.0.0.1:{port}/fhir/Device/{device['id']}"


def bad_transaction(tag: str) -> dict[str, Any]:
    """A transaction whose last entry breaks a rule (ChargeItem without subject)."""
    broken = charge(f"{tag}-bad")
    del broken["subject"]
    return {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": {**load("r4_device-f001.json"), "id": f"{tag}-dev"},
         "request": {"method": "PUT", "url": f"Device/{tag}-dev"}},
        {"resource": charge(f"{tag}-good"), "request": {"method": "POST", "url": "ChargeItem"}},
        {"resource": broken, "request": {"method": "POST", "url": "ChargeItem"}}]}


@pytest.mark.slow
def test_transaction_is_all_or_nothing(fhir: Fhir, engine: tuple[EngineProcess, int, int]
                                       ) -> None:
    proc = engine[0]
    tag = f"atomic-{uuid.uuid4().hex[:8]}"
    answer = fhir.post("", bad_transaction(tag), headers={"X-Correlation-ID": tag})
    assert answer.status == 422
    assert answer.issues() == [("required", ["Bundle.entry[2].resource.subject"])]
    assert fhir.get(f"Device/{tag}-dev").status == 404
    probe = fhir.post("ChargeItem", charge(f"{tag}-good"), headers={
        "If-None-Exist": f"identifier=urn:plexus:test:charge|{tag}-good"})
    assert probe.status == 201  # the good ChargeItem of the transaction was not kept
    (row,) = [m for m in messages(proc, "charge-capture-fhir")
              if m["status"] == "error" and "Bundle.entry[2].resource.subject" in m["error"]
              and tag in show(proc, m["message_id"])["stages"][0]["content"]]
    assert row["error"] == "422: Bundle.entry[2].resource.subject: subject is required"
    assert not (proc.workdir.parent / "out" / f"{tag}.json").exists()
    # a stale ifMatch on a later entry keeps the earlier ones out too
    fhir.put(f"Device/{tag}-v", {**load("r4_device-f001.json"), "id": f"{tag}-v"})
    fhir.put(f"Device/{tag}-v", {**load("r4_device-f001.json"), "id": f"{tag}-v"})
    stale = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": {**load("r4_device-f001.json"), "id": f"{tag}-new"},
         "request": {"method": "PUT", "url": f"Device/{tag}-new"}},
        {"resource": {**load("r4_device-f001.json"), "id": f"{tag}-v"},
         "request": {"method": "PUT", "url": f"Device/{tag}-v", "ifMatch": 'W/"1"'}}]}
    refused = fhir.post("", stale)
    assert refused.status == 412 and refused.issues() == [("conflict", [])]
    assert fhir.get(f"Device/{tag}-new").status == 404
    assert fhir.get(f"Device/{tag}-v").json()["meta"]["versionId"] == "2"


def test_batch_entries_succeed_or_fail_alone(fhir: Fhir) -> None:
    tag = f"batch-{uuid.uuid4().hex[:8]}"
    batch = copy.deepcopy(bad_transaction(tag))
    batch["type"] = "batch"
    answer = fhir.post("", batch)
    assert answer.status == 200
    reply = answer.json()
    assert reply["type"] == "batch-response"
    statuses = [e["response"]["status"] for e in reply["entry"]]
    assert statuses == ["201 Created", "201 Created", "422 Unprocessable Entity"]
    outcome = reply["entry"][2]["response"]["outcome"]
    assert [i["expression"] for i in outcome["issue"]] == [["Bundle.entry[2].resource.subject"]]
    assert fhir.get(f"Device/{tag}-dev").status == 200
    created = reply["entry"][1]["response"]["location"].split("/_history")[0]
    assert fhir.get(created).json()["identifier"][0]["value"] == f"{tag}-good"
