"""The store suite: resources a source serves back (FHIR), on every backend."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from engine.errors import StoreError
from engine.store.base import ResourceConflict, ResourceWrite, Store
from engine.store.schema import SQLITE_SCHEMA
from engine.store.sqlite import SqliteStore
from tests.unit.reactor_thread import reactor_thread
from tests.unit.store_suite import (
    backend,
    claim,
    in_one_batch,
    ingest,
    make_record,
    message,
    schema_versions,
    store,
)

__all__ = ["backend", "reactor_thread", "store"]  # fixtures used by name


def write(resource_id: str = "c1", version: int = 1, body: bytes = b'{"v":1}',
          keys: tuple[str, ...] = ("ChargeItem|urn:sys|42",)) -> ResourceWrite:
    return ResourceWrite("ChargeItem", resource_id, version, body, list(keys))


def test_a_resource_is_written_with_its_message_and_read_back(store: Store) -> None:
    record = make_record()
    record.resources = [write()]
    result = ingest(store, record)
    found = store.get_resource("adt", "ChargeItem", "c1")
    assert found is not None
    assert (found.version, found.content, found.message_id) == (1, b'{"v":1}',
                                                                result.message_id)
    assert store.get_resource("adt", "ChargeItem", "nope") is None
    assert store.get_resource("other-channel", "ChargeItem", "c1") is None
    assert store.resource_of_message("adt", result.message_id) == found


def test_updates_move_the_version_on_and_a_stale_version_conflicts(store: Store) -> None:
    first = make_record()
    first.resources = [write()]
    ingest(store, first)
    second = make_record()
    second.resources = [write(version=2, body=b'{"v":2}')]
    ingest(store, second)
    stale = make_record(correlation_id="stale")
    stale.resources = [write(version=2, body=b'{"v":"stale"}')]
    with pytest.raises(StoreError) as caught:
        ingest(store, stale)
    assert isinstance(caught.value.__cause__, ResourceConflict)
    found = store.get_resource("adt", "ChargeItem", "c1")
    assert found is not None and (found.version, found.content) == (2, b'{"v":2}')
    # the refused write left nothing behind: no message, no queue row
    assert [m.correlation_id for m in store.list_messages()] == ["corr", "corr"]
    assert len(claim(store, limit=10)) == 2


def test_creating_an_existing_id_conflicts(store: Store) -> None:
    first = make_record()
    first.resources = [write()]
    ingest(store, first)
    again = make_record()
    again.resources = [write(body=b"again")]
    with pytest.raises(StoreError) as caught:
        ingest(store, again)
    assert isinstance(caught.value.__cause__, ResourceConflict)


def test_a_conflict_in_a_group_commit_fails_only_its_own_message(store: Store) -> None:
    seed = make_record()
    seed.resources = [write()]
    ingest(store, seed)
    stale, fine = make_record(correlation_id="stale"), make_record(correlation_id="fine")
    stale.resources = [write(version=5)]
    fine.resources = [write("c2", keys=("ChargeItem|urn:sys|43",))]
    results, _ = in_one_batch(store, [lambda: store.ingest(stale),
                                      lambda: store.ingest(fine)])
    assert [ok for ok, _ in results] == [False, True]
    assert store.get_resource("adt", "ChargeItem", "c2") is not None


def test_find_resources_needs_every_key(store: Store) -> None:
    record = make_record()
    record.resources = [write(keys=("ChargeItem|urn:sys|42", "ChargeItem|42")),
                        write("c2", keys=("ChargeItem|urn:sys|43", "ChargeItem|42"))]
    ingest(store, record)
    (one,) = store.find_resources("adt", ["ChargeItem|urn:sys|42"])
    assert one.resource_id == "c1"
    both = store.find_resources("adt", ["ChargeItem|42"])
    assert sorted(r.resource_id for r in both) == ["c1", "c2"]
    (only,) = store.find_resources("adt", ["ChargeItem|42", "ChargeItem|urn:sys|43"])
    assert only.resource_id == "c2"
    assert store.find_resources("adt", ["ChargeItem|urn:sys|99"]) == []
    assert store.find_resources("adt", []) == []


def test_an_update_drops_the_keys_its_predecessor_lost(store: Store) -> None:
    first = make_record()
    first.resources = [write(keys=("ChargeItem|urn:sys|42", "ChargeItem|42"))]
    ingest(store, first)
    second = make_record()
    second.resources = [ResourceWrite("ChargeItem", "c1", 2, b'{"v":2}',
                                      ["ChargeItem|urn:sys|43", "ChargeItem|43"],
                                      ["ChargeItem|urn:sys|42", "ChargeItem|42"])]
    ingest(store, second)
    assert store.find_resources("adt", ["ChargeItem|urn:sys|42"]) == []
    assert store.find_resources("adt", ["ChargeItem|42"]) == []
    (found,) = store.find_resources("adt", ["ChargeItem|urn:sys|43"])
    assert (found.resource_id, found.version) == ("c1", 2)


def test_errors_and_duplicates_write_no_resource(store: Store) -> None:
    bad = make_record(status="error", error="invalid")
    bad.resources = [write("bad")]
    ingest(store, bad)
    original = make_record(key="K", window=60)
    original.resources = [write("orig")]
    first = ingest(store, original)
    copy = make_record(key="K", window=60)
    copy.resources = [write("copy")]
    dup = ingest(store, copy)
    assert dup.duplicate_of == first.message_id
    assert store.get_resource("adt", "ChargeItem", "bad") is None
    assert store.get_resource("adt", "ChargeItem", "copy") is None
    found = store.resource_of_message("adt", dup.duplicate_of)
    assert found is not None and found.resource_id == "orig"
    assert message(store, dup.message_id)["status"] == "duplicate"


def test_sqlite_version_1_store_is_migrated_with_its_messages(tmp_path: Path,
                                                              reactor_thread: Any) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:  # a store written by the first release
        db.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        for statement in SQLITE_SCHEMA[1]:
            db.execute(statement)
        db.execute("INSERT INTO schema_version VALUES (1)")
        db.execute("INSERT INTO messages (channel, received_at, status, content_type, "
                   "correlation_id) VALUES ('adt', 1.0, 'received', 'hl7v2', 'old')")
    migrated = SqliteStore(str(path), reactor_thread)
    migrated.open()
    try:
        assert schema_versions(migrated) == [1, 2, 3]
        assert [m.correlation_id for m in migrated.list_messages()] == ["old"]
        record = make_record()
        record.resources = [write()]
        ingest(migrated, record)
        assert migrated.get_resource("adt", "ChargeItem", "c1") is not None
    finally:
        migrated.close()


# -- counters ---------------------------------------------------------------------------------


def test_counters_are_persistent_and_never_hand_out_a_number_twice(
        backend: str, store: Store, tmp_path: Path, reactor_thread: Any) -> None:
    from twisted.internet import defer

    from tests.unit.reactor_thread import run_in_reactor
    from tests.unit.store_suite import BACKENDS

    assert run_in_reactor(store.next_number, "x12:acme:isa") == 1
    assert run_in_reactor(store.next_number, "x12:acme:isa", 10) == 2  # 2..11 reserved
    assert run_in_reactor(store.next_number, "x12:other:isa") == 1

    def many() -> defer.Deferred[Any]:
        return defer.gatherResults([store.next_number("x12:acme:isa") for _ in range(50)])

    assert sorted(run_in_reactor(many)) == list(range(12, 62))
    store.close()
    again = BACKENDS[backend](tmp_path, reactor_thread)
    again.open()
    try:
        assert run_in_reactor(again.next_number, "x12:acme:isa") == 62
    finally:
        again.close()
    store.open()  # the fixture closes it again
