"""Things a listener sends after it has answered (async acks, MDNs): retried, else stored.

`SendLater.spawn(what, send, content, content_type, metadata)` runs `send()` in the background
up to `attempts` times with doubling pauses. A permanent failure, the last failed try or the
engine stopping ends it: what was to be sent is then stored as an error message of the channel
(status error, content as it would have gone out), so it is visible and can be resent by hand.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from twisted.internet import defer, task

from engine.errors import DeliveryError, PermanentDeliveryError, RejectedError, StoreError
from engine.logs import loggable
from engine.message import Message

log = logging.getLogger("plexus.source")


class SendLater:
    """Background sends of one source, with retries and a stored fallback."""

    def __init__(self, channel: str, reactor: Any, ingest: Any, attempts: int,
                 first_pause: float) -> None:
        self.channel = channel
        self.reactor = reactor
        self.ingest = ingest
        self.attempts = attempts
        self.first_pause = first_pause
        self.pending: set[defer.Deferred[None]] = set()
        self.stopping = False

    def spawn(self, what: str, send: Callable[[], Awaitable[Any]], content: bytes,
              content_type: str, metadata: dict[str, Any]) -> None:
        """Start sending; returns at once."""
        d = defer.Deferred.fromCoroutine(self._deliver(what, send, content, content_type,
                                                       metadata))
        self.pending.add(d)
        d.addBoth(lambda _: self.pending.discard(d))

    @defer.inlineCallbacks
    def stop(self) -> Any:
        """End pending retries (what they held is stored) and wait for them."""
        self.stopping = True
        for d in list(self.pending):
            d.cancel()
        if self.pending:
            yield defer.DeferredList(list(self.pending))

    async def _deliver(self, what: str, send: Callable[[], Awaitable[Any]], content: bytes,
                       content_type: str, metadata: dict[str, Any]) -> None:
        pause = self.first_pause
        error: Exception | None = None
        for attempt in range(1, self.attempts + 1):
            try:
                await send()
                return
            except defer.CancelledError:
                error = error or DeliveryError("the engine stopped before it was sent")
                break
            except PermanentDeliveryError as exc:
                error = exc
                break
            except Exception as exc:  # a bug or an unexpected answer: try again, then keep it
                error = exc
            if attempt == self.attempts or self.stopping:
                break
            log.info("channel %s: %s failed (attempt %d), retry in %.1fs: %s", self.channel,
                     what, attempt, pause, loggable(error))
            try:
                await task.deferLater(self.reactor, pause, lambda: None)
            except defer.CancelledError:
                break
            pause *= 2
        log.error("channel %s: %s was not delivered: %s; kept as an error message",
                  self.channel, what, loggable(error))
        await store_refusal(self.ingest, self.channel, content,
                            f"{what} was not delivered: {error}", None,
                            {**metadata, "undelivered": what}, content_type)


async def store_refusal(ingest: Any, channel: str, content: bytes, reason: str,
                        location: str | None, metadata: dict[str, Any],
                        content_type: str) -> None:
    """Store `content` as a refused message of the channel; a store failure is only logged."""
    try:
        await ingest(Message(content, content_type, metadata=metadata),
                     RejectedError(reason, location))
    except StoreError as exc:
        log.error("channel %s: refusal not stored: %s", channel, loggable(exc))
