"""Crash test: kill -9 the engine while 8 connections send; every AA'd message is delivered."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from pathlib import Path

from protocols.mllp.client import MllpClient

from .engine_process import EngineProcess, free_port
from .hl7 import ack_fields, adt

CHANNEL = """\
name: crash
source: {{type: mllp, host: 127.0.0.1, port: {port}}}
destinations:
  - name: archive
    type: file
    directory: {out}
    filename: "{{correlation_id}}.hl7"
"""


def _sender(port: int, prefix: str, acked: list[str], stop: threading.Event) -> None:
    n = 0
    try:
        with MllpClient("127.0.0.1", port, timeout=5) as c:
            while not stop.is_set():
                cid = f"{prefix}-{n:06d}"
                reply = c.send(adt(cid))
                if ack_fields(reply)[:2] == ("AA", cid):
                    acked.append(cid)
                n += 1
    except (OSError, TimeoutError, ConnectionError):
        return  # the engine died under us: expected


def test_kill_9_loses_no_acknowledged_message(tmp_path: Path) -> None:
    port = free_port()
    out = tmp_path / "out"
    data = tmp_path / "data"
    channels = {"crash": CHANNEL.format(port=port, out=out)}
    proc = EngineProcess(tmp_path / "run1", channels, data_dir=data, log_level="warning")
    (tmp_path / "run1").mkdir()
    proc.start()
    acked: list[list[str]] = [[] for _ in range(8)]
    stop = threading.Event()
    threads = [threading.Thread(target=_sender, args=(port, f"C{i}", acked[i], stop))
               for i in range(8)]
    try:
        for t in threads:
            t.start()
        deadline = time.monotonic() + 30
        while sum(map(len, acked)) < 400 and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.kill()  # SIGKILL mid-load
    finally:
        stop.set()
        for t in threads:
            t.join(10)
        proc.kill()
    all_acked = {cid for lst in acked for cid in lst}
    assert len(all_acked) >= 400
    (tmp_path / "run2").mkdir()
    restarted = EngineProcess(tmp_path / "run2", channels, data_dir=data, log_level="warning")
    with restarted:
        restarted.wait_for(lambda: all_acked <= {p.stem for p in out.glob("*.hl7")},
                           timeout=120, what="every acknowledged message delivered")
        listed = json.loads(restarted.cli("messages", "list", "--limit", "1000000",
                                          "--json", check=True).stdout)
    # one stored message per acknowledged control id, delivered (no duplicate rows routed)
    routed = Counter(m["correlation_id"] for m in listed if m["status"] != "duplicate")
    assert all(routed[cid] == 1 for cid in all_acked)
    assert all(m["status"] == "sent" for m in listed if m["correlation_id"] in all_acked)
    for path in out.glob("*.hl7"):  # atomic writes: every final file is a whole message
        data = path.read_bytes()
        assert data.startswith(b"MSH|") and f"|{path.stem}|".encode() in data
        assert data.endswith(b"PV1|1|I|WARD^101^1\r")
