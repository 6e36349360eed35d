"""One worker per destination: claims batches from its queue, sends, writes outcomes back.

The store owns attempt counts and retry times; the worker only decides, per attempt,
sent / retry at T / dead. Ordered destinations send one at a time and a failing head
holds only their own queue.
"""

from __future__ import annotations

import logging
import random
import time
from collections import deque
from typing import Any

from twisted.internet import defer

from . import metrics
from .errors import MessageError, PermanentDeliveryError, RetryableDeliveryError, StoreError
from .logs import loggable
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
        self._in_flight: dict[int, defer.Deferred[None]] = {}
        self._deliver_time = metrics.STAGE_DURATION.labels(channel, "deliver")
        self._sent = metrics.MESSAGES_SENT.labels(channel, self.name)
        self._errored = metrics.MESSAGES_ERRORED.labels(channel, self.name)
        self._dead = metrics.MESSAGES_DEAD_LETTERED.labels(channel, self.name)
        self._buffer: deque[QueueItem] = deque()
        self._held: set[int] = set()  # delivery ids in the buffer or in flight
        self._caught_up = False  # the last claim found less than it asked for
        self._claim_needed = True  # rows may be queued that nobody has claimed yet

    def start(self) -> None:
        """Begin the claim/send loop."""
        self._running = True
        self._loop = defer.ensureDeferred(self._run())
        self._loop.addErrback(self._crashed)

    def _crashed(self, failure: Any) -> None:
        """A bug in the loop must not stop deliveries for good: log it and start again."""
        log.error("worker %s/%s failed, restarting: %s", self.channel, self.name,
                  failure.getTraceback())
        self.reactor.callLater(self.poll_interval, self._restart)

    def _restart(self) -> None:
        if self._running:  # not stopped meanwhile
            self.start()

    @defer.inlineCallbacks
    def stop(self) -> Any:
        """Finish the batch in hand, then close the connector."""
        self._running = False
        self.wake()
        if self._loop is not None:
            yield self._loop
        if self._in_flight:
            yield defer.DeferredList(list(self._in_flight.values()))
        close = getattr(self.connector, "close", None)
        if close is not None:
            yield defer.ensureDeferred(_maybe_coro(close()))

    def can_take_handoff(self) -> bool:
        """True when new rows may skip the queue claim: unordered, no backlog, a free slot."""
        return (self._running and not self.config.ordered and self._caught_up
                and len(self._held) < self.config.max_in_flight)

    def take(self, item: QueueItem) -> None:
        """A row leased to us in the ingest transaction: send it without a claim."""
        if item.delivery_id not in self._held:
            self._held.add(item.delivery_id)
            self._buffer.append(item)
        self._kick()

    def wake(self) -> None:
        """New rows may be waiting in the queue: stop sleeping and claim."""
        self._claim_needed = True
        self._kick()

    def _kick(self) -> None:
        """Stop sleeping (work in hand or a free slot), without a claim of its own."""
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
        call = self.reactor.callLater(max(0.0, seconds), self.wake)  # poll the queue
        await d
        if call.active():
            call.cancel()
        self._woken = False

    async def _run(self) -> None:
        if self.config.ordered:
            await self._run_ordered()
        else:
            await self._run_pipelined()

    async def _run_ordered(self) -> None:
        """Claim the head of the queue, send one at a time, record the batch."""
        while self._running:
            self._woken = False
            try:
                items = await self.store.claim(self.channel, self.name, self.config.batch_size,
                                               True, self.lease)
            except StoreError as exc:
                log.error("claim failed for %s/%s: %s", self.channel, self.name, exc)
                await self._sleep(self.poll_interval)
                continue
            if not items:
                await self._sleep(self._idle_wait())
                continue
            outcomes = await self._send_in_order(items)
            try:
                await self.store.complete(outcomes)
            except StoreError as exc:
                # the leases expire and the rows are claimed again: at-least-once holds
                log.error("recording outcomes failed for %s/%s: %s", self.channel, self.name, exc)
                await self._sleep(self.poll_interval)
                continue
            self._count(outcomes)

    async def _run_pipelined(self) -> None:
        """Keep up to max_in_flight sends going; each records its own outcome when done."""
        buffer = self._buffer
        limit = self.config.max_in_flight
        while self._running:
            self._woken = False
            if len(self._in_flight) >= limit:
                await self._sleep(self.poll_interval)  # a finished send wakes us
                continue
            if not buffer:
                if self._caught_up and not self._claim_needed:
                    # nothing new was queued: wait for a hand-off, a wake-up or the poll
                    await self._sleep(self._idle_wait())
                    continue
                self._claim_needed = False
                asked = min(self.config.batch_size, 2 * limit)
                try:
                    claimed = await self.store.claim(self.channel, self.name, asked, False,
                                                     self.lease)
                except StoreError as exc:
                    log.error("claim failed for %s/%s: %s", self.channel, self.name, exc)
                    await self._sleep(self.poll_interval)
                    continue
                self._caught_up = len(claimed) < asked
                # a lease that ran out while we still hold the row must not send it twice
                for item in claimed:
                    if item.delivery_id not in self._held:
                        self._held.add(item.delivery_id)
                        buffer.append(item)
                if not buffer:
                    await self._sleep(self._idle_wait())
                    continue
            while buffer and len(self._in_flight) < limit:
                item = buffer.popleft()
                self._in_flight[item.delivery_id] = defer.ensureDeferred(self._send_one(item))
        while buffer:  # stopping: give back what was claimed but not started
            item = buffer.popleft()
            self._held.discard(item.delivery_id)
            await self._complete_quietly([Outcome(item.delivery_id, "release", counted=False)])

    async def _send_one(self, item: QueueItem) -> None:
        try:
            outcome = await self._deliver(item)
            await self._complete_quietly([outcome])
        finally:
            self._in_flight.pop(item.delivery_id, None)
            self._held.discard(item.delivery_id)
            if self._buffer or not self._caught_up or self._claim_needed \
                    or self._next_due is not None:
                self._kick()  # work waits for the freed slot; else the loop has nothing to do

    async def _complete_quietly(self, outcomes: list[Outcome]) -> None:
        try:
            await self.store.complete(outcomes)
        except StoreError as exc:
            # the lease expires and the row is claimed again: at-least-once holds
            log.error("recording outcomes failed for %s/%s: %s", self.channel, self.name, exc)
            return
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
                response = await _maybe_coro(self.connector.send(out))
        except RetryableDeliveryError as exc:
            return self._retry(item, str(exc), exc.retry_after, encoded)
        except (PermanentDeliveryError, MessageError) as exc:
            log.warning("delivery %s/%s of message %s is dead: %s", self.channel, self.name,
                        item.message_id, loggable(exc), extra={"message_id": item.message_id,
                                                     "correlation_id": item.correlation_id})
            return Outcome(item.delivery_id, "dead", error=str(exc), encoded=encoded)
        except Exception as exc:  # a connector bug: retry, never lose the message
            return self._retry(item, f"unexpected error: {exc!r}", None, encoded)
        finally:
            self._deliver_time.observe(time.perf_counter() - started)
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
                        self.channel, self.name, item.message_id, attempt, loggable(error),
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
                 self.channel, self.name, item.message_id, attempt, delay, loggable(error),
                 extra={"message_id": item.message_id, "correlation_id": item.correlation_id})
        return Outcome(item.delivery_id, "retry", error=error, next_attempt_at=next_at,
                       encoded=encoded)

    def _count(self, outcomes: list[Outcome]) -> None:
        for o in outcomes:
            if o.status == "sent":
                self._sent.inc()
            elif o.status == "retry":
                self._errored.inc()
            elif o.status == "dead":
                self._errored.inc()
                self._dead.inc()


async def _maybe_coro(value: Any) -> Any:
    if hasattr(value, "__await__") or isinstance(value, defer.Deferred):
        return await value
    return value


