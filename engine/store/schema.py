"""Versioned schema migrations; each version is a list of statements run in one transaction."""

from __future__ import annotations

SCHEMA_VERSION = 3


def resource_tables(big_int: str, blob: str, real: str) -> list[str]:
    """The tables of resources a source serves back, their identifier keys and the counters,
    on a dialect's column types: the same statements on SQLite and PostgreSQL."""
    return [
        f"""CREATE TABLE resources (
            channel TEXT NOT NULL,
            resource_type TEXT NOT NULL,
            resource_id TEXT NOT NULL,
            version INTEGER NOT NULL,
            message_id {big_int} NOT NULL,
            content {blob} NOT NULL,
            updated_at {real} NOT NULL,
            PRIMARY KEY (channel, resource_type, resource_id))""",
        "CREATE INDEX resources_message ON resources (message_id)",
        """CREATE TABLE resource_keys (
            channel TEXT NOT NULL,
            key TEXT NOT NULL,
            resource_type TEXT NOT NULL,
            resource_id TEXT NOT NULL,
            PRIMARY KEY (channel, key, resource_type, resource_id))""",
        # persistent counters: X12 interchange/group control numbers per trading partner
        f"""CREATE TABLE counters (
            name TEXT PRIMARY KEY,
            value {big_int} NOT NULL)""",
    ]


SQLITE_SCHEMA: dict[int, list[str]] = {
    1: [
        """CREATE TABLE messages (
            id INTEGER PRIMARY KEY,
            channel TEXT NOT NULL,
            received_at REAL NOT NULL,
            status TEXT NOT NULL,
            content_type TEXT NOT NULL,
            correlation_id TEXT NOT NULL,
            business_key TEXT,
            idempotency_key TEXT,
            duplicate_of INTEGER,
            error TEXT,
            metadata TEXT,
            content_pruned INTEGER NOT NULL DEFAULT 0)""",
        "CREATE INDEX messages_channel ON messages (channel, id)",
        "CREATE INDEX messages_received ON messages (channel, received_at)",
        "CREATE INDEX messages_correlation ON messages (correlation_id)",
        "CREATE INDEX messages_business_key ON messages (business_key)",
        "CREATE INDEX messages_idempotency ON messages (idempotency_key, received_at)",
        """CREATE TABLE contents (
            message_id INTEGER NOT NULL,
            stage TEXT NOT NULL,
            part INTEGER NOT NULL,
            content_type TEXT NOT NULL,
            content BLOB NOT NULL,
            PRIMARY KEY (message_id, stage, part))""",
        """CREATE TABLE deliveries (
            id INTEGER PRIMARY KEY,
            message_id INTEGER NOT NULL,
            part INTEGER NOT NULL,
            channel TEXT NOT NULL,
            destination TEXT NOT NULL,
            status TEXT NOT NULL,
            attempts INTEGER NOT NULL,
            next_attempt_at REAL NOT NULL,
            lease_until REAL NOT NULL,
            last_error TEXT,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL)""",
        "CREATE INDEX deliveries_queue ON deliveries (channel, destination, status, id)",
        "CREATE INDEX deliveries_message ON deliveries (message_id)",
        """CREATE TABLE attempts (
            delivery_id INTEGER NOT NULL,
            attempt INTEGER NOT NULL,
            at REAL NOT NULL,
            outcome TEXT NOT NULL,
            error TEXT)""",
        "CREATE INDEX attempts_delivery ON attempts (delivery_id)",
    ],
    # version 2: resources a source serves back (FHIR reads, updates, conditional creates)
    2: resource_tables("INTEGER", "BLOB", "REAL"),
    # version 3: the queue indexes hold pending and dead rows only, as on PostgreSQL. The
    # full index kept every sent row, so the queue gauges scanned all of history each refresh
    # and marking a row sent moved its entry instead of deleting it.
    3: [
        "DROP INDEX deliveries_queue",
        "CREATE INDEX deliveries_pending ON deliveries (channel, destination, id) "
        "WHERE status = 'queued'",
        "CREATE INDEX deliveries_dead ON deliveries (channel, destination) "
        "WHERE status = 'dead'",
    ],
}
