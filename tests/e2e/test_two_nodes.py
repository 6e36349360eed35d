"""Two `plexus run` nodes on one PostgreSQL: traffic to both, one killed with -9 mid-load.

Every message that got AA is delivered exactly once to the idempotent file destination
(a file per correlation id) and reaches the ordered MLLP destination in the order each
sender sent it, whichever node took it in or drained the queue.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from protocols.mllp.client import MllpClient
from tests.mllp_server import AckServer, control_id_of, start_ack_server
from tests.unit.reactor_thread import run_in_reactor
from tests.unit.store_suite import PG_DSN, drop_pg_schema, pg_schema_for

from .engine_process import EngineProcess, free_port
from .hl7 import ack_fields, adt

CHANNEL = """\
name: orders
source:
  type: mllp
  host: 127.0.0.1
  port: ${{MLLP_PORT}}
  duplicate_window: 1h
destinations:
  - name: archive
    type: file
    directory: {out}
    filename: "{{correlation_id}}.hl7"
  - name: erp
    type: mllp
    host: 127.0.0.1
    port: {erp_port}
    ordered: true
    batch_size: 10
    retry: {{attempts: 100, initial_interval: 100ms, max_interval: 1s}}
"""

SETTINGS = """\
store: {{backend: postgres, dsn: "{dsn}", schema: {schema}, node_id: {node}}}
lease: 2s
poll_interval: 100ms
metrics_interval: 200ms
"""


def _sender(port: int, prefix: str, acked: list[str], stop: threading.Event) -> None:
    n = 0
    try:
        with MllpClient("127.0.0.1", port, timeout=10) as client:
            while not stop.is_set():
                cid = f"{prefix}-{n:05d}"
                if ack_fields(client.send(adt(cid)))[:2] == ("AA", cid):
                    acked.append(cid)
                n += 1
    except (OSError, TimeoutError, ConnectionError):
        return  # the node died under us: expected for node a's senders


@pytest.fixture
def erp(reactor_thread: Any) -> Any:
    server: AckServer = run_in_reactor(start_ack_server, reactor_thread)
    yield server
    run_in_reactor(server.stop)


@pytest.mark.slow
def test_two_nodes_one_killed_deliver_every_acked_message_once_and_in_order(
        tmp_path: Path, erp: AckServer) -> None:
    schema = pg_schema_for(tmp_path)
    out = tmp_path / "out"
    channel = CHANNEL.format(out=out, erp_port=erp.port)
    nodes = {}
    for name in ("a", "b"):
        port = free_port()
        (tmp_path / name).mkdir()
        nodes[name] = (EngineProcess(
            tmp_path / name, {"orders": channel}, env={"MLLP_PORT": str(port)},
            log_level="warning",
            settings=SETTINGS.format(dsn=PG_DSN, schema=schema, node=f"node-{name}")), port)
    a, b = nodes["a"][0], nodes["b"][0]
    acked: dict[str, list[str]] = {f"{n}{i}": [] for n in "ab" for i in range(3)}
    stop = threading.Event()
    threads = [threading.Thread(target=_sender, args=(nodes[key[0]][1], key, acked[key], stop))
               for key in acked]
    try:
        a.start()
        b.start()
        for t in threads:
            t.start()
        deadline = time.monotonic() + 60
        while sum(map(len, acked.values())) < 300 and time.monotonic() < deadline:
            time.sleep(0.05)
        a.kill()  # SIGKILL: its leased rows and the ordered queue's lease are left behind
        b.wait_for(lambda: sum(len(v) for k, v in acked.items() if k[0] == "b") >= 300,
                   timeout=60, what="traffic to node b after the kill")
        stop.set()
        for t in threads:
            t.join(15)

        everything = {cid for cids in acked.values() for cid in cids}
        b.wait_for(lambda: everything <= {p.stem for p in out.glob("*.hl7")}, timeout=120,
                   what="every acknowledged message in the archive")
        b.wait_for(lambda: everything <= {control_id_of(m) for m in erp.received},
                   timeout=120, what="every acknowledged message at the ordered ERP")
        # what node a committed but had not yet ACKed is delivered too, once its leases
        # run out: the queue empties, it is not merely served past
        b.wait_for(lambda: b.metric("plexus_queue_depth", channel="orders",
                                    destination="archive") == 0,
                   timeout=30, what="the archive queue to empty")
    finally:
        stop.set()
        for node, _ in nodes.values():
            node.kill()
        drop_pg_schema(schema)

    # exactly once at the idempotent destination: one whole file per control id
    for path in out.glob("*.hl7"):
        assert f"|{path.stem}|".encode() in path.read_bytes()
    # in order at the ordered destination, per sender: at-least-once may resend what the
    # killed node had sent but not yet marked (at most its claimed batch), in the same order
    received = [control_id_of(m) for m in erp.received]
    for sender, cids in acked.items():
        firsts = list(dict.fromkeys(cid for cid in received if cid.startswith(sender + "-")))
        assert firsts == sorted(firsts), f"{sender} out of order"
        assert set(cids) <= set(firsts)
    assert len(received) - len(set(received)) <= 10  # one claimed batch of the dead node
