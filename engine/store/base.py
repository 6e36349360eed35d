"""The store interface every backend implements, and the records that cross it.

Write methods return Deferreds and run in the backend's group-commit writer, so many
callers share one transaction. Read methods are plain blocking calls (the CLI uses them
directly; the engine calls them in a thread).
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any, Literal

from twisted.internet.defer import Deferred

from ..errors import PlexusError
from .group_commit import GroupCommitter

MessageStatus = Literal["received", "filtered", "error", "duplicate"]
DeliveryStatus = Literal["queued", "sent", "dead", "filtered"]
# what `plexus messages list --status` filters on: the message status, or for routed
# messages the state of their deliveries
ListStatus = Literal["received", "filtered", "error", "duplicate", "queued", "sent", "dead"]


@dataclass(slots=True)
class Stage:
    """One stored content of a message: raw, transformed, encoded:<dest>, response:<dest>."""

    stage: str
    content: bytes
    content_type: str = "text"
    part: int = 0


@dataclass(slots=True)
class ResourceWrite:
    """A resource a source serves back (FHIR): kept with its message, versioned."""

    resource_type: str
    resource_id: str
    version: int                # the version this write creates (1 for a create)
    content: bytes
    keys: list[str] = field(default_factory=list)  # identifier keys: "Type|system|value"
    dropped_keys: list[str] = field(default_factory=list)  # the previous version's, now gone


@dataclass(slots=True)
class StoredResource:
    """The current version of a served resource."""

    resource_type: str
    resource_id: str
    version: int
    content: bytes
    message_id: int
    updated_at: float


class ResourceConflict(PlexusError):
    """The resource changed since the version a write was based on."""


@dataclass(slots=True)
class IngestRecord:
    """A received message and everything decided about it before it is committed."""

    channel: str
    received_at: float
    status: MessageStatus
    content_type: str
    correlation_id: str
    stages: list[Stage]
    destinations: list[tuple[int, str]] = field(default_factory=list)  # (part, destination)
    # destinations whose new rows this process leases at once and sends without a claim
    handoff: dict[str, float] = field(default_factory=dict)  # destination -> lease seconds
    business_key: str | None = None
    idempotency_key: str | None = None
    duplicate_window: float = 0.0
    error: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    # written with the message unless it is an error or a duplicate; a version that moved
    # on meanwhile fails the write with ResourceConflict
    resources: list[ResourceWrite] = field(default_factory=list)


@dataclass(slots=True)
class IngestResult:
    """The committed message id; duplicate_of is set when the message was a duplicate."""

    message_id: int
    duplicate_of: int | None = None
    handed_off: list[tuple[int, int, str]] = field(default_factory=list)  # (id, part, dest)


@dataclass(slots=True)
class QueueItem:
    """A claimed delivery: one part of one message for one destination."""

    delivery_id: int
    message_id: int
    part: int
    channel: str
    destination: str
    attempts: int
    correlation_id: str
    content_type: str
    content: bytes
    received_at: float
    metadata: dict[str, Any]


@dataclass(slots=True)
class Outcome:
    """The result of one delivery attempt, written back in a batch."""

    delivery_id: int
    status: Literal["sent", "retry", "dead", "filtered", "release"]
    error: str | None = None
    next_attempt_at: float | None = None
    encoded: Stage | None = None
    response: Stage | None = None
    counted: bool = True  # False for a released claim that was never attempted


@dataclass(slots=True)
class QueueStats:
    """Depth and oldest pending item of one destination queue."""

    channel: str
    destination: str
    depth: int
    dead: int
    oldest_received_at: float | None


@dataclass(slots=True)
class MessageSummary:
    """A row of `plexus messages list`."""

    message_id: int
    channel: str
    received_at: float
    status: str
    correlation_id: str
    business_key: str | None
    error: str | None


class Store(abc.ABC):
    """Durable messages, stage contents and one queue per destination."""

    _committer: GroupCommitter | None = None  # the writer, between open() and close()

    @abc.abstractmethod
    def open(self) -> None:
        """Create or migrate the schema and start the writer."""

    @abc.abstractmethod
    def close(self) -> None:
        """Flush pending writes and release connections."""

    @property
    def writable(self) -> bool:
        """True while the group-commit writer accepts writes."""
        return self._committer is not None and self._committer.alive

    def _writer(self) -> GroupCommitter:
        if self._committer is None:
            raise RuntimeError("store opened without a reactor: writes are not available")
        return self._committer

    # -- writes (group-committed) ------------------------------------------------
    @abc.abstractmethod
    def ingest(self, record: IngestRecord) -> Deferred[IngestResult]:
        """Commit a message, its stages and its queue rows in the next group commit."""

    @abc.abstractmethod
    def claim(self, channel: str, destination: str, limit: int, ordered: bool,
              lease_seconds: float) -> Deferred[list[QueueItem]]:
        """Lease up to `limit` due queue rows; ordered queues only hand out their head."""

    @abc.abstractmethod
    def complete(self, outcomes: list[Outcome]) -> Deferred[None]:
        """Record attempt outcomes: sent, retry at a time, dead, filtered or released."""

    # -- reads and admin actions (blocking) ------------------------------------
    @abc.abstractmethod
    def list_messages(self, channel: str | None = None, status: str | None = None,
                      correlation_id: str | None = None, business_key: str | None = None,
                      limit: int = 100, before_id: int | None = None) -> list[MessageSummary]:
        """Newest first, filtered."""

    @abc.abstractmethod
    def get_message(self, message_id: int) -> dict[str, Any] | None:
        """Everything about one message: row, stages, deliveries with their attempts."""

    @abc.abstractmethod
    def queue_stats(self) -> list[QueueStats]:
        """Depth, dead count and oldest pending item per destination queue."""

    @abc.abstractmethod
    def replay(self, message_ids: list[int], destination: str | None = None) -> int:
        """Queue the messages again (all destinations or one); returns rows requeued."""

    @abc.abstractmethod
    def replay_dead(self, channel: str, destination: str | None = None) -> int:
        """Requeue every dead delivery of a channel (or one destination)."""

    @abc.abstractmethod
    def next_number(self, name: str, count: int = 1) -> Deferred[int]:
        """Reserve `count` numbers of a persistent counter; fires with the first (from 1)."""

    @abc.abstractmethod
    def get_resource(self, channel: str, resource_type: str, resource_id: str
                     ) -> StoredResource | None:
        """The current version of a resource a source stored with its messages."""

    @abc.abstractmethod
    def find_resources(self, channel: str, keys: list[str], limit: int = 2
                       ) -> list[StoredResource]:
        """Resources holding every one of the identifier keys ("Type|system|value")."""

    @abc.abstractmethod
    def resource_of_message(self, channel: str, message_id: int) -> StoredResource | None:
        """The (first) resource written with a message: what a duplicate points back to."""

    @abc.abstractmethod
    def prune(self, channel: str, content_before: float, metadata_before: float,
              batch: int = 500) -> int:
        """Drop old content and old finished messages in small batches; returns rows hit."""
