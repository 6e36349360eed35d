"""Retention: old content is pruned in the background while the listener keeps answering."""

from __future__ import annotations

import json
from pathlib import Path

from protocols.mllp.client import MllpClient

from .engine_process import EngineProcess, free_port
from .hl7 import ack_fields, adt

CHANNEL = """\
name: short-memory
source: {{type: mllp, host: 127.0.0.1, port: {port}}}
retention: {{content: 5s, metadata: 1h}}
destinations:
  - {{name: archive, type: file, directory: {out}}}
"""


def test_content_is_pruned_and_metadata_kept(tmp_path: Path) -> None:
    port = free_port()
    proc = EngineProcess(tmp_path, {"short-memory": CHANNEL.format(port=port,
                                                                   out=tmp_path / "out")},
                         settings="prune_interval: 300ms\n")
    with proc, MllpClient("127.0.0.1", port) as client:
        assert ack_fields(client.send(adt("RET-1")))[0] == "AA"
        first = json.loads(proc.cli("messages", "list", "--json").stdout)[0]["message_id"]

        def pruned() -> bool:
            shown = json.loads(proc.cli("messages", "show", str(first)).stdout)
            return shown["stages"] == [] and shown["status"] == "sent"

        proc.wait_for(pruned, timeout=30, what="content pruned")
        # the listener answers while pruning runs, and new content is kept until it ages
        assert ack_fields(client.send(adt("RET-2")))[0] == "AA"
        listed = json.loads(proc.cli("messages", "list", "--json").stdout)
        newest = json.loads(proc.cli("messages", "show", str(listed[0]["message_id"])).stdout)
        assert newest["correlation_id"] == "RET-2" and newest["stages"]
        assert {m["correlation_id"] for m in listed} == {"RET-1", "RET-2"}  # metadata kept
