"""When the store cannot commit, the MLLP sender gets AE, never AA, and the engine recovers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.channel import ChannelRuntime
from engine.config import parse_channel
from engine.steps import StepResolver
from engine.store.sqlite import SqliteStore
from protocols.mllp.client import MllpClient
from tests.e2e.hl7 import ack_fields, adt
from tests.unit.reactor_thread import reactor_thread, run_in_reactor  # noqa: F401

CHANNEL = """\
name: failing-store
source: {{type: mllp, host: 127.0.0.1, port: 0}}
destinations:
  - {{name: archive, type: file, directory: {out}}}
"""


@pytest.fixture
def running(tmp_path: Path, reactor_thread: Any) -> Iterator[tuple[SqliteStore, int]]:  # noqa: F811
    config = parse_channel(CHANNEL.format(out=tmp_path / "out"), "failing-store.yaml")
    store = SqliteStore(str(tmp_path / "plexus.db"), reactor_thread)

    def start() -> ChannelRuntime:
        store.open()
        channel = ChannelRuntime(config, store, reactor_thread, StepResolver(),
                                 poll_interval=0.1)
        channel.start_workers()
        channel.start_source()
        return channel

    channel = run_in_reactor(start)
    try:
        yield store, channel.source.address[1]
    finally:
        run_in_reactor(channel.stop)
        run_in_reactor(store.close)


def _set_query_only(store: SqliteStore, on: bool) -> None:
    """Make the write connection refuse writes, as a full or read-only disk would."""
    conn = store._committer._conn  # type: ignore[union-attr]
    run_in_reactor(conn.db.execute, f"PRAGMA query_only = {'ON' if on else 'OFF'}")


def test_store_failure_answers_ae_and_recovers(running: tuple[SqliteStore, int]) -> None:
    store, port = running
    with MllpClient("127.0.0.1", port) as client:
        assert ack_fields(client.send(adt("SF-1")))[:2] == ("AA", "SF-1")
        _set_query_only(store, True)
        code, ref, text = ack_fields(client.send(adt("SF-2")))
        assert (code, ref) == ("AE", "SF-2")
        assert "store" in text
        _set_query_only(store, False)
        assert ack_fields(client.send(adt("SF-3")))[:2] == ("AA", "SF-3")
    stored = {m.correlation_id for m in store.list_messages()}
    assert stored == {"SF-1", "SF-3"}  # SF-2 was refused, so its sender will resend it
