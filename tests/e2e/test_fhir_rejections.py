"""What the FHIR listener refuses, with which status and OperationOutcome, and what it stores.

400 malformed, 401/403 auth, 404 unknown type, 405, 409/412 version conflicts, 413 too large,
415 wrong content type, 422 unprocessable (validation or the channel's own transform).
"""

from __future__ import annotations

import http.client
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from .engine_process import EngineProcess, free_port
from .fhir_client import (
    CHANNEL,
    DATA,
    ENV,
    READ_TOKEN,
    WRITE_TOKEN,
    Answer,
    Fhir,
    charge,
    listed_when,
    load,
    messages,
    show,
)

LIMIT = 64 * 1024
DFT_CHANNEL = """\
name: charge-to-dft
source: {{type: fhir, host: 127.0.0.1, port: {port}, base_path: /fhir, resources: [ChargeItem]}}
transforms: [transforms.fhir:chargeitem_to_dft]
destinations:
  - {{name: billing, type: file, directory: "{out}", filename: "{{correlation_id}}.hl7"}}
"""


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[EngineProcess, int, int]]:
    """The issue's channel (64 KiB limit) and a channel that turns ChargeItems into DFTs."""
    work = tmp_path_factory.mktemp("fhir-rejections")
    port, dft_port = free_port(), free_port()
    channels = {"charge": CHANNEL.format(port=port, max_body="64KiB", out=work / "out"),
                "dft": DFT_CHANNEL.format(port=dft_port, out=work / "dft-out")}
    with EngineProcess(work / "engine", channels, env=ENV, log_level="warning") as proc:
        yield proc, port, dft_port


@pytest.fixture(scope="module")
def fhir(engine: tuple[EngineProcess, int, int]) -> Fhir:
    """A writing client of the issue's channel."""
    return Fhir(engine[1], token=WRITE_TOKEN)


def rid() -> str:
    """A fresh resource id."""
    return f"r-{uuid.uuid4().hex[:16]}"


# -- the malformed files of the corpus -------------------------------------------------------

MALFORMED = {
    "authored/malformed_duplicate_keys_and_bad_types_authored.json": (
        "ChargeItem", 400, [("structure", ["ChargeItem.status"])],
        "duplicate JSON key 'status' (FHIR JSON forbids repeated keys; found at "
        "ChargeItem.status)"),
    "authored/malformed_truncated_json_authored.json": (
        "ChargeItem", 400, [("structure", [])],
        "invalid JSON: Expecting ',' delimiter (line 1, column 86)"),
    "authored/malformed_unknown_resource_type_authored.json": (
        "PurchaseOrder", 404, [("not-supported", [])],
        "resource type 'PurchaseOrder' is not supported here"),
    "authored/malformed_transaction_bundle_missing_request_authored.json": (
        "", 400, [
            ("required", ["Bundle.entry[0].request"]),
            ("not-supported", ["Bundle.entry[0].resource.resourceType"]),
            ("not-supported", ["Bundle.entry[1].request.method"]),
            ("required", ["Bundle.entry[1].resource.suppliedItem"])],
        "entry.request (method and url) is required in a transaction"),
}


@pytest.mark.slow
def test_malformed_files_get_their_outcome_and_are_stored(
        fhir: Fhir, engine: tuple[EngineProcess, int, int]) -> None:
    proc = engine[0]
    for name, (path, status, issues, diagnostics) in MALFORMED.items():
        answer = fhir.post(path, (DATA / name).read_bytes())
        assert (answer.status, answer.issues()) == (status, issues), name
        assert answer.diagnostics() == diagnostics
        assert answer.headers["content-type"] == "application/fhir+json; charset=utf-8"
    truncated = fhir.post("ChargeItem", (DATA / "authored/malformed_truncated_json_authored.json"
                                         ).read_bytes()).json()["issue"][0]
    assert truncated["location"] == ["Line[1] Col[86]"]
    assert [x["valueInteger"] for x in truncated["extension"]] == [1, 86]
    rows = messages(proc, "charge-capture-fhir")[:5]  # newest first; this test sends 5
    assert [r["status"] for r in rows] == ["error"] * 5
    assert [r["error"].split(":")[0] for r in reversed(rows)] == ["400", "400", "404", "400",
                                                                  "400"]
    assert rows[2]["error"] == "404: resource type 'PurchaseOrder' is not supported here"
    stored = show(proc, rows[2]["message_id"])
    assert stored["stages"][0]["content"] == (
        DATA / "authored/malformed_unknown_resource_type_authored.json").read_text()
    assert stored["metadata"]["status"] == 404
    assert stored["metadata"]["path"] == "/fhir/PurchaseOrder"
    assert stored["deliveries"] == []


