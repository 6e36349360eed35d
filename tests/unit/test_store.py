"""The store suite: ingest, statuses, duplicates, claims and outcomes, on every backend."""

from __future__ import annotations

import time

import pytest

from engine.store.base import Outcome, Stage, Store
from tests.unit.reactor_thread import reactor_thread
from tests.unit.store_suite import (
    backend,
    claim,
    complete,
    in_one_batch,
    ingest,
    make_record,
    message,
    stages_of,
    store,
)

__all__ = ["backend", "reactor_thread", "store"]  # fixtures used by name


# -- ingest and statuses -----------------------------------------------------------------


def test_ingest_commits_message_stages_and_one_queue_row_per_part_and_destination(
        store: Store) -> None:
    record = make_record(destinations=("a", "b"), parts=2, correlation_id="c-1",
                         business_key="MSG1", metadata={"peer": "10.0.0.1"})
    result = ingest(store, record)
    assert result.duplicate_of is None

    found = message(store, result.message_id)
    assert found["id"] == result.message_id
    assert found["channel"] == "adt"
    assert found["status"] == "queued"
    assert found["correlation_id"] == "c-1"
    assert found["business_key"] == "MSG1"
    assert found["metadata"] == {"peer": "10.0.0.1"}
    assert found["error"] is None
    assert stages_of(found) == {("raw", 0): b"RAW", ("transformed", 0): b"T0",
                                ("transformed", 1): b"T1"}
    rows = sorted((d["part"], d["destination"], d["status"], d["attempts"])
                  for d in found["deliveries"])
    assert rows == [(0, "a", "queued", 0), (0, "b", "queued", 0),
                    (1, "a", "queued", 0), (1, "b", "queued", 0)]
    assert store.get_message(result.message_id + 1000) is None


def test_routed_message_status_follows_its_deliveries(store: Store) -> None:
    sent_id = ingest(store, make_record()).message_id
    dead_id = ingest(store, make_record()).message_id
    assert message(store, sent_id)["status"] == "queued"
    by_message = {item.message_id: item for item in claim(store)}
    complete(store, Outcome(by_message[sent_id].delivery_id, "sent"),
             Outcome(by_message[dead_id].delivery_id, "dead", error="AR from peer"))
    assert message(store, sent_id)["status"] == "sent"
    assert message(store, dead_id)["status"] == "dead"
    assert message(store, dead_id)["deliveries"][0]["last_error"] == "AR from peer"
    statuses = {m.message_id: m.status for m in store.list_messages()}
    assert (statuses[sent_id], statuses[dead_id]) == ("sent", "dead")


def test_message_with_one_destination_pending_stays_queued(store: Store) -> None:
    message_id = ingest(store, make_record(destinations=("a", "b"))).message_id
    (a,) = claim(store, "a")
    complete(store, Outcome(a.delivery_id, "sent"))
    assert message(store, message_id)["status"] == "queued"
    (b,) = claim(store, "b")
    complete(store, Outcome(b.delivery_id, "dead", error="gone"))
    assert message(store, message_id)["status"] == "dead"


@pytest.mark.parametrize("status,error", [("filtered", None), ("error", "PID-3: required")])
def test_filtered_and_error_messages_have_no_deliveries(store: Store, status: str,
                                                        error: str | None) -> None:
    message_id = ingest(store, make_record(status=status, error=error)).message_id
    found = message(store, message_id)
    assert found["status"] == status
    assert found["error"] == error
    assert found["deliveries"] == []
    assert stages_of(found) == {("raw", 0): b"RAW"}
    assert claim(store) == []


# -- duplicates --------------------------------------------------------------------------


def test_duplicate_within_window(store: Store) -> None:
    now = time.time()
    original = ingest(store, make_record(key="APP|FAC|1", window=60, received_at=now - 30))
    dup = ingest(store, make_record(key="APP|FAC|1", window=60, received_at=now))
    assert dup.duplicate_of == original.message_id
    assert dup.message_id != original.message_id
    found = message(store, dup.message_id)
    assert found["status"] == "duplicate"
    assert found["duplicate_of"] == original.message_id
    assert found["deliveries"] == []
    assert stages_of(found) == {("raw", 0): b"RAW"}
    assert len(claim(store)) == 1  # only the original is queued


