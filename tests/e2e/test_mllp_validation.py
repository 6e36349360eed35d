"""`validate:` on an MLLP source: hl7apy structure checks answered AE, stored with the error."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from protocols.mllp.client import MllpClient

from .engine_process import EngineProcess, free_port
from .hl7 import ack_fields, adt

CHANNEL = """\
name: validated
source:
  type: mllp
  host: 127.0.0.1
  port: {port}
  validate: {{level: strict}}
destinations:
  - {{name: archive, type: file, directory: {out}, filename: "{{correlation_id}}.hl7"}}
"""


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EngineProcess]:
    work = tmp_path_factory.mktemp("validated")
    port = free_port()
    proc = EngineProcess(work, {"validated": CHANNEL.format(port=port, out=work / "out")})
    proc.mllp_port = port  # type: ignore[attr-defined]
    proc.out = work / "out"  # type: ignore[attr-defined]
    with proc:
        yield proc


def test_valid_message_is_accepted(engine: EngineProcess) -> None:
    with MllpClient("127.0.0.1", engine.mllp_port) as c:  # type: ignore[attr-defined]
        assert ack_fields(c.send(adt("VAL-OK")))[:2] == ("AA", "VAL-OK")
    out: Path = engine.out  # type: ignore[attr-defined]
    engine.wait_for(lambda: (out / "VAL-OK.hl7").exists(), what="delivery")


def test_structure_error_gets_ae_with_err_and_is_stored(engine: EngineProcess) -> None:
    without_pid = b"\r".join(seg for seg in adt("VAL-BAD").split(b"\r")
                             if not seg.startswith(b"PID"))
    with MllpClient("127.0.0.1", engine.mllp_port) as c:  # type: ignore[attr-defined]
        reply = c.send(without_pid)
        assert ack_fields(reply)[:2] == ("AE", "VAL-BAD")
        assert b"\rERR|" in reply and b"PID" in reply
        assert ack_fields(c.send(adt("VAL-AFTER")))[0] == "AA"  # still serving
    listed = json.loads(engine.cli("messages", "list", "--correlation-id", "VAL-BAD",
                                   "--json").stdout)
    assert listed[0]["status"] == "error" and "PID" in listed[0]["error"]
    assert engine.metric("plexus_source_rejected_total", channel="validated",
                         reason="validation") == 1