# -- every status, with its OperationOutcome -------------------------------------------------

def _bad_value() -> dict[str, Any]:
    item = charge()
    item["quantity"] = {"value": "three"}
    return item


def _no_subject() -> dict[str, Any]:
    item = charge()
    del item["subject"]
    return item


CASES: dict[str, tuple[str, str, Any, dict[str, str], int, list[tuple[str, list[str]]]]] = {
    # name: (method, path, body, headers, status, issues)
    "400 not JSON": ("POST", "ChargeItem", b"not json", {}, 400, [("structure", [])]),
    "400 empty body": ("POST", "ChargeItem", b"", {}, 400, [("structure", [])]),
    "400 JSON array": ("POST", "ChargeItem", b"[]", {}, 400, [("structure", [])]),
    "400 wrong JSON kind": ("POST", "ChargeItem", _bad_value(), {}, 400,
                            [("structure", ["ChargeItem.quantity.value"])]),
    "400 unknown element": ("POST", "ChargeItem", {**charge(), "colour": "red"}, {}, 400,
                            [("structure", ["ChargeItem.colour"])]),
    "400 type differs from URL": ("POST", "Device", charge(), {}, 400,
                                  [("invalid", ["Device.resourceType"])]),
    "400 id differs from URL": ("PUT", "ChargeItem/abc", {**charge(), "id": "xyz"}, {}, 400,
                                [("invalid", ["ChargeItem.id"])]),
    "400 bad If-None-Exist": ("POST", "ChargeItem", charge(),
                              {"If-None-Exist": "status=billable"}, 400,
                              [("not-supported", [])]),
    "400 bad If-Match": ("PUT", "ChargeItem/abc", {**charge(), "id": "abc"},
                         {"If-Match": "yesterday's"}, 400, [("value", ["If-Match"])]),
    "400 Bundle.type": ("POST", "", {"resourceType": "Bundle", "type": "collection"}, {}, 400,
                        [("value", ["Bundle.type"])]),
    "404 type not served": ("POST", "Patient", load("r4_patient-example.json"), {}, 404,
                            [("not-supported", [])]),
    "404 read of a type not served": ("GET", "Patient/example", None, {}, 404,
                                      [("not-supported", [])]),
    "404 outside the base": ("GET", "/other/ChargeItem/1", None, {}, 404,
                             [("not-found", [])]),
    "404 no such interaction": ("GET", "ChargeItem/1/_history", None, {}, 404,
                                [("not-found", [])]),
    "405 search": ("GET", "ChargeItem", None, {}, 405, [("not-supported", [])]),
    "405 delete": ("DELETE", "ChargeItem/1", None, {}, 405, [("not-supported", [])]),
    "405 patch": ("PATCH", "ChargeItem/1", b"[]", {}, 405, [("not-supported", [])]),
    "405 metadata": ("POST", "metadata", charge(), {}, 405, [("not-supported", [])]),
    "415 text/plain": ("POST", "ChargeItem", charge(), {"Content-Type": "text/plain"}, 415,
                       [("not-supported", [])]),
    "400 XML not FHIR": ("POST", "ChargeItem", b"<ChargeItem/>",
                         {"Content-Type": "application/fhir+xml"}, 400,
                         [("structure", ["ChargeItem"])]),
    "415 latin-1": ("POST", "ChargeItem", charge(),
                    {"Content-Type": "application/fhir+json; charset=iso-8859-1"}, 415,
                    [("not-supported", [])]),
    "415 multipart form": ("POST", "ChargeItem", b"junk\r\n--xyz--",
                           {"Content-Type": "multipart/form-data; boundary=xyz"}, 415,
                           [("not-supported", [])]),
    "415 form": ("POST", "ChargeItem", b"_format=json",
                 {"Content-Type": "application/x-www-form-urlencoded"}, 415,
                 [("not-supported", [])]),
    "406 _format=ttl": ("GET", "metadata?_format=ttl", None, {}, 406, [("not-supported", [])]),
    "422 required element": ("POST", "ChargeItem", _no_subject(), {}, 422,
                             [("required", ["ChargeItem.subject"])]),
    "422 currency": ("POST", "ChargeItem",
                     {**charge(), "priceOverride": {"value": 1, "currency": "US Dollars"}}, {},
                     422, [("code-invalid", ["ChargeItem.priceOverride.currency"])]),
    "422 code outside its binding": ("POST", "ChargeItem", {**charge(), "status": "paid"}, {},
                                     422, [("code-invalid", ["ChargeItem.status"])]),
    "422 reference to the wrong type": (
        "POST", "ChargeItem", {**charge(), "subject": {"reference": "Device/1"}}, {}, 422,
        [("value", ["ChargeItem.subject.reference"])]),
    "422 device without identifier": ("POST", "Device", {"resourceType": "Device"}, {}, 422,
                                      [("required", ["Device.identifier"])]),
}


