"""Destination queues end to end: outage and order, dead letter and replay, SIGTERM."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from protocols.mllp.client import MllpClient
from tests.mllp_server import control_id_of, start_ack_server
from tests.unit.reactor_thread import run_in_reactor

from .engine_process import EngineProcess, free_port
from .hl7 import ack_fields, adt

FORWARD = """\
name: forward
source: {{type: mllp, host: 127.0.0.1, port: {port}}}
destinations:
  - name: downstream
    type: mllp
    host: 127.0.0.1
    port: {downstream}
    ack_timeout: 2s
    connect_timeout: 1s
    ordered: true
    retry: {{attempts: {attempts}, initial_interval: 100ms, max_interval: 500ms}}
  - name: archive
    type: file
    directory: {out}
    filename: "{{correlation_id}}.hl7"
"""


def _engine(tmp_path: Path, attempts: int = 100) -> tuple[EngineProcess, int, int]:
    port, downstream = free_port(), free_port()
    text = FORWARD.format(port=port, downstream=downstream, attempts=attempts,
                          out=tmp_path / "out")
    return EngineProcess(tmp_path, {"forward": text}), port, downstream


def test_outage_then_recovery_delivers_everything_in_order(tmp_path: Path,
                                                           reactor_thread: Any) -> None:
    proc, port, downstream = _engine(tmp_path)
    ids = [f"OUT-{i:03d}" for i in range(30)]
    with proc:
        with MllpClient("127.0.0.1", port) as c:
            for cid in ids:
                assert ack_fields(c.send(adt(cid)))[0] == "AA"
        # the other destination is not held up by the failing one
        proc.wait_for(lambda: all((tmp_path / "out" / f"{i}.hl7").exists() for i in ids),
                      what="archive while downstream is down")
        proc.wait_for(lambda: proc.metric("plexus_messages_errored_total", channel="forward",
                                          destination="downstream") >= 1, what="retries")
        server = run_in_reactor(start_ack_server, reactor_thread, downstream)
        try:
            proc.wait_for(lambda: len(server.received) >= len(ids), timeout=60,
                          what="delivery after the outage")
            assert [control_id_of(p) for p in server.received] == ids
        finally:
            run_in_reactor(server.stop)


def test_dead_letter_and_replay_through_the_cli(tmp_path: Path, reactor_thread: Any) -> None:
    proc, port, downstream = _engine(tmp_path, attempts=2)
    server = run_in_reactor(start_ack_server, reactor_thread, downstream, "AR")
    try:
        with proc:
            with MllpClient("127.0.0.1", port) as c:
                assert ack_fields(c.send(adt("DLQ-1")))[0] == "AA"
                assert ack_fields(c.send(adt("DLQ-2")))[0] == "AA"
            proc.wait_for(lambda: proc.metric("plexus_messages_dead_lettered_total",
                                              channel="forward", destination="downstream") >= 2,
                          what="dead letters")
            dead = json.loads(proc.cli("messages", "list", "--status", "dead", "--json").stdout)
            assert {m["correlation_id"] for m in dead} == {"DLQ-1", "DLQ-2"}
            shown = json.loads(proc.cli("messages", "show", str(dead[0]["message_id"])).stdout)
            downstream_delivery = next(d for d in shown["deliveries"]
                                       if d["destination"] == "downstream")
            assert downstream_delivery["status"] == "dead"
            assert "AR" in downstream_delivery["last_error"]
            assert downstream_delivery["history"]
            server.mode = "AA"
            before = len(server.received)
            out = proc.cli("replay", "--dead-letter", "--channel", "forward",
                           "--destination", "downstream")
            assert out.returncode == 0 and "2 deliveries" in out.stdout
            proc.wait_for(lambda: len(server.received) >= before + 2, what="replayed delivery")
            proc.wait_for(lambda: not json.loads(proc.cli("messages", "list", "--status", "dead",
                                                          "--json").stdout),
                          what="dead-letter queue empty")
            one = proc.cli("replay", str(dead[0]["message_id"]), "--destination", "downstream")
            assert "1 deliveries" in one.stdout
            proc.wait_for(lambda: len(server.received) >= before + 3, what="replay by id")
            assert proc.stop() == 0
    finally:
        run_in_reactor(server.stop)


def test_sigterm_finishes_and_exits_zero(tmp_path: Path) -> None:
    proc, port, _ = _engine(tmp_path)
    proc.start()
    try:
        with MllpClient("127.0.0.1", port) as c:
            assert ack_fields(c.send(adt("TERM-1")))[0] == "AA"
        assert proc.stop() == 0
        assert '"plexus stopped"' in proc.log()
    finally:
        proc.kill()
