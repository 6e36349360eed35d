"""The engine: store, channels, workers, listeners, admin server and background jobs."""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from twisted.internet import defer, task, threads

from . import metrics
from .channel import ChannelRuntime
from .config import Settings
from .steps import StepResolver
from .store.base import Store

log = logging.getLogger("plexus.engine")


def open_store(settings: Settings, reactor: Any = None) -> Store:
    """The configured store backend (not yet opened)."""
    store = settings.store
    if store.backend == "postgres":
        from .store.postgres import PostgresStore

        assert store.dsn is not None  # the settings model requires it
        return PostgresStore(store.dsn, store.schema_name, reactor, node=store.node_id or "",
                             max_batch=store.max_batch, migrate=store.migrate,
                             writers=store.writers)
    from .store.sqlite import SqliteStore

    path = settings.store.path
    if not os.path.isabs(path):
        path = os.path.join(settings.data_dir, path)
    return SqliteStore(path, reactor, settings.store.max_batch, settings.store.commit_thread)


class Engine:
    """Runs a set of channels on one reactor."""

    def __init__(self, settings: Settings, channels: list[Any], reactor: Any,
                 admin_address: tuple[str, int] | None = None) -> None:
        self.settings = settings
        self.channel_configs = [c for c in channels if c.enabled]
        self.reactor = reactor
        self.admin_address = admin_address or (settings.admin.host, settings.admin.port)
        self.store = open_store(settings, reactor)
        self.channels: dict[str, ChannelRuntime] = {}
        self.admin_port: Any = None
        self._jobs: list[task.LoopingCall] = []
        self._ready = False
        self._stopping = False

    def start(self) -> None:
        """Open the store, build channels, start workers, listeners and the admin server."""
        self.store.open()
        # blocking sends (file writes, fsyncs) and store reads share the reactor's thread
        # pool: size it so every destination can keep max_in_flight sends going
        in_flight = sum(d.max_in_flight for c in self.channel_configs for d in c.destinations)
        self.reactor.suggestThreadPoolSize(max(10, in_flight + 4))
        resolver = StepResolver(self.settings.transforms_dir)
        for config in self.channel_configs:
            self.channels[config.name] = ChannelRuntime(
                config, self.store, self.reactor, resolver,
                poll_interval=self.settings.poll_interval, lease=self.settings.lease)
        from .admin import build_site
        host, port = self.admin_address
        self.admin_port = self.reactor.listenTCP(port, build_site(self), interface=host)
        log.info("admin server on http://%s:%d (/metrics, /healthz, /readyz)",
                 host, self.admin_port.getHost().port)
        for channel in self.channels.values():
            channel.start_workers()
        for channel in self.channels.values():
            channel.start_source()
        self._start_job(self._refresh_queue_metrics, self.settings.metrics_interval)
        self._start_job(self._prune, self.settings.prune_interval, now=False)
        self._ready = True
        log.info("plexus started with %d channel(s)", len(self.channels))

    def _start_job(self, fn: Any, interval: float, now: bool = True) -> None:
        job = task.LoopingCall(fn)
        job.clock = self.reactor
        job.start(interval, now=now).addErrback(
            lambda f: log.error("background job failed: %s", f.getTraceback()))
        self._jobs.append(job)

    @defer.inlineCallbacks
    def stop(self) -> Any:
        """Stop accepting, finish in-flight receipts and sends, close the store."""
        if self._stopping:
            return
        self._stopping = True
        self._ready = False
        log.info("plexus stopping: finishing in-flight work")
        for job in self._jobs:
            if job.running:
                job.stop()
        yield defer.DeferredList([c.stop() for c in self.channels.values()])
        if self.admin_port is not None:
            yield defer.maybeDeferred(self.admin_port.stopListening)
        self.store.close()
        log.info("plexus stopped")

    # -- health ------------------------------------------------------------------------
    def health(self) -> tuple[bool, str]:
        """Liveness: the reactor answers and the store writer is up."""
        if self._stopping:
            return True, "stopping"
        if not self.store.writable:
            return False, "store writer is not running"
        return True, "ok"

    def readiness(self) -> tuple[bool, str]:
        """Readiness: every channel's source is listening."""
        return (True, "ready") if self._ready else (False, "not ready")

    # -- background jobs ---------------------------------------------------------------
    @defer.inlineCallbacks
    def _refresh_queue_metrics(self) -> Any:
        stats = yield threads.deferToThread(self.store.queue_stats)
        now = time.time()
        seen = set()
        for s in stats:
            seen.add((s.channel, s.destination))
            metrics.QUEUE_DEPTH.labels(s.channel, s.destination).set(s.depth)
            metrics.QUEUE_DEAD.labels(s.channel, s.destination).set(s.dead)
            age = now - s.oldest_received_at if s.oldest_received_at else 0.0
            metrics.QUEUE_OLDEST_AGE.labels(s.channel, s.destination).set(max(0.0, age))
        for name, channel in self.channels.items():
            for dest in channel.workers:
                if (name, dest) not in seen:
                    metrics.QUEUE_DEPTH.labels(name, dest).set(0)
                    metrics.QUEUE_DEAD.labels(name, dest).set(0)
                    metrics.QUEUE_OLDEST_AGE.labels(name, dest).set(0)

    @defer.inlineCallbacks
    def _prune(self) -> Any:
        now = time.time()
        for config in self.channel_configs:
            retention = config.retention
            while not self._stopping:
                hit = yield threads.deferToThread(
                    self.store.prune, config.name, now - retention.content,
                    now - retention.metadata)
                if hit == 0:
                    break
