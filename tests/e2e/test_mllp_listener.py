"""The MLLP listener of a real `plexus run` process: ACKs, bad input, framing edge cases."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator

import pytest

from protocols.mllp.client import MllpClient
from protocols.mllp.framing import frame

from .engine_process import EngineProcess, free_port
from .hl7 import ack_fields, adt

CHANNEL = """\
name: listener
source:
  type: mllp
  host: 127.0.0.1
  port: {port}
  max_message_bytes: 64KiB
  idle_timeout: 2s
filters:
  - use: transforms.hl7v2:message_type_in
    with: {{types: ["ADT^A01", "ADT^A04", "ADT^A08", "DFT^P03", "ORU^R01"]}}
transforms:
  - use: transforms.hl7v2:set_field
    with: {{path: MSH-4, value: PLEXUS}}
  - {{use: "tests.e2e.steps:fail_on_marker", name: marker-check}}
destinations:
  - name: archive
    type: file
    directory: {out}
    filename: "{{correlation_id}}.hl7"
"""


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EngineProcess]:
    work = tmp_path_factory.mktemp("listener")
    port = free_port()
    out = work / "out"
    proc = EngineProcess(work, {"listener": CHANNEL.format(port=port, out=out)})
    proc.mllp_port = port  # type: ignore[attr-defined]
    proc.out = out  # type: ignore[attr-defined]
    with proc:
        yield proc


def client(engine: EngineProcess, timeout: float = 10.0) -> MllpClient:
    return MllpClient("127.0.0.1", engine.mllp_port, timeout=timeout)  # type: ignore[attr-defined]


def test_aa_after_store_and_delivery(engine: EngineProcess) -> None:
    with client(engine) as c:
        code, ref, _ = ack_fields(c.send(adt("LST-1")))
    assert (code, ref) == ("AA", "LST-1")
    target = engine.out / "LST-1.hl7"  # type: ignore[attr-defined]
    engine.wait_for(target.exists, what="archive file")
    assert b"|EHR|PLEXUS|" in target.read_bytes()  # MSH-4 set by the transform
    listed = json.loads(engine.cli("messages", "list", "--correlation-id", "LST-1",
                                   "--json").stdout)
    assert listed and listed[0]["status"] in ("queued", "sent")


def test_ack_swaps_sender_and_receiver_and_keeps_version(engine: EngineProcess) -> None:
    with client(engine) as c:
        reply = c.send(adt("LST-SWAP", sender="LAB", facility="EAST", version="2.3"))
    msh = reply.split(b"\r")[0].split(b"|")
    assert msh[2:6] == [b"PLEXUS", b"GOODHEALTH", b"LAB", b"EAST"]
    assert msh[11] == b"2.3"
    assert ack_fields(reply)[:2] == ("AA", "LST-SWAP")


def test_filtered_message_gets_aa_and_is_not_delivered(engine: EngineProcess) -> None:
    with client(engine) as c:
        assert ack_fields(c.send(adt("LST-FILT", msg_type="SIU^S12")))[0] == "AA"
    listed = json.loads(engine.cli("messages", "list", "--correlation-id", "LST-FILT",
                                   "--json").stdout)
    assert listed[0]["status"] == "filtered"
    time.sleep(0.5)
    assert not (engine.out / "LST-FILT.hl7").exists()  # type: ignore[attr-defined]


def test_transform_error_gets_ae_with_err_and_is_stored(engine: EngineProcess) -> None:
    with client(engine) as c:
        reply = c.send(adt("LST-ERR", extra="", sender="FAILME"))
    code, ref, _ = ack_fields(reply)
    assert (code, ref) == ("AE", "LST-ERR")
    assert b"\rERR|" in reply
    listed = json.loads(engine.cli("messages", "list", "--correlation-id", "LST-ERR",
                                   "--json").stdout)
    assert listed[0]["status"] == "error" and "marker" in listed[0]["error"]


def test_enhanced_mode_gets_commit_ack(engine: EngineProcess) -> None:
    with client(engine) as c:
        reply = c.send(adt("LST-ENH", extra="|||AL|NE"))
    assert ack_fields(reply)[:2] == ("CA", "LST-ENH")


def test_enhanced_mode_never_means_no_ack(engine: EngineProcess) -> None:
    with client(engine, timeout=1.0) as c:
        c.send_raw(frame(adt("LST-NE", extra="|||NE|NE")))
        with pytest.raises(TimeoutError):
            c.read_frame()
        assert ack_fields(c.send(adt("LST-NE-2")))[0] == "AA"  # the link still works


def test_unsupported_version_and_processing_id_get_ar(engine: EngineProcess) -> None:
    with client(engine) as c:
        v = c.send(adt("LST-V", version="9.9"))
        p = c.send(adt("LST-P").replace(b"|LST-P|P|", b"|LST-P|X|"))
    assert ack_fields(v)[:2] == ("AR", "LST-V") and b"203" in v
    assert ack_fields(p)[:2] == ("AR", "LST-P") and b"202" in p


def test_unparseable_message_gets_ar_and_is_stored(engine: EngineProcess) -> None:
    with client(engine) as c:
        reply = c.send(b"this is not HL7 at all")
        assert ack_fields(reply)[0] == "AR"
        assert ack_fields(c.send(adt("LST-AFTER-BAD")))[0] == "AA"
    listed = json.loads(engine.cli("messages", "list", "--status", "error", "--json").stdout)
    assert any("MSH" in (m["error"] or "") for m in listed)


def test_inbound_ack_is_not_acknowledged(engine: EngineProcess) -> None:
    ack = (b"MSH|^~\\&|B|B|A|A|20240101||ACK^A01^ACK|ACK-IN-1|P|2.5.1\r"
           b"MSA|AA|SOMETHING\r")
    with client(engine, timeout=1.0) as c:
        c.send_raw(frame(ack))
        with pytest.raises(TimeoutError):
            c.read_frame()


def test_duplicate_gets_aa_and_is_delivered_once(engine: EngineProcess) -> None:
    with client(engine) as c:
        assert ack_fields(c.send(adt("LST-DUP")))[0] == "AA"
        assert ack_fields(c.send(adt("LST-DUP")))[0] == "AA"
    listed = json.loads(engine.cli("messages", "list", "--correlation-id", "LST-DUP",
                                   "--json").stdout)
    assert sorted(m["status"] for m in listed)[0] == "duplicate"
    assert len(listed) == 2
    assert sum(m["status"] != "duplicate" for m in listed) == 1


def test_garbage_before_start_block_is_discarded(engine: EngineProcess) -> None:
    with client(engine) as c:
        c.send_raw(b"GARBAGE\r\n\x00\x01" + frame(adt("LST-GARB")))
        assert ack_fields(c.read_frame())[:2] == ("AA", "LST-GARB")
    assert engine.metric("plexus_mllp_discarded_bytes_total", channel="listener") >= 11


def test_frame_split_across_many_writes(engine: EngineProcess) -> None:
    data = frame(adt("LST-SPLIT"))
    with client(engine) as c:
        for i in range(0, len(data), 7):
            c.send_raw(data[i:i + 7])
            time.sleep(0.002)
        assert ack_fields(c.read_frame())[:2] == ("AA", "LST-SPLIT")


def test_several_messages_in_one_write_are_acked_in_order(engine: EngineProcess) -> None:
    ids = [f"LST-MULTI-{i}" for i in range(5)]
    with client(engine) as c:
        c.send_raw(b"".join(frame(adt(i)) for i in ids))
        refs = [ack_fields(c.read_frame())[1] for _ in ids]
    assert refs == ids


def test_oversize_frame_gets_ar_and_connection_closes(engine: EngineProcess) -> None:
    big = adt("LST-BIG") + b"NTE|1||" + b"X" * 200_000 + b"\r"
    with client(engine) as c:
        c.send_raw(frame(big))
        reply = c.read_frame()
        assert ack_fields(reply)[:2] == ("AR", "LST-BIG")
        with pytest.raises((ConnectionError, TimeoutError, OSError)):
            c.read_frame(timeout=3)
    with client(engine) as c:  # the listener keeps serving
        assert ack_fields(c.send(adt("LST-AFTER-BIG")))[0] == "AA"


def test_silent_client_is_closed_after_idle_timeout(engine: EngineProcess) -> None:
    sock = socket.create_connection(("127.0.0.1", engine.mllp_port))  # type: ignore[attr-defined]
    sock.settimeout(10)
    try:
        assert sock.recv(10) == b""  # the server closed the connection (idle_timeout 2s)
    finally:
        sock.close()


def test_many_concurrent_connections(engine: EngineProcess) -> None:
    clients = [client(engine) for _ in range(20)]
    try:
        for i, c in enumerate(clients):
            c.send_raw(frame(adt(f"LST-CONC-{i}")))
        refs = {ack_fields(c.read_frame())[1] for c in clients}
    finally:
        for c in clients:
            c.close()
    assert refs == {f"LST-CONC-{i}" for i in range(20)}


def test_metrics_are_exported(engine: EngineProcess) -> None:
    with client(engine) as c:
        c.send(adt("LST-METRIC"))
    assert engine.metric("plexus_messages_received_total", channel="listener") >= 1
    engine.wait_for(lambda: engine.metric("plexus_messages_sent_total", channel="listener",
                                          destination="archive") >= 1, what="sent metric")
    _, text = engine.get("/metrics")
    for name in ("plexus_queue_depth", "plexus_queue_oldest_age_seconds",
                 "plexus_stage_duration_seconds_bucket", "plexus_messages_filtered_total",
                 "plexus_source_rejected_total"):
        assert name in text
    assert engine.get("/healthz")[0] == 200


def test_messages_show_has_every_stage(engine: EngineProcess) -> None:
    with client(engine) as c:
        c.send(adt("LST-SHOW"))
    engine.wait_for(lambda: (engine.out / "LST-SHOW.hl7").exists(),  # type: ignore[attr-defined]
                    what="delivery")
    listed = json.loads(engine.cli("messages", "list", "--correlation-id", "LST-SHOW",
                                   "--json").stdout)
    shown = json.loads(engine.cli("messages", "show", str(listed[0]["message_id"])).stdout)
    stages = {s["stage"] for s in shown["stages"]}
    assert {"raw", "transformed"} <= stages
    assert "|EHR|GOODHEALTH|" in next(s["content"] for s in shown["stages"] if s["stage"] == "raw")
    assert shown["deliveries"][0]["destination"] == "archive"




def test_logs_never_carry_message_content(engine: EngineProcess) -> None:
    secret = b"SECRETNAME^QUOTED"
    with client(engine) as c:
        good = adt("LST-PHI-1").replace(b"TESTPATIENT^SYNTHETIC", secret)
        bad = adt("LST-PHI-2", sender="FAILME").replace(b"TESTPATIENT^SYNTHETIC", secret)
        assert ack_fields(c.send(good))[0] == "AA"
        reply = c.send(bad)
        assert ack_fields(reply)[0] == "AE" and b"FAILME" in reply  # the sender is told
        assert ack_fields(c.send(b"MSH|^~\\&|" + secret + b"\rPID|1\r"))[0] == "AR"
    engine.wait_for(lambda: "LST-PHI-2" in engine.log(), what="the AE logged")
    log = engine.log()
    assert "SECRETNAME" not in log and "FAILME" not in log