@pytest.mark.parametrize("case", CASES)
def test_status_and_outcome(fhir: Fhir, case: str) -> None:
    method, path, body, headers, status, issues = CASES[case]
    answer = fhir.request(method, path, body, headers)
    assert (answer.status, answer.issues()) == (status, issues), answer.body
    assert answer.headers["content-type"] == "application/fhir+json; charset=utf-8"
    if status == 405:
        allowed = {"ChargeItem/1": "GET, PUT", "ChargeItem": "POST", "metadata": "GET"}
        assert answer.headers["allow"] == allowed[path]


def test_413_with_a_length_and_chunked(fhir: Fhir, engine: tuple[EngineProcess, int, int]
                                       ) -> None:
    big = b'{"resourceType":"ChargeItem","note":"' + b"x" * LIMIT + b'"}'
    answer = fhir.post("ChargeItem", big)
    assert (answer.status, answer.issues()) == (413, [("too-long", [])])
    assert answer.diagnostics() == f"body of {len(big)} bytes is over the limit of {LIMIT} bytes"
    conn = http.client.HTTPConnection("127.0.0.1", engine[1], timeout=30)
    try:
        conn.request("POST", "/fhir/ChargeItem", body=iter([big[:40000], big[40000:]]),
                     headers={"Content-Type": "application/fhir+json",
                              "Authorization": f"Bearer {WRITE_TOKEN}"})
        resp = conn.getresponse()
        chunked = Answer(resp.status, dict(resp.getheaders()), resp.read())
    finally:
        conn.close()
    assert (chunked.status, chunked.issues()) == (413, [("too-long", [])])
    assert fhir.post("ChargeItem", charge()).status == 201  # the listener is fine


def test_stale_if_match_is_412_and_if_none_exist_with_two_matches_is_412(fhir: Fhir) -> None:
    first = rid()
    assert fhir.put(f"ChargeItem/{first}", {**charge(), "id": first}).status == 201
    assert fhir.put(f"ChargeItem/{first}", {**charge(), "id": first},
                    headers={"If-Match": 'W/"1"'}).status == 200
    stale = fhir.put(f"ChargeItem/{first}", {**charge(), "id": first},
                     headers={"If-Match": 'W/"1"'})
    assert (stale.status, stale.issues()) == (412, [("conflict", [])])
    assert stale.diagnostics() == 'If-Match W/"1" does not match the current version (2)'
    missing = fhir.put(f"ChargeItem/{rid()}", {**charge()}, headers={"If-Match": 'W/"1"'})
    assert missing.status == 400  # the body has no id
    new = rid()
    absent = fhir.put(f"ChargeItem/{new}", {**charge(), "id": new},
                      headers={"If-Match": 'W/"1"'})
    assert (absent.status, absent.issues()) == (412, [("conflict", [])])
    value = uuid.uuid4().hex
    for _ in range(2):
        other = rid()
        assert fhir.put(f"ChargeItem/{other}", {**charge(value), "id": other}).status == 201
    twice = fhir.post("ChargeItem", charge(value),
                      headers={"If-None-Exist": f"identifier=urn:plexus:test:charge|{value}"})
    assert (twice.status, twice.issues()) == (412, [("multiple-matches", [])])


