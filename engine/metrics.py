"""Every Prometheus metric Plexus exports, declared in one place. Labels never hold ids."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

MESSAGES_RECEIVED = Counter(
    "plexus_messages_received_total", "Messages received by a channel's source",
    ["channel"], registry=REGISTRY)
MESSAGES_FILTERED = Counter(
    "plexus_messages_filtered_total", "Messages stopped by a channel filter",
    ["channel"], registry=REGISTRY)
MESSAGES_SENT = Counter(
    "plexus_messages_sent_total", "Messages delivered by a destination",
    ["channel", "destination"], registry=REGISTRY)
MESSAGES_ERRORED = Counter(
    "plexus_messages_errored_total",
    "Failed delivery attempts (destination) or messages stored with an error (destination=\"\")",
    ["channel", "destination"], registry=REGISTRY)
MESSAGES_DEAD_LETTERED = Counter(
    "plexus_messages_dead_lettered_total", "Deliveries moved to the dead-letter queue",
    ["channel", "destination"], registry=REGISTRY)
MESSAGES_DUPLICATE = Counter(
    "plexus_messages_duplicate_total", "Inbound duplicates detected and not delivered again",
    ["channel"], registry=REGISTRY)
QUEUE_DEPTH = Gauge(
    "plexus_queue_depth", "Deliveries waiting in a destination queue",
    ["channel", "destination"], registry=REGISTRY)
QUEUE_DEAD = Gauge(
    "plexus_queue_dead", "Deliveries in a destination's dead-letter queue",
    ["channel", "destination"], registry=REGISTRY)
QUEUE_OLDEST_AGE = Gauge(
    "plexus_queue_oldest_age_seconds", "Age of the oldest waiting delivery",
    ["channel", "destination"], registry=REGISTRY)
STAGE_DURATION = Histogram(
    "plexus_stage_duration_seconds", "Time spent per stage (receive, commit, deliver...)",
    ["channel", "stage"], registry=REGISTRY,
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
SOURCE_REJECTED = Counter(
    "plexus_source_rejected_total", "Inbound messages refused by a source, by reason",
    ["channel", "reason"], registry=REGISTRY)
MLLP_DISCARDED_BYTES = Counter(
    "plexus_mllp_discarded_bytes_total", "Bytes outside MLLP frames that were discarded",
    ["channel"], registry=REGISTRY)
SOURCE_CONNECTIONS = Gauge(
    "plexus_source_connections", "Open connections on a listener",
    ["channel"], registry=REGISTRY)
STORE_COMMIT_BATCH = Histogram(
    "plexus_store_commit_batch_size", "Writes sharing one group commit",
    registry=REGISTRY, buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024))
