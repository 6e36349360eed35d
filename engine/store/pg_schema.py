"""PostgreSQL schema migrations: each version is a list of statements run in one transaction.

Version 1 is the single-node layout (the SQLite tables on PostgreSQL types). Version 2 makes
nodes share one database: duplicate detection through a unique key table (its ON CONFLICT
waits for a concurrent insert of the same key on another node), a lease per ordered queue,
the owner of every row lease, and a partial index so claims never walk sent rows.
Version 3 keeps the resources a source serves back (FHIR reads and updates).
"""

from __future__ import annotations

from .schema import resource_tables

PG_SCHEMA_VERSION = 3

PG_SCHEMA: dict[int, list[str]] = {
    1: [
        """CREATE TABLE messages (
            id BIGSERIAL PRIMARY KEY,
            channel TEXT NOT NULL,
            received_at DOUBLE PRECISION NOT NULL,
            status TEXT NOT NULL,
            content_type TEXT NOT NULL,
            correlation_id TEXT NOT NULL,
            business_key TEXT,
            idempotency_key TEXT,
            duplicate_of BIGINT,
            error TEXT,
            metadata TEXT,
            content_pruned BOOLEAN NOT NULL DEFAULT false)""",
        "CREATE INDEX messages_channel ON messages (channel, id)",
        "CREATE INDEX messages_received ON messages (channel, received_at)",
        "CREATE INDEX messages_correlation ON messages (correlation_id)",
        "CREATE INDEX messages_business_key ON messages (business_key)",
        "CREATE INDEX messages_idempotency ON messages (idempotency_key, received_at)",
        """CREATE TABLE contents (
            message_id BIGINT NOT NULL,
            stage TEXT NOT NULL,
            part INTEGER NOT NULL,
            content_type TEXT NOT NULL,
            content BYTEA NOT NULL,
            seq BIGINT GENERATED ALWAYS AS IDENTITY,
            PRIMARY KEY (message_id, stage, part))""",
        """CREATE TABLE deliveries (
            id BIGSERIAL PRIMARY KEY,
            message_id BIGINT NOT NULL,
            part INTEGER NOT NULL,
            channel TEXT NOT NULL,
            destination TEXT NOT NULL,
            status TEXT NOT NULL,
            attempts INTEGER NOT NULL,
            next_attempt_at DOUBLE PRECISION NOT NULL,
            lease_until DOUBLE PRECISION NOT NULL,
            last_error TEXT,
            created_at DOUBLE PRECISION NOT NULL,
            updated_at DOUBLE PRECISION NOT NULL)""",
        "CREATE INDEX deliveries_queue ON deliveries (channel, destination, status, id)",
        "CREATE INDEX deliveries_message ON deliveries (message_id)",
        """CREATE TABLE attempts (
            delivery_id BIGINT NOT NULL,
            attempt INTEGER NOT NULL,
            at DOUBLE PRECISION NOT NULL,
            outcome TEXT NOT NULL,
            error TEXT)""",
        "CREATE INDEX attempts_delivery ON attempts (delivery_id)",
    ],
    2: [
        # duplicates across nodes: one row per (channel, key) holds the current original
        """CREATE TABLE idempotency (
            channel TEXT NOT NULL,
            key TEXT NOT NULL,
            message_id BIGINT NOT NULL,
            received_at DOUBLE PRECISION NOT NULL,
            dup_window DOUBLE PRECISION NOT NULL DEFAULT 0,
            PRIMARY KEY (channel, key))""",
        """INSERT INTO idempotency (channel, key, message_id, received_at)
           SELECT DISTINCT ON (channel, idempotency_key) channel, idempotency_key, id,
                  received_at
           FROM messages WHERE idempotency_key IS NOT NULL
                AND status IN ('received', 'filtered')
           ORDER BY channel, idempotency_key, id DESC""",
        "DROP INDEX messages_idempotency",
        # ordered queues are drained by one node at a time
        """CREATE TABLE queue_leases (
            channel TEXT NOT NULL,
            destination TEXT NOT NULL,
            owner TEXT NOT NULL,
            lease_until DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (channel, destination))""",
        "ALTER TABLE deliveries ADD COLUMN lease_owner TEXT",
        # claims read only pending rows; sent and dead rows never enter this index
        "DROP INDEX deliveries_queue",
        "CREATE INDEX deliveries_pending ON deliveries (channel, destination, id) "
        "WHERE status = 'queued'",
        "CREATE INDEX deliveries_dead ON deliveries (channel, destination) "
        "WHERE status = 'dead'",
        # lease and attempt updates touch no indexed column: room for HOT updates, and
        # vacuum early so dead versions of busy queue rows do not pile up
        "ALTER TABLE deliveries SET (fillfactor = 80, autovacuum_vacuum_scale_factor = 0.02, "
        "autovacuum_vacuum_threshold = 1000)",
        "ALTER TABLE idempotency SET (autovacuum_vacuum_scale_factor = 0.02)",
        "ALTER TABLE queue_leases SET (fillfactor = 50)",
    ],
    3: resource_tables("BIGINT", "BYTEA", "DOUBLE PRECISION"),
}