def test_a_duplicate_in_the_same_group_commit_as_its_original(store: Store) -> None:
    first = make_record(key="APP|FAC|9", window=60, correlation_id="first")
    second = make_record(key="APP|FAC|9", window=60, correlation_id="second")
    other = make_record(key="APP|FAC|10", window=60, correlation_id="other")
    results, _ = in_one_batch(store, [lambda: store.ingest(first),
                                      lambda: store.ingest(second),
                                      lambda: store.ingest(other)])
    assert all(ok for ok, _ in results), results
    (_, a), (_, b), (_, c) = results
    assert a.duplicate_of is None and c.duplicate_of is None
    assert b.duplicate_of == a.message_id
    assert [i.message_id for i in claim(store)] == [a.message_id, c.message_id]


def test_messages_of_one_group_commit_queue_in_arrival_order(store: Store) -> None:
    records = [make_record(correlation_id=f"c{i}", destinations=("a", "b"), parts=2)
               for i in range(20)]
    results, _ = in_one_batch(store, [lambda r=r: store.ingest(r) for r in records])
    ids = [result.message_id for _, result in results]
    assert ids == sorted(ids)
    head = claim(store, destination="b", limit=100, ordered=True)
    assert [(i.message_id, i.part) for i in head] == [(m, p) for m in ids for p in (0, 1)]
    assert [i.content for i in head[:2]] == [b"T0", b"T1"]
    assert [message(store, m)["correlation_id"] for m in ids] == [f"c{i}" for i in range(20)]


def test_not_a_duplicate_outside_the_window(store: Store) -> None:
    now = time.time()
    ingest(store, make_record(key="K", window=60, received_at=now - 120))
    later = ingest(store, make_record(key="K", window=60, received_at=now))
    assert later.duplicate_of is None
    assert message(store, later.message_id)["status"] == "queued"


def test_other_keys_and_channels_are_not_duplicates(store: Store) -> None:
    ingest(store, make_record(key="K", window=60))
    assert ingest(store, make_record(key="K2", window=60)).duplicate_of is None
    assert ingest(store, make_record("other", key="K", window=60)).duplicate_of is None
    assert ingest(store, make_record(key=None, window=60)).duplicate_of is None


def test_error_message_is_not_an_original(store: Store) -> None:
    ingest(store, make_record(key="K", window=60, status="error", error="bad PID"))
    retry = ingest(store, make_record(key="K", window=60))
    assert retry.duplicate_of is None
    assert message(store, retry.message_id)["status"] == "queued"
    # and now the accepted one is the original
    again = ingest(store, make_record(key="K", window=60))
    assert again.duplicate_of == retry.message_id


def test_filtered_message_counts_as_original(store: Store) -> None:
    original = ingest(store, make_record(key="K", window=60, status="filtered"))
    assert ingest(store, make_record(key="K", window=60)).duplicate_of == original.message_id


# -- claim -----------------------------------------------------------------------------


def test_unordered_claim_leases_up_to_limit(store: Store) -> None:
    ids = [ingest(store, make_record(correlation_id=f"c{i}")).message_id for i in range(5)]
    first = claim(store, limit=3, lease=0.2)
    assert [item.message_id for item in first] == ids[:3]
    item = first[0]
    assert (item.channel, item.destination, item.part, item.attempts) == ("adt", "out", 0, 0)
    assert (item.content, item.content_type, item.correlation_id) == (b"T0", "hl7v2", "c0")
    rest = claim(store, limit=10, lease=60)
    assert [item.message_id for item in rest] == ids[3:]
    assert claim(store, limit=10) == []
    time.sleep(0.4)  # past the first lease
    again = claim(store, limit=10)
    assert [item.delivery_id for item in again] == [item.delivery_id for item in first]
    assert claim(store, "other") == []
    assert claim(store, channel="other") == []


def test_claim_skips_rows_not_yet_due(store: Store) -> None:
    ids = [ingest(store, make_record()).message_id for _ in range(2)]
    head, tail = claim(store)
    complete(store, Outcome(head.delivery_id, "retry", error="timeout",
                            next_attempt_at=time.time() + 3600),
             Outcome(tail.delivery_id, "release", counted=False))
    assert [item.message_id for item in claim(store)] == [ids[1]]


