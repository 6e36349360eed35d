"""What only the PostgreSQL store does: migrations, several nodes on one schema, faults."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from engine.errors import StoreError
from engine.store import pg_schema
from engine.store.base import Outcome
from engine.store.postgres import PostgresStore, connect, schema_version, upgrade
from tests.unit.reactor_thread import reactor_thread, run_in_reactor
from tests.unit.store_suite import (
    PG_DSN,
    claim,
    committer,
    complete,
    drop_pg_schema,
    in_one_batch,
    ingest,
    make_record,
    message,
    pg_schema_for,
)

__all__ = ["reactor_thread"]  # fixtures used by name


@pytest.fixture
def schema(tmp_path: Path) -> Iterator[str]:
    name = pg_schema_for(tmp_path)
    yield name
    drop_pg_schema(name)


@pytest.fixture
def nodes(schema: str, reactor_thread: Any) -> Iterator[list[PostgresStore]]:
    """Two stores on one schema, as two Plexus nodes would have."""
    opened = [PostgresStore(PG_DSN, schema, reactor_thread, node=name)
              for name in ("node-a", "node-b")]
    for node in opened:
        node.open()
    yield opened
    for node in opened:
        node.close()


def sql(schema: str, statement: str, *args: Any) -> list[tuple[Any, ...]]:
    with connect(PG_DSN, schema) as db:
        cur = db.execute(statement, args or None)
        return cur.fetchall() if cur.description else []


# -- migrations ----------------------------------------------------------------------------


def test_upgrade_creates_every_version_from_an_empty_database(schema: str) -> None:
    assert upgrade(PG_DSN, schema) == (0, pg_schema.PG_SCHEMA_VERSION)
    assert upgrade(PG_DSN, schema) == (pg_schema.PG_SCHEMA_VERSION,) * 2  # idempotent
    versions = [r[0] for r in sql(schema, "SELECT version FROM schema_version ORDER BY 1")]
    assert versions == list(range(1, pg_schema.PG_SCHEMA_VERSION + 1))


def test_upgrade_from_version_1_keeps_messages_queues_and_duplicate_keys(
        schema: str, reactor_thread: Any) -> None:
    assert upgrade(PG_DSN, schema, target=1) == (0, 1)
    # a version-1 database with traffic in it: one original with a key, one queued row
    sql(schema, "INSERT INTO messages (channel, received_at, status, content_type, "
                "correlation_id, idempotency_key) VALUES ('adt', %s, 'received', 'hl7v2', "
                "'old', 'APP|FAC|1')", time.time())
    sql(schema, "INSERT INTO deliveries (message_id, part, channel, destination, status, "
                "attempts, next_attempt_at, lease_until, created_at, updated_at) "
                "SELECT id, 0, 'adt', 'out', 'queued', 0, 0, 0, 0, 0 FROM messages")
    sql(schema, "INSERT INTO contents (message_id, stage, part, content_type, content) "
                "SELECT id, 'transformed', 0, 'hl7v2', 'OLD' FROM messages")

    store = PostgresStore(PG_DSN, schema, reactor_thread)
    store.open()  # migrates to the latest version on start
    try:
        assert schema_version(store._reader()) == pg_schema.PG_SCHEMA_VERSION
        (item,) = claim(store)
        assert item.content == b"OLD"
        again = ingest(store, make_record(key="APP|FAC|1", window=3600))
        assert again.duplicate_of == item.message_id
    finally:
        store.close()


def test_open_refuses_an_old_schema_when_migration_is_off(schema: str,
                                                           reactor_thread: Any) -> None:
    upgrade(PG_DSN, schema, target=1)
    store = PostgresStore(PG_DSN, schema, reactor_thread, migrate=False)
    with pytest.raises(StoreError, match="plexus db upgrade"):
        store.open()


def test_a_schema_newer_than_the_code_is_refused(schema: str) -> None:
    upgrade(PG_DSN, schema)
    sql(schema, "INSERT INTO schema_version (version) VALUES (%s)",
        pg_schema.PG_SCHEMA_VERSION + 1)
    with pytest.raises(StoreError, match="newer than this Plexus"):
        upgrade(PG_DSN, schema)


def test_bad_schema_name_and_unreachable_server_are_store_errors() -> None:
    with pytest.raises(StoreError, match="invalid PostgreSQL schema name"):
        connect(PG_DSN, 'x"; DROP TABLE messages; --')
    with pytest.raises(StoreError, match="cannot connect"):
        connect("host=127.0.0.1 port=1 dbname=test user=postgres connect_timeout=2", "plexus")


def test_nodes_starting_together_migrate_once(schema: str) -> None:
    results: list[tuple[int, int]] = []
    threads = [threading.Thread(target=lambda: results.append(upgrade(PG_DSN, schema)))
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    latest = pg_schema.PG_SCHEMA_VERSION
    assert sorted(results) == [(0, latest)] + [(latest, latest)] * 3


# -- several nodes on one schema -------------------------------------------------------------


def test_nodes_claim_disjoint_rows(nodes: list[PostgresStore]) -> None:
    a, b = nodes
    ids = {ingest(a, make_record()).message_id for _ in range(10)}
    first = claim(a, limit=4)
    second = claim(b, limit=100)
    assert len(first) == 4 and len(second) == 6
    assert {i.message_id for i in first} | {i.message_id for i in second} == ids
    assert not {i.delivery_id for i in first} & {i.delivery_id for i in second}
    assert claim(a) == [] and claim(b) == []


def test_work_of_a_dead_node_is_taken_over_when_its_lease_runs_out(
        nodes: list[PostgresStore]) -> None:
    a, b = nodes
    message_id = ingest(a, make_record()).message_id
    (taken,) = claim(a, lease=0.5)  # node a "dies" holding it
    assert claim(b) == []
    time.sleep(0.6)
    (again,) = claim(b)
    assert (again.message_id, again.delivery_id) == (message_id, taken.delivery_id)
    complete(b, Outcome(again.delivery_id, "sent"))
    assert message(b, message_id)["status"] == "sent"


def test_an_ordered_queue_is_drained_by_one_node_at_a_time(nodes: list[PostgresStore],
                                                           schema: str) -> None:
    a, b = nodes
    ids = [ingest(a, make_record()).message_id for _ in range(3)]
    (head,) = claim(a, ordered=True, limit=1, lease=0.5)
    assert head.message_id == ids[0]
    complete(a, Outcome(head.delivery_id, "sent"))
    assert claim(b, ordered=True, lease=0.5) == []  # a holds the queue
    assert sql(schema, "SELECT owner FROM queue_leases") == [("node-a",)]
    time.sleep(0.6)  # a stops claiming (dies): b takes the queue over, in order
    assert [i.message_id for i in claim(b, ordered=True, lease=0.5)] == ids[1:]
    assert claim(a, ordered=True) == []  # and now a waits for b
    assert sql(schema, "SELECT owner FROM queue_leases") == [("node-b",)]


def test_ordered_claims_stop_at_a_head_held_by_another_node(nodes: list[PostgresStore]
                                                            ) -> None:
    a, b = nodes
    ids = [ingest(a, make_record()).message_id for _ in range(2)]
    (head,) = claim(a, ordered=True, limit=1, lease=30)
    # a's queue lease runs out but its send of the head is still leased: b must not pass it
    b_claims = run_in_reactor(b.claim, "adt", "out", 10, True, 30)
    assert b_claims == []
    run_in_reactor(committer(a).submit, lambda conn: conn.cur.execute(
        "UPDATE queue_leases SET lease_until = 0"))
    assert claim(b, ordered=True) == []  # the queue is b's now, the head still a's row
    complete(a, Outcome(head.delivery_id, "sent"))
    assert [i.message_id for i in claim(b, ordered=True)] == ids[1:]


def test_closing_a_node_gives_its_queue_leases_back(nodes: list[PostgresStore],
                                                    schema: str) -> None:
    a, b = nodes
    ingest(a, make_record())
    claim(a, ordered=True, limit=0)
    assert sql(schema, "SELECT owner FROM queue_leases") == [("node-a",)]
    a.close()
    assert sql(schema, "SELECT owner FROM queue_leases") == []
    assert len(claim(b, ordered=True)) == 1


def test_a_restarted_node_with_a_fixed_id_takes_its_leases_back(
        schema: str, reactor_thread: Any) -> None:
    first = PostgresStore(PG_DSN, schema, reactor_thread, node="fixed")
    first.open()
    ingest(first, make_record())
    assert len(claim(first, lease=3600)) == 1
    first._committer.stop()  # type: ignore[union-attr]  # dies: nothing released
    first._committer = None
    restarted = PostgresStore(PG_DSN, schema, reactor_thread, node="fixed")
    restarted.open()
    try:
        assert len(claim(restarted)) == 1
    finally:
        restarted.close()


def test_duplicates_are_detected_across_nodes(nodes: list[PostgresStore]) -> None:
    a, b = nodes
    original = ingest(a, make_record(key="APP|FAC|42", window=3600))
    copy = ingest(b, make_record(key="APP|FAC|42", window=3600))
    assert copy.duplicate_of == original.message_id
    assert message(b, copy.message_id)["status"] == "duplicate"
    assert len(claim(b, limit=10)) == 1


def test_a_duplicate_racing_an_uncommitted_original_waits_and_is_caught(
        nodes: list[PostgresStore]) -> None:
    a, b = nodes
    record = make_record(key="APP|FAC|77", window=3600)
    holding = threading.Event()

    def wait(_conn: Any) -> None:
        holding.set()
        time.sleep(1.0)  # b's insert of the same key blocks on this open transaction

    results: list[Any] = []
    race = threading.Thread(target=lambda: results.append(in_one_batch(
        a, [lambda: a.ingest(record), lambda: committer(a).submit(wait)])))
    race.start()
    assert holding.wait(10)
    copy = ingest(b, make_record(key="APP|FAC|77", window=3600))
    race.join()
    ((ok, original), _), _ = results[0]
    assert ok
    assert copy.duplicate_of == original.message_id


def test_queue_stats_are_the_shared_truth(nodes: list[PostgresStore]) -> None:
    a, b = nodes
    ingest(a, make_record())
    ingest(b, make_record())
    (item, _) = claim(a)
    complete(a, Outcome(item.delivery_id, "dead", error="refused"))
    for node in nodes:
        (stats,) = node.queue_stats()
        assert (stats.destination, stats.depth, stats.dead) == ("out", 1, 1)


# -- faults ------------------------------------------------------------------------------------


def test_a_commit_that_fails_fails_every_op_and_later_ingests_succeed(
        schema: str, reactor_thread: Any) -> None:
    store = PostgresStore(PG_DSN, schema, reactor_thread)
    store.open()
    try:
        # a deferred constraint fails at COMMIT itself, not at the statement
        sql(schema, """CREATE FUNCTION refuse_lost() RETURNS trigger LANGUAGE plpgsql AS $$
                       BEGIN RAISE EXCEPTION 'commit refused'; END $$""")
        sql(schema, "CREATE CONSTRAINT TRIGGER lost AFTER INSERT ON messages "
                    "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW "
                    "WHEN (NEW.correlation_id LIKE 'lost-%%') EXECUTE FUNCTION refuse_lost()")
        results, _ = in_one_batch(store, [
            lambda: store.ingest(make_record(correlation_id="lost-1")),
            lambda: store.ingest(make_record(correlation_id="kept-with-it")),
        ])
        assert [ok for ok, _ in results] == [False, False]
        assert all(isinstance(e, StoreError) and "commit refused" in str(e)
                   for _, e in results)
        assert store.list_messages() == []
        later = ingest(store, make_record(correlation_id="later"))
        assert message(store, later.message_id)["status"] == "queued"
    finally:
        store.close()


def test_the_writer_reconnects_after_its_connection_is_killed(schema: str,
                                                              reactor_thread: Any) -> None:
    store = PostgresStore(PG_DSN, schema, reactor_thread, writers=1)  # the one to kill
    store.open()
    try:
        ingest(store, make_record(correlation_id="before"))
        pid = run_in_reactor(committer(store).submit,
                             lambda conn: conn.db.info.backend_pid)
        sql(schema, "SELECT pg_terminate_backend(%s)", pid)
        with pytest.raises(StoreError):
            ingest(store, make_record(correlation_id="lost-with-the-connection"))
        after = ingest(store, make_record(correlation_id="after"))
        assert message(store, after.message_id)["status"] == "queued"
        assert [m.correlation_id for m in store.list_messages()] == ["after", "before"]
    finally:
        store.close()


def test_close_releases_every_connection(schema: str, reactor_thread: Any) -> None:
    def connections(node: str) -> int:
        with psycopg.connect(PG_DSN, autocommit=True) as db:
            row = db.execute("SELECT count(*) FROM pg_stat_activity "
                             "WHERE application_name = %s", (f"plexus:{node}",)).fetchone()
            return int(row[0]) if row else 0

    store = PostgresStore(PG_DSN, schema, reactor_thread, node="counted")
    store.open()
    ingest(store, make_record())
    threads = [threading.Thread(target=store.list_messages) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert connections("counted") == 5  # two writers (the default) and a reader per thread
    store.close()
    assert connections("counted") == 0
