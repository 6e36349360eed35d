"""A running channel: ingest (filters, transforms, one durable commit) and its destinations."""

from __future__ import annotations

import logging
import time
from typing import Any

from twisted.internet import defer

from . import metrics
from .destination_worker import DestinationWorker
from .errors import MessageError, TransformError
from .message import Message, Receipt
from .steps import StepContext, StepResolver, build_steps, run_filters, run_transforms
from .store.base import IngestRecord, IngestResult, QueueItem, ResourceWrite, Stage, Store

log = logging.getLogger("plexus.channel")


class ChannelRuntime:
    """Owns a channel's source, its steps and one worker per destination."""

    def __init__(self, config: Any, store: Store, reactor: Any, resolver: StepResolver,
                 poll_interval: float = 1.0, lease: float = 60.0) -> None:
        from . import registry
        from .connector import ConnectorContext

        self.config = config
        self.name: str = config.name
        self.store = store
        self.reactor = reactor
        self.filters = build_steps(config.filters, resolver)
        self.transforms = build_steps(config.transforms, resolver)
        self.duplicate_window: float = getattr(config.source, "duplicate_window", 0.0) or 0.0
        self.workers: dict[str, DestinationWorker] = {}
        for dest_cfg in config.destinations:
            cls = registry.destination_class(dest_cfg.type)
            context = ConnectorContext(self.name, dest_cfg.name, reactor,
                                       logging.getLogger(f"plexus.destination.{dest_cfg.type}"),
                                       store=store)
            self.workers[dest_cfg.name] = DestinationWorker(
                self.name, dest_cfg, cls(dest_cfg, context), store, reactor,
                build_steps(dest_cfg.filters, resolver), build_steps(dest_cfg.transforms, resolver),
                poll_interval=poll_interval, lease=lease)
        # metric children bound once: labels() per message is measurable on the hot path
        self._received = metrics.MESSAGES_RECEIVED.labels(self.name)
        self._receive_time = metrics.STAGE_DURATION.labels(self.name, "receive")
        self._filtered = metrics.MESSAGES_FILTERED.labels(self.name)
        source_cls = registry.source_class(config.source.type)
        self.source = source_cls(config.source, self.ingest, ConnectorContext(
            self.name, "source", reactor, logging.getLogger(f"plexus.source.{config.source.type}"),
            store=store))

    # -- lifecycle ------------------------------------------------------------------
    def start_workers(self) -> None:
        """Start draining every destination queue."""
        for worker in self.workers.values():
            worker.start()

    def start_source(self) -> Any:
        """Start listening/polling; returns what the source's start returns."""
        return self.source.start()

    @defer.inlineCallbacks
    def stop(self) -> Any:
        """Stop the source (finishing in-flight receipts), then the workers."""
        yield defer.maybeDeferred(self.source.stop)
        yield defer.DeferredList([w.stop() for w in self.workers.values()])

    # -- the receive path ----------------------------------------------------------
    def ingest(self, message: Message, rejection: MessageError | None = None, *,
               resources: list[ResourceWrite] | None = None) -> defer.Deferred[Receipt]:
        """Filter and transform in memory, then commit; fires after the commit.

        `resources` are kept with the message for sources that serve them back (FHIR);
        a stale version fails the commit with a StoreError caused by ResourceConflict.
        """
        started = time.perf_counter()
        received_at = time.time()
        self._received.inc()
        message.channel = self.name
        raw = Stage("raw", message.content, message.content_type)
        record = IngestRecord(
            channel=self.name, received_at=received_at, status="received",
            content_type=message.content_type, correlation_id=message.correlation_id,
            stages=[raw], business_key=message.business_key,
            idempotency_key=message.idempotency_key, duplicate_window=self.duplicate_window,
            metadata=message.metadata, resources=resources or [])
        error: MessageError | None = rejection
        if error is None:
            try:
                error = self._route(message, record)
            except MessageError as exc:
                error = exc
            except Exception as exc:  # a bug in a step must never take the listener down
                error = TransformError(f"unexpected error: {exc!r}")
        if error is not None:
            record.status = "error"
            record.error = str(error)
            record.destinations = []
            record.stages = [raw]
        d = self.store.ingest(record)
        d.addCallback(self._receipt, record, error, started, rejection is not None)
        return d

    def _route(self, message: Message, record: IngestRecord) -> MessageError | None:
        context = StepContext(self.name)
        if self.filters and run_filters(self.filters, message, context) is not None:
            record.status = "filtered"
            return None
        parts = run_transforms(self.transforms, message, context) if self.transforms \
            else [message]
        if not parts:
            record.status = "filtered"
            return None
        for index, part in enumerate(parts):
            record.stages.append(Stage("transformed", part.content, part.content_type, index))
            record.destinations.extend((index, name) for name in self.workers)
        for name, worker in self.workers.items():
            if worker.can_take_handoff():
                record.handoff[name] = worker.lease
        return None

    def _receipt(self, result: IngestResult, record: IngestRecord, error: MessageError | None,
                 started: float, rejected: bool) -> Receipt:
        self._receive_time.observe(time.perf_counter() - started)
        if error is not None:
            reason = error.reason if rejected else "content"
            metrics.SOURCE_REJECTED.labels(self.name, reason).inc()
            metrics.MESSAGES_ERRORED.labels(self.name, "").inc()
            return Receipt("rejected" if rejected else "error", result.message_id, error)
        if result.duplicate_of is not None:
            metrics.MESSAGES_DUPLICATE.labels(self.name).inc()
            return Receipt("duplicate", result.message_id,
                           details={"duplicate_of": result.duplicate_of})
        if record.status == "filtered":
            self._filtered.inc()
            return Receipt("filtered", result.message_id)
        if result.handed_off:
            contents = {s.part: s for s in record.stages if s.stage == "transformed"}
            for delivery_id, part, name in result.handed_off:
                stage = contents[part]
                self.workers[name].take(QueueItem(
                    delivery_id, result.message_id, part, self.name, name, 0,
                    record.correlation_id, stage.content_type, stage.content,
                    record.received_at, record.metadata))
        for name in {dest for _, dest in record.destinations} - set(record.handoff):
            self.workers[name].wake()
        return Receipt("accepted", result.message_id)