def test_ordered_head_retrying_blocks_its_queue_only(store: Store) -> None:
    ids = [ingest(store, make_record(destinations=("a", "b"))).message_id for _ in range(3)]
    (head,) = claim(store, "a", limit=1, ordered=True)
    assert head.message_id == ids[0]
    assert claim(store, "a", limit=10, ordered=True) == []  # the head is leased
    complete(store, Outcome(head.delivery_id, "retry", error="AE",
                            next_attempt_at=time.time() + 3600))
    assert claim(store, "a", limit=10, ordered=True) == []  # the head is not due
    in_order = claim(store, "b", limit=10, ordered=True)
    assert [item.message_id for item in in_order] == ids
    # once the head is due again it (and what follows) is handed out in order
    complete(store, Outcome(head.delivery_id, "retry", error="AE",
                            next_attempt_at=time.time() - 1))
    assert [item.message_id for item in claim(store, "a", limit=10, ordered=True)] == ids


def test_release_frees_the_lease_without_counting_an_attempt(store: Store) -> None:
    message_id = ingest(store, make_record()).message_id
    (item,) = claim(store, lease=3600)
    assert claim(store) == []
    complete(store, Outcome(item.delivery_id, "release", counted=False))
    (again,) = claim(store)
    assert again.delivery_id == item.delivery_id
    assert again.attempts == 0
    delivery = message(store, message_id)["deliveries"][0]
    assert delivery["attempts"] == 0
    assert delivery["history"] == []


# -- complete --------------------------------------------------------------------------


def test_retry_then_dead_keeps_history_and_stages(store: Store) -> None:
    message_id = ingest(store, make_record()).message_id
    (item,) = claim(store)
    due = time.time() + 100
    complete(store, Outcome(item.delivery_id, "retry", error="connection refused",
                            next_attempt_at=due))
    delivery = message(store, message_id)["deliveries"][0]
    assert delivery["status"] == "queued"
    assert delivery["attempts"] == 1
    assert delivery["next_attempt_at"] == pytest.approx(due)
    assert delivery["last_error"] == "connection refused"
    assert [(h["attempt"], h["outcome"], h["error"]) for h in delivery["history"]] == [
        (1, "retry", "connection refused")]
    assert claim(store) == []

    complete(store, Outcome(item.delivery_id, "retry", error="timeout",
                            next_attempt_at=time.time() - 1))
    (item,) = claim(store)
    assert item.attempts == 2
    complete(store, Outcome(item.delivery_id, "dead", error="AR: unknown patient",
                            encoded=Stage("encoded:out", b"ENC", "hl7v2"),
                            response=Stage("response:out", b"MSA|AR", "hl7v2")))
    found = message(store, message_id)
    assert found["status"] == "dead"
    delivery = found["deliveries"][0]
    assert (delivery["status"], delivery["attempts"]) == ("dead", 3)
    assert delivery["last_error"] == "AR: unknown patient"
    assert [(h["attempt"], h["outcome"], h["error"]) for h in delivery["history"]] == [
        (1, "retry", "connection refused"), (2, "retry", "timeout"),
        (3, "dead", "AR: unknown patient")]
    stages = stages_of(found)
    assert stages[("encoded:out", 0)] == b"ENC"
    assert stages[("response:out", 0)] == b"MSA|AR"
    assert claim(store) == []


def test_sent_stores_encoded_and_response_per_part(store: Store) -> None:
    message_id = ingest(store, make_record(parts=2)).message_id
    items = claim(store)
    assert [item.part for item in items] == [0, 1]
    assert [item.content for item in items] == [b"T0", b"T1"]
    complete(store, *[Outcome(item.delivery_id, "sent",
                              encoded=Stage("encoded:out", f"E{item.part}".encode()),
                              response=Stage("response:out", f"R{item.part}".encode()))
                      for item in items])
    found = message(store, message_id)
    assert found["status"] == "sent"
    assert [(d["status"], d["attempts"], d["history"]) for d in found["deliveries"]] == [
        ("sent", 1, []), ("sent", 1, [])]
    stages = stages_of(found)
    assert (stages[("encoded:out", 0)], stages[("encoded:out", 1)]) == (b"E0", b"E1")
    assert (stages[("response:out", 0)], stages[("response:out", 1)]) == (b"R0", b"R1")
    assert claim(store) == []


def test_filtered_delivery_is_finished(store: Store) -> None:
    message_id = ingest(store, make_record()).message_id
    (item,) = claim(store)
    complete(store, Outcome(item.delivery_id, "filtered"))
    found = message(store, message_id)
    assert found["deliveries"][0]["status"] == "filtered"
    assert found["status"] == "sent"
    assert claim(store) == []
