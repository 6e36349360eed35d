"""The blocking MllpClient against a real ACK server, and read_messages_file."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from twisted.internet.threads import blockingCallFromThread

from engine.connector import TlsConfig
from protocols.mllp.client import MllpClient, read_messages_file, split_messages
from protocols.mllp.framing import frame
from tests.certs import make_test_pki
from tests.mllp_server import AckServer, start_ack_server
from tests.unit.reactor_thread import reactor_thread  # noqa: F401 - the session fixture

MSG1 = b"MSH|^~\\&|A|B|C|D|20240101||ADT^A01|ID1|P|2.5.1\rPID|1||111\r"
MSG2 = b"MSH|^~\\&|A|B|C|D|20240101||ADT^A08|ID2|P|2.5.1\rPID|1||222\rPV1|1|I\r"


@pytest.fixture
def reactor(request: pytest.FixtureRequest) -> Any:
    """The running global reactor."""
    return request.getfixturevalue("reactor_thread")


@pytest.fixture
def servers(reactor: Any) -> Iterator[list[AckServer]]:
    """Servers started by a test; all stopped afterwards."""
    started: list[AckServer] = []
    yield started
    for srv in started:
        blockingCallFromThread(reactor, srv.stop)


def start(reactor: Any, servers: list[AckServer], mode: str = "AA", **kwargs: Any) -> AckServer:
    """Start an ACK server on the reactor thread."""
    srv = blockingCallFromThread(reactor, start_ack_server, reactor, mode=mode, **kwargs)
    servers.append(srv)
    return srv


# --- MllpClient -----------------------------------------------------------------------------


def test_send_returns_unframed_ack(reactor: Any, servers: list[AckServer]) -> None:
    srv = start(reactor, servers)
    with MllpClient("127.0.0.1", srv.port, timeout=5) as client:
        ack = client.send(MSG1)
        assert ack.startswith(b"MSH|") and b"\rMSA|AA|ID1|" in ack
        assert not ack.startswith(b"\x0b") and not ack.endswith(b"\x1c\r")
        assert b"MSA|AA|ID2|" in client.send(MSG2)
    assert srv.received == [MSG1, MSG2]
    assert srv.connections == 1
    assert not client.connected


def test_send_raw_garbage_and_split_frames(reactor: Any, servers: list[AckServer]) -> None:
    srv = start(reactor, servers)
    with MllpClient("127.0.0.1", srv.port, timeout=5) as client:
        client.send_raw(b"noise before any frame")
        data = frame(MSG1)
        client.send_raw(data[:10])
        client.send_raw(data[10:])
        assert b"MSA|AA|ID1|" in client.read_frame()
        client.send_raw(frame(MSG1) + frame(MSG2))  # two frames in one write
        assert b"MSA|AA|ID1|" in client.read_frame()
        assert b"MSA|AA|ID2|" in client.read_frame()
    assert srv.received == [MSG1, MSG1, MSG2]


def test_timeout(reactor: Any, servers: list[AckServer]) -> None:
    srv = start(reactor, servers, "no_reply")
    with MllpClient("127.0.0.1", srv.port, timeout=0.3) as client:
        with pytest.raises(TimeoutError, match="no reply from 127.0.0.1"):
            client.send(MSG1)


def test_peer_close_is_connection_error(reactor: Any, servers: list[AckServer]) -> None:
    srv = start(reactor, servers, "close")
    with MllpClient("127.0.0.1", srv.port, timeout=5) as client:
        with pytest.raises(ConnectionError, match="closed the connection"):
            client.send(MSG1)
        srv.mode = "AA"
        assert b"MSA|AA|ID2|" in client.send(MSG2)  # reconnects
    assert srv.connections == 2


def test_refused_is_connection_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(ConnectionError):
        MllpClient("127.0.0.1", port, timeout=2).send(MSG1)


def test_tls_client(reactor: Any, servers: list[AckServer], tmp_path: Path) -> None:
    pki = make_test_pki(tmp_path)
    srv = start(reactor, servers, tls=TlsConfig(cert=pki["server_cert"], key=pki["server_key"],
                                                ca=pki["ca"], require_client_cert=True))
    context = ssl.create_default_context(cafile=pki["ca"])
    context.load_cert_chain(pki["client_cert"], pki["client_key"])
    with MllpClient("127.0.0.1", srv.port, timeout=5, ssl_context=context) as client:
        assert b"MSA|AA|ID1|" in client.send(MSG1)


# --- read_messages_file ---------------------------------------------------------------------


@pytest.mark.parametrize("eol", [b"\r", b"\n", b"\r\n"])
def test_read_messages_file_line_endings(tmp_path: Path, eol: bytes) -> None:
    path = tmp_path / "in.hl7"
    path.write_bytes((MSG1 + MSG2).replace(b"\r", eol))
    assert read_messages_file(path) == [MSG1, MSG2]


def test_read_messages_file_bom_blank_lines_and_no_final_newline(tmp_path: Path) -> None:
    path = tmp_path / "in.hl7"
    path.write_bytes(b"\xef\xbb\xbf" + MSG1.replace(b"\r", b"\r\n") + b"\r\n\r\n"
                     + MSG2.rstrip(b"\r").replace(b"\r", b"\n"))
    assert read_messages_file(str(path)) == [MSG1, MSG2]


def test_read_messages_file_single_message(tmp_path: Path) -> None:
    path = tmp_path / "one.hl7"
    path.write_bytes(MSG1)
    assert read_messages_file(path) == [MSG1]


def test_read_messages_file_drops_batch_envelope(tmp_path: Path) -> None:
    path = tmp_path / "batch.hl7"
    path.write_bytes(b"FHS|^~\\&|A\nBHS|^~\\&|A\n" + MSG1.replace(b"\r", b"\n")
                     + MSG2.replace(b"\r", b"\n") + b"BTS|2\nFTS|1\n")
    assert read_messages_file(path) == [MSG1, MSG2]


def test_read_messages_file_keeps_non_ascii_bytes(tmp_path: Path) -> None:
    msg = "MSH|^~\\&|A|B|C|D|20240101||ADT^A01|ID9|P|2.5.1\rPID|1||9||MÜLLER^JÖRG\r"
    path = tmp_path / "utf8.hl7"
    path.write_bytes(msg.replace("\r", "\r\n").encode("utf-8"))
    assert read_messages_file(path) == [msg.encode("utf-8")]


def test_read_messages_file_rejects_segments_before_msh(tmp_path: Path) -> None:
    path = tmp_path / "bad.hl7"
    path.write_bytes(b"PID|1||111\r" + MSG1)
    with pytest.raises(ValueError, match="line 1: segment 'PID|1||111' before the first MSH"):
        read_messages_file(path)


def test_split_messages_empty() -> None:
    assert split_messages(b"") == []
    assert split_messages(b"\xef\xbb\xbf\r\n\n") == []
