"""One worker per destination: claims batches from its queue, sends, writes outcomes back.

The store owns attempt counts and retry times; the worker only decides, per attempt,
sent / retry at T / dead. Ordered destinations send one at a time and a failing head
holds only their own queue.
"""

from __future__ import annotations

import logging
import random
import time
from typing import Any

from twisted.internet import defer

from . import metrics
from .errors import MessageError, PermanentDeliveryError, RetryableDeliveryError, StoreError
from .message import Message
from .steps import Step, StepContext, run_filters, run_transforms
from .store.base import Outcome, QueueItem, Stage, Store

log = logging.getLogger("plexus.delivery")


class DestinationWorker:
    """Drains one destination queue with the destination's connector."""

    def __init__(self, channel: str, config: Any, connector: Any, store: Store, reactor: Any,
                 filters: list[Step], transforms: list[Step], poll_interval: float = 1.0,
                 lease: float = 60.0) -> None:
        self.channel = channel
        self.config = config
        self.name: str = config.name
        self.connector = connector
        self.store = store
        self.reactor = reactor
        self.filters = filters
        self.transforms = transforms
        self.poll_interval = poll_interval
        self.lease = lease
        self._running = False
        self._wakeup: defer.Deferred[None] | None = None
        self._woken = False
        self._loop: defer.Deferred[None] | None = None
        self._next_due: float | None = None

    def start(self) -> None:
        """Begin the claim/send loop."""
        self._running = True
        self._loop = defer.ensureDeferred(self._run())
        self._loop.addErrback(lambda f: log.error("worker %s/%s stopped: %s", self.channel,
                                                  self.name, f.getTraceback()))

    @defer.inlineCallbacks
    def stop(self) -> Any:
        """Finish the batch in hand, then close the connector."""
        self._running = False
        self.wake()
        if self._loop is not None:
            yield self._loop
        close = getattr(self.connector, "close", None)
        if close is not None:
            yield defer.ensureDeferred(_maybe_coro(close()))

    def wake(self) -> None:
        """New work may be waiting: stop sleeping."""
        self._woken = True
        if self._wakeup is not None and not self._wakeup.called:
            d, self._wakeup = self._wakeup, None
            d.callback(None)

    async def _sleep(self, seconds: float) -> None:
        if self._woken:
            self._woken = False
            return
        d: defer.Deferred[None] = defer.Deferred()
        self._wakeup = d
        call = self.reactor.callLater(max(0.0, seconds), self.wake)
        await d
        if call.active():
            call.cancel()
        self._woken = False

    async def _run(self) -> None:
        limit = 1 if self.config.ordered else self.config.batch_size
        while self._running:
            self._woken = False
            try:
                items = await self.store.claim(self.channel, self.name, limit,
                                               self.config.ordered, self.lease)
            except StoreError as exc:
                log.error("claim failed for %s/%s: %s", self.channel, self.name, exc)
                await self._sleep(self.poll_interval)
                continue
            if not items:
                await self._sleep(self._idle_wait())
                continue
            if self.config.ordered:
                outcomes = await self._send_in_order(items)
            else:
                outcomes = await self._send_concurrently(items)
            try:
                await self.store.complete(outcomes)
            except StoreError as exc:
                # the leases expire and the rows are claimed again: at-least-once holds
                log.error("recording outcomes failed for %s/%s: %s", self.channel, self.name, exc)
                await self._sleep(self.poll_interval)
                continue
            self._count(outcomes)

    def _idle_wait(self) -> float:
        if self._next_due is None:
            return self.poll_interval
        wait = self._next_due - time.time()
        self._next_due = None
        return min(self.poll_interval, max(0.01, wait))

    async def _send_in_order(self, items: list[QueueItem]) -> list[Outcome]:
        outcomes: list[Outcome] = []
        for index, item in enumerate(items):
            outcome = await self._deliver(item)
            outcomes.append(outcome)
            if outcome.status == "retry":
                outcomes.extend(Outcome(i.delivery_id, "release", counted=False)
                                for i in items[index + 1:])
                break
        return outcomes

    async def _send_concurrently(self, items: list[QueueItem]) -> list[Outcome]:
        semaphore = defer.DeferredSemaphore(self.config.max_in_flight)
        results = await defer.gatherResults(
            [semaphore.run(lambda i=item: defer.ensureDeferred(self._deliver(i)))
             for item in items], consumeErrors=True)
        return list(results)

    async def _deliver(self, item: QueueItem) -> Outcome:
        started = time.perf_counter()
        message = Message(item.content, item.content_type, correlation_id=item.correlation_id,
                          metadata=item.metadata, channel=self.channel,
                          message_id=item.message_id,
                          idempotency_key=f"{self.channel}-{item.message_id}"
                          + (f"-{item.part}" if item.part else ""))
        context = StepContext(self.channel, self.name)
        encoded: Stage | None = None
        try:
            if self.filters and run_filters(self.filters, message, context) is not None:
                return Outcome(item.delivery_id, "filtered")
            outgoing = run_transforms(self.transforms, message, context) \
                if self.transforms else [message]
            if not outgoing:
                return Outcome(item.delivery_id, "filtered")
            if self.transforms:
                encoded = Stage(f"encoded:{self.name}", b"\n".join(m.content for m in outgoing),
                                outgoing[0].content_type)
            response = None
            for out in outgoing:
                response = await defer.ensureDeferred(_maybe_coro(self.connector.send(out)))
        except RetryableDeliveryError as exc:
            return self._retry(item, str(exc), exc.retry_after, encoded)
        except (PermanentDeliveryError, MessageError) as exc:
            log.warning("delivery %s/%s of message %s is dead: %s", self.channel, self.name,
                        item.message_id, exc, extra={"message_id": item.message_id,
                                                     "correlation_id": item.correlation_id})
            return Outcome(item.delivery_id, "dead", error=str(exc), encoded=encoded)
        except Exception as exc:  # a connector bug: retry, never lose the message
            return self._retry(item, f"unexpected error: {exc!r}", None, encoded)
        finally:
            metrics.STAGE_DURATION.labels(self.channel, "deliver").observe(
                time.perf_counter() - started)
        stage_response = None
        if isinstance(response, bytes | str) and response:
            body = response if isinstance(response, bytes) else response.encode()
            stage_response = Stage(f"response:{self.name}", body, "text")
        return Outcome(item.delivery_id, "sent", encoded=encoded, response=stage_response)

    def _retry(self, item: QueueItem, error: str, retry_after: float | None,
               encoded: Stage | None) -> Outcome:
        attempt = item.attempts + 1
        policy = self.config.retry
        if attempt >= policy.attempts:
            log.warning("delivery %s/%s of message %s is dead after %d attempts: %s",
                        self.channel, self.name, item.message_id, attempt, error,
                        extra={"message_id": item.message_id,
                               "correlation_id": item.correlation_id})
            return Outcome(item.delivery_id, "dead", error=error, encoded=encoded)
        delay = policy.delay(attempt, random.random())
        if retry_after is not None:
            delay = max(delay, min(retry_after, policy.max_interval))
        next_at = time.time() + delay
        if self._next_due is None or next_at < self._next_due:
            self._next_due = next_at
        log.info("delivery %s/%s of message %s failed (attempt %d), retry in %.1fs: %s",
                 self.channel, self.name, item.message_id, attempt, delay, error,
                 extra={"message_id": item.message_id, "correlation_id": item.correlation_id})
        return Outcome(item.delivery_id, "retry", error=error, next_attempt_at=next_at,
                       encoded=encoded)

    def _count(self, outcomes: list[Outcome]) -> None:
        for o in outcomes:
            if o.status == "sent":
                metrics.MESSAGES_SENT.labels(self.channel, self.name).inc()
            elif o.status == "retry":
                metrics.MESSAGES_ERRORED.labels(self.channel, self.name).inc()
            elif o.status == "dead":
                metrics.MESSAGES_ERRORED.labels(self.channel, self.name).inc()
                metrics.MESSAGES_DEAD_LETTERED.labels(self.channel, self.name).inc()


async def _maybe_coro(value: Any) -> Any:
    if hasattr(value, "__await__") or isinstance(value, defer.Deferred):
        return await value
    return value