def test_an_identifier_removed_by_an_update_no_longer_matches(fhir: Fhir) -> None:
    old, new, resource = uuid.uuid4().hex, uuid.uuid4().hex, rid()
    assert fhir.put(f"ChargeItem/{resource}", {**charge(old), "id": resource}).status == 201
    assert fhir.put(f"ChargeItem/{resource}", {**charge(new), "id": resource}).status == 200
    by_old = fhir.post("ChargeItem", charge(old),
                       headers={"If-None-Exist": f"identifier=urn:plexus:test:charge|{old}"})
    assert by_old.status == 201 and by_old.json()["id"] != resource  # a new resource
    by_new = fhir.post("ChargeItem", charge(new),
                       headers={"If-None-Exist": f"identifier=urn:plexus:test:charge|{new}"})
    assert (by_new.status, by_new.json()["id"], by_new.json()["meta"]["versionId"]) == (
        200, resource, "2")


def _race(fhir: Fhir, resource_id: str, headers: dict[str, str], count: int = 8
          ) -> list[Answer]:
    """count PUTs of the same resource released at once."""
    barrier = threading.Barrier(count)
    answers: list[Answer] = []

    def put() -> None:
        barrier.wait()
        answers.append(fhir.put(f"ChargeItem/{resource_id}", {**charge(), "id": resource_id},
                                headers=headers))

    threads = [threading.Thread(target=put) for _ in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(answers) == count
    return answers


def test_concurrent_updates_never_lose_a_version(fhir: Fhir) -> None:
    """Every PUT either makes the next version (200) or is told of the conflict (409)."""
    target = rid()
    assert fhir.put(f"ChargeItem/{target}", {**charge(), "id": target}).status == 201
    answers = _race(fhir, target, {})
    assert {a.status for a in answers} <= {200, 409}
    for conflict in (a for a in answers if a.status == 409):
        assert conflict.issues() == [("conflict", [])]
        assert "is no longer current" in conflict.diagnostics()
    versions = sorted(a.headers["etag"] for a in answers if a.status == 200)
    current = fhir.get(f"ChargeItem/{target}").json()["meta"]["versionId"]
    assert int(current) == 1 + len(versions)
    assert len(set(versions)) == len(versions)  # no two writers got the same version
    guarded = _race(fhir, target, {"If-Match": f'W/"{current}"'})
    assert sorted(a.status for a in guarded)[0] == 200
    assert [a.status for a in guarded].count(200) == 1  # one wins; the rest 409 or 412
    assert {a.status for a in guarded} <= {200, 409, 412}


# -- auth --------------------------------------------------------------------------------------

def test_auth(engine: tuple[EngineProcess, int, int]) -> None:
    port = engine[1]
    anonymous, reader = Fhir(port), Fhir(port, token=READ_TOKEN)
    writer = Fhir(port, token=WRITE_TOKEN)
    none = anonymous.post("ChargeItem", charge())
    assert (none.status, none.issues()) == (401, [("login", [])])
    assert none.headers["www-authenticate"] == 'Bearer realm="plexus"'
    wrong = Fhir(port, token="not-a-token-of-ours-at-all").post("ChargeItem", charge())
    assert (wrong.status, wrong.diagnostics()) == (401, "the bearer token is not valid")
    basic = anonymous.post("ChargeItem", charge(), headers={"Authorization": "Basic dXNlcjpwdw=="})
    assert basic.status == 401
    read_only = reader.post("ChargeItem", charge())
    assert (read_only.status, read_only.issues()) == (403, [("forbidden", [])])
    assert read_only.diagnostics() == "this token may read, not write"
    assert reader.put("ChargeItem/x", {**charge(), "id": "x"}).status == 403
    assert reader.post("", {"resourceType": "Bundle", "type": "batch"}).status == 403
    created = writer.post("ChargeItem", charge())
    assert created.status == 201
    path = created.headers["location"].split("/fhir/")[1]
    assert reader.get(path).status == 200  # read access
    assert writer.get(path).status == 200  # write implies read
    assert anonymous.get(path).status == 401
    assert anonymous.get("metadata").status == 200  # the CapabilityStatement is public


@pytest.mark.slow
def test_auth_failures_are_not_stored_and_rejections_are(
        fhir: Fhir, engine: tuple[EngineProcess, int, int]) -> None:
    proc, port, _ = engine
    before = messages(proc, "charge-capture-fhir")[0]["message_id"] \
        if messages(proc, "charge-capture-fhir") else 0
    Fhir(port).post("ChargeItem", charge())  # 401
    Fhir(port, token=READ_TOKEN).post("ChargeItem", charge())  # 403
    fhir.request("DELETE", "ChargeItem/1")  # 405
    marker = uuid.uuid4().hex
    fhir.post("ChargeItem", {**_no_subject(), "id": marker},
              headers={"X-Correlation-ID": f"corr-{marker}"})  # 422
    fhir.post("ChargeItem", charge(), headers={"Content-Type": "text/plain"})  # 415
    rows = [r for r in messages(proc, "charge-capture-fhir") if r["message_id"] > before]
    assert [(r["status"], r["error"]) for r in rows] == [
        ("error", "415: unsupported media type 'text/plain'; send one of: application/fhir+json"
                  ", application/fhir+xml, application/json, application/json+fhir, "
                  "application/xml, application/xml+fhir, text/json, text/xml, "
                  "(charset utf-8 only)"),
        ("error", "422: ChargeItem.subject: subject is required")]
    assert rows[1]["correlation_id"] == f"corr-{marker}"  # findable by the sender's id
    stored = show(proc, rows[1]["message_id"])
    assert marker in stored["stages"][0]["content"]
    assert stored["metadata"]["status"] == 422 and stored["metadata"]["method"] == "POST"


# -- the channel's own transform refuses the message -----------------------------------------

@pytest.mark.slow
def test_a_transform_refusal_is_422_stored_once(engine: tuple[EngineProcess, int, int]) -> None:
    proc, _, port = engine
    client = Fhir(port)
    refused = client.post("ChargeItem", charge(), headers={"X-Correlation-ID": "DFT-NO-PID"})
    assert refused.status == 422
    assert refused.issues() == [("processing", ["ChargeItem.subject"])]
    assert refused.diagnostics() == ("the channel refused the message: the ChargeItem's patient "
                                     "has no identifier")
    logical = charge(subject={"identifier": {"system": "urn:oid:9.9", "value": "P-42"}})
    accepted = client.post("ChargeItem", logical, headers={"X-Correlation-ID": "DFT-OK-1"})
    assert accepted.status == 201
    rid = accepted.json()["id"]
    assert client.get(f"ChargeItem/{rid}").json()["subject"]["identifier"]["value"] == "P-42"
    delivered = proc.workdir.parent / "dft-out" / "DFT-OK-1.hl7"
    proc.wait_for(delivered.exists, what="the DFT file")
    segments = delivered.read_bytes().decode().split("\r")
    assert segments[0].split("|")[8:10] == ["DFT^P03^DFT_P03", "DFT-OK-1"]
    assert [s.split("|")[0] for s in segments if s] == ["MSH", "EVN", "PID", "PV1", "FT1"]
    rows = listed_when(proc, "charge-to-dft", lambda rows: rows[0]["status"] == "sent")
    assert [(r["status"], r["correlation_id"]) for r in rows] == [
        ("sent", "DFT-OK-1"), ("error", "DFT-NO-PID")]  # the refusal is stored once
    assert rows[1]["error"] == "ChargeItem.subject: the ChargeItem's patient has no identifier"
    assert client.get(f"ChargeItem/{rid}").status == 200
