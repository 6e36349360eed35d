"""MllpDestination against a real MLLP ACK server on 127.0.0.1 (no mocks)."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pydantic import ValidationError
from twisted.internet import defer, task
from twisted.internet.threads import blockingCallFromThread

from engine.connector import ConnectorContext, TlsConfig
from engine.errors import ConfigError, PermanentDeliveryError, RetryableDeliveryError
from engine.message import Message
from protocols.mllp.destination import MllpDestination, MllpDestinationConfig
from tests.certs import make_test_pki
from tests.mllp_server import AckServer, start_ack_server
from tests.unit.reactor_thread import (
    reactor_thread,  # noqa: F401 - the session fixture
    run_coroutine,
)


def hl7(control_id: str) -> bytes:
    """A small ADT^A01 with the given MSH-10."""
    return (f"MSH|^~\\&|SND|FAC|RCV|FAC|20240101120000||ADT^A01^ADT_A01|{control_id}|P|2.5.1\r"
            "EVN|A01|20240101120000\r"
            "PID|1||12345^^^HOSP^MR||DOE^JOHN||19700101|M\r").encode()


def msg(control_id: str) -> Message:
    """A Message holding hl7(control_id)."""
    return Message(hl7(control_id), "hl7v2")


def wait_until(check: Callable[[], bool], timeout: float = 5.0) -> None:
    """Poll until check() is true."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)


def free_port() -> int:
    """A port nothing listens on (bound once, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def reactor(request: pytest.FixtureRequest) -> Any:
    """The running global reactor."""
    return request.getfixturevalue("reactor_thread")


class Harness:
    """Starts servers and destinations on the reactor and cleans them all up."""

    def __init__(self, reactor: Any) -> None:
        self.reactor = reactor
        self.servers: list[AckServer] = []
        self.destinations: list[MllpDestination] = []

    def server(self, mode: str = "AA", **kwargs: Any) -> AckServer:
        """Start an ACK server."""
        srv = blockingCallFromThread(self.reactor, start_ack_server, self.reactor, mode=mode,
                                     **kwargs)
        self.servers.append(srv)
        return srv

    def stop(self, srv: AckServer) -> None:
        """Stop one server."""
        blockingCallFromThread(self.reactor, srv.stop)
        self.servers.remove(srv)

    def destination(self, port: int, **overrides: Any) -> MllpDestination:
        """A destination to 127.0.0.1:port."""
        raw = {"name": "out", "type": "mllp", "host": "127.0.0.1", "port": port,
               "ack_timeout": 2, "connect_timeout": 2, **overrides}
        config = MllpDestinationConfig.model_validate(raw)
        context = ConnectorContext(channel="test", name="out", reactor=self.reactor,
                                   logger=logging.getLogger("test.mllp"))
        dest = MllpDestination(config, context)
        self.destinations.append(dest)
        return dest

    def send(self, dest: MllpDestination, message: Message) -> bytes:
        """Run dest.send on the reactor and block for the result."""
        return run_coroutine(lambda: dest.send(message))

    def close(self) -> None:
        """Close every destination and stop every server."""
        for dest in self.destinations:
            run_coroutine(dest.close)
        for srv in list(self.servers):
            self.stop(srv)


@pytest.fixture
def h(reactor: Any) -> Iterator[Harness]:
    """A harness that closes everything it started."""
    harness = Harness(reactor)
    yield harness
    harness.close()


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A CA, server and client cert for TLS tests."""
    return make_test_pki(tmp_path_factory.mktemp("pki"))


# --- positive ACKs -------------------------------------------------------------------------


def test_aa_returns_the_ack(h: Harness) -> None:
    srv = h.server("AA")
    dest = h.destination(srv.port)
    ack = h.send(dest, msg("C1"))
    assert b"MSA|AA|C1" in ack
    assert srv.received == [hl7("C1")]


def test_ca_is_success(h: Harness) -> None:
    srv = h.server("CA")
    ack = h.send(h.destination(srv.port), msg("C2"))
    assert b"MSA|CA|C2" in ack


def test_connection_reused_across_sends(h: Harness) -> None:
    srv = h.server("AA")
    dest = h.destination(srv.port)
    for n in range(3):
        assert b"MSA|AA|R%d" % n in h.send(dest, msg(f"R{n}"))
    assert srv.connections == 1
    assert len(srv.received) == 3
    assert dest.open_connections == 1


# --- negative ACKs -------------------------------------------------------------------------


@pytest.mark.parametrize("code", ["AE", "CE"])
def test_ae_is_retryable_with_error_text(h: Harness, code: str) -> None:
    srv = h.server(code)
    dest = h.destination(srv.port)
    with pytest.raises(RetryableDeliveryError) as info:
        h.send(dest, msg("E1"))
    assert str(info.value).startswith(f"{code} from 127.0.0.1:{srv.port}: simulated {code}")
    assert info.value.response is not None and b"MSA|" + code.encode() in info.value.response
    # an application error is not a connection problem: the connection stays
    srv.mode = "AA"
    h.send(dest, msg("E2"))
    assert srv.connections == 1


@pytest.mark.parametrize("code", ["AR", "CR"])
def test_ar_is_permanent_with_response(h: Harness, code: str) -> None:
    srv = h.server(code)
    with pytest.raises(PermanentDeliveryError) as info:
        h.send(h.destination(srv.port), msg("P1"))
    assert str(info.value).startswith(f"{code} from 127.0.0.1:{srv.port}: simulated {code}")
    assert info.value.response is not None
    assert info.value.response.startswith(b"MSH|") and b"MSA|" + code.encode() + b"|P1" in (
        info.value.response)


def test_error_text_falls_back_to_err_segment(h: Harness) -> None:
    def reply(payload: bytes) -> bytes:
        return (b"MSH|^~\\&|R|F|S|F|20240101||ACK^A01^ACK|A1|P|2.5.1\r"
                b"MSA|AR|X9\r"
                b"ERR|||207^Application internal error^HL70357|E||||Patient unknown\r")

    srv = h.server(mode="AA")
    srv.mode = reply
    with pytest.raises(PermanentDeliveryError) as info:
        h.send(h.destination(srv.port), msg("X9"))
    assert "Patient unknown" in str(info.value)


# --- replies that cannot be trusted -> drop the connection -----------------------------------


@pytest.mark.parametrize(("mode", "text"), [
    ("wrong_id", "is for control id 'NOT-W1', not the sent 'W1'"),
    ("garbage", "unparseable reply"),
    ("not_ack", "is not an ACK"),
])
def test_untrusted_reply_is_retryable_and_drops_connection(h: Harness, mode: str,
                                                           text: str) -> None:
    srv = h.server(mode)
    dest = h.destination(srv.port)
    with pytest.raises(RetryableDeliveryError) as info:
        h.send(dest, msg("W1"))
    assert text in str(info.value)
    assert f"127.0.0.1:{srv.port}" in str(info.value)
    wait_until(lambda: srv.open_connections == 0)
    srv.mode = "AA"
    assert b"MSA|AA|W2" in h.send(dest, msg("W2"))
    assert srv.connections == 2


def test_no_reply_times_out_and_drops_connection(h: Harness) -> None:
    srv = h.server("no_reply")
    dest = h.destination(srv.port, ack_timeout="300ms")
    started = time.monotonic()
    with pytest.raises(RetryableDeliveryError) as info:
        h.send(dest, msg("T1"))
    assert 0.25 <= time.monotonic() - started < 2
    assert str(info.value) == f"no ACK from 127.0.0.1:{srv.port} within 0.3s"
    wait_until(lambda: srv.open_connections == 0)
    srv.mode = "AA"
    assert b"MSA|AA|T2" in h.send(dest, msg("T2"))
    assert srv.connections == 2


def test_late_ack_is_never_matched_to_the_next_message(h: Harness) -> None:
    srv = h.server("AA", delay=0.6)
    dest = h.destination(srv.port, ack_timeout=0.3)
    with pytest.raises(RetryableDeliveryError, match="no ACK"):
        h.send(dest, msg("L1"))
    srv.delay = 0.0
    ack = h.send(dest, msg("L2"))
    assert b"MSA|AA|L2" in ack
    time.sleep(0.5)  # the late ACK for L1 would have arrived by now on the old connection
    assert b"MSA|AA|L3" in h.send(dest, msg("L3"))
    assert srv.connections == 2


def test_server_closing_the_connection_is_retryable(h: Harness) -> None:
    srv = h.server("close")
    dest = h.destination(srv.port)
    with pytest.raises(RetryableDeliveryError, match="closed by the peer"):
        h.send(dest, msg("K1"))
    srv.mode = "AA"
    assert b"MSA|AA|K2" in h.send(dest, msg("K2"))


def test_oversized_ack_is_retryable(h: Harness) -> None:
    srv = h.server("AA")
    dest = h.destination(srv.port, max_ack_bytes=64)
    with pytest.raises(RetryableDeliveryError, match="larger than max_ack_bytes"):
        h.send(dest, msg("O1"))


# --- connection failures ------------------------------------------------------------------


def test_refused_is_retryable_then_succeeds_when_the_server_comes_up(h: Harness) -> None:
    port = free_port()
    dest = h.destination(port)
    with pytest.raises(RetryableDeliveryError) as info:
        h.send(dest, msg("U1"))
    assert str(info.value) == f"cannot connect to 127.0.0.1:{port}: connection refused"
    srv = h.server("AA", port=port)
    assert b"MSA|AA|U2" in h.send(dest, msg("U2"))
    assert srv.received == [hl7("U2")]


def test_server_restart_between_sends(h: Harness) -> None:
    srv = h.server("AA")
    port = srv.port
    dest = h.destination(port)
    h.send(dest, msg("S1"))
    h.stop(srv)
    with pytest.raises(RetryableDeliveryError):
        h.send(dest, msg("S2"))
    srv2 = h.server("AA", port=port)
    assert b"MSA|AA|S3" in h.send(dest, msg("S3"))
    assert srv2.connections == 1


def test_connect_timeout_is_retryable(h: Harness) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        fillers: list[socket.socket] = []
        try:
            for _ in range(4):  # fill the accept queue until a connect hangs
                filler = socket.socket()
                fillers.append(filler)
                filler.settimeout(0.2)
                try:
                    filler.connect(("127.0.0.1", port))
                except TimeoutError:
                    break
            else:
                pytest.skip("this kernel does not stall connects to a full accept queue")
            dest = h.destination(port, connect_timeout="300ms")
            with pytest.raises(RetryableDeliveryError) as info:
                h.send(dest, msg("CT1"))
            assert str(info.value) == f"cannot connect to 127.0.0.1:{port} within 0.3s"
        finally:
            for filler in fillers:
                filler.close()


# --- outgoing messages that are not HL7 ------------------------------------------------------


def test_unparseable_outgoing_message_is_permanent(h: Harness) -> None:
    srv = h.server("AA")
    with pytest.raises(PermanentDeliveryError, match="not valid HL7"):
        h.send(h.destination(srv.port), Message(b"hello, not HL7", "text"))
    assert srv.connections == 0


def test_outgoing_message_without_control_id_is_permanent(h: Harness) -> None:
    srv = h.server("AA")
    payload = b"MSH|^~\\&|SND|FAC|RCV|FAC|20240101||ADT^A01||P|2.5.1\rPID|1\r"
    with pytest.raises(PermanentDeliveryError, match="no MSH-10"):
        h.send(h.destination(srv.port), Message(payload, "hl7v2"))
    assert srv.connections == 0


# --- concurrency --------------------------------------------------------------------------


def _send_all(h: Harness, dest: MllpDestination, ids: list[str]) -> list[Any]:
    """Start every send at once on the reactor; return the results in order."""

    async def all_of() -> list[Any]:
        sends = [defer.ensureDeferred(dest.send(msg(i))) for i in ids]
        results = await defer.DeferredList(sends, consumeErrors=True)
        return [value if ok else value.value for ok, value in results]

    return run_coroutine(all_of, timeout=20)


def test_concurrent_sends_are_serialised_on_one_connection(h: Harness) -> None:
    srv = h.server("AA", delay=0.02)
    dest = h.destination(srv.port)
    ids = [f"Q{n}" for n in range(8)]
    results = _send_all(h, dest, ids)
    for control_id, ack in zip(ids, results, strict=True):
        assert isinstance(ack, bytes), ack
        assert f"MSA|AA|{control_id}|".encode() in ack
    assert srv.connections == 1
    assert sorted(srv.received) == sorted(hl7(i) for i in ids)


def test_pool_of_connections(h: Harness) -> None:
    srv = h.server("AA", delay=0.05)
    dest = h.destination(srv.port, connections=3)
    ids = [f"M{n}" for n in range(9)]
    results = _send_all(h, dest, ids)
    assert all(isinstance(r, bytes) for r in results), results
    assert srv.connections == 3
    assert len(srv.received) == 9


def test_pool_reuses_the_most_recent_connection_when_idle(h: Harness) -> None:
    srv = h.server("AA")
    dest = h.destination(srv.port, connections=3)
    for n in range(4):
        h.send(dest, msg(f"N{n}"))
    assert srv.connections == 1


def test_cancelled_send_drops_the_connection(h: Harness) -> None:
    srv = h.server("no_reply")
    dest = h.destination(srv.port, ack_timeout=5)

    async def send_then_cancel() -> bool:
        sending = defer.ensureDeferred(dest.send(msg("V1")))
        await task.deferLater(h.reactor, 0.1, lambda: None)
        sending.cancel()
        try:
            await sending
        except defer.CancelledError:
            return True
        return False

    assert run_coroutine(send_then_cancel)
    wait_until(lambda: srv.open_connections == 0)
    srv.mode = "AA"
    assert b"MSA|AA|V2" in h.send(dest, msg("V2"))
    assert srv.connections == 2


# --- close --------------------------------------------------------------------------------


def test_close_closes_connections_and_refuses_further_sends(h: Harness) -> None:
    srv = h.server("AA")
    dest = h.destination(srv.port)
    h.send(dest, msg("Z1"))
    run_coroutine(dest.close)
    wait_until(lambda: srv.open_connections == 0)
    with pytest.raises(RetryableDeliveryError, match="closed"):
        h.send(dest, msg("Z2"))


def test_close_fails_a_send_waiting_for_its_ack(h: Harness) -> None:
    srv = h.server("no_reply")
    dest = h.destination(srv.port, ack_timeout=5)

    async def send_then_close() -> Any:
        sending = defer.ensureDeferred(dest.send(msg("Y1")))
        await task.deferLater(h.reactor, 0.1, lambda: None)
        await dest.close()
        try:
            await sending
        except RetryableDeliveryError as exc:
            return exc
        return None

    exc = run_coroutine(send_then_close)
    assert isinstance(exc, RetryableDeliveryError)
    assert "closed while waiting for an ACK" in str(exc)


# --- TLS ----------------------------------------------------------------------------------


def test_tls_verifies_server_with_ca(h: Harness, pki: dict[str, str]) -> None:
    srv = h.server("AA", tls=TlsConfig(cert=pki["server_cert"], key=pki["server_key"]))
    dest = h.destination(srv.port, tls={"ca": pki["ca"]})
    assert b"MSA|AA|TLS1" in h.send(dest, msg("TLS1"))
    assert b"MSA|AA|TLS2" in h.send(dest, msg("TLS2"))
    assert srv.connections == 1


def test_tls_with_localhost_name(h: Harness, pki: dict[str, str]) -> None:
    srv = h.server("AA", tls=TlsConfig(cert=pki["server_cert"], key=pki["server_key"]))
    dest = h.destination(srv.port, host="localhost", tls={"ca": pki["ca"]})
    assert b"MSA|AA|TLS3" in h.send(dest, msg("TLS3"))


def test_tls_untrusted_server_is_retryable(h: Harness, pki: dict[str, str],
                                           tmp_path: Any) -> None:
    other = make_test_pki(tmp_path / "other")
    srv = h.server("AA", tls=TlsConfig(cert=pki["server_cert"], key=pki["server_key"]))
    dest = h.destination(srv.port, tls={"ca": other["ca"]})
    with pytest.raises(RetryableDeliveryError, match="TLS"):
        h.send(dest, msg("TLS4"))
    assert srv.received == []


def test_tls_without_verification(h: Harness, pki: dict[str, str]) -> None:
    srv = h.server("AA", tls=TlsConfig(cert=pki["server_cert"], key=pki["server_key"]))
    dest = h.destination(srv.port, tls={"verify": False})
    assert b"MSA|AA|TLS5" in h.send(dest, msg("TLS5"))


def test_tls_to_a_plain_server_times_out_the_handshake(h: Harness,
                                                       pki: dict[str, str]) -> None:
    srv = h.server("AA")
    dest = h.destination(srv.port, connect_timeout=0.3, tls={"ca": pki["ca"]})
    with pytest.raises(RetryableDeliveryError) as info:
        h.send(dest, msg("TLS6"))
    assert str(info.value) == (
        f"TLS handshake with 127.0.0.1:{srv.port} did not complete within 0.3s")
    wait_until(lambda: srv.open_connections == 0)


def test_plain_to_a_tls_server_is_retryable(h: Harness, pki: dict[str, str]) -> None:
    srv = h.server("AA", tls=TlsConfig(cert=pki["server_cert"], key=pki["server_key"]))
    with pytest.raises(RetryableDeliveryError, match="before an ACK"):
        h.send(h.destination(srv.port, ack_timeout=1), msg("TLS7"))


def test_mutual_tls(h: Harness, pki: dict[str, str]) -> None:
    srv = h.server("AA", tls=TlsConfig(cert=pki["server_cert"], key=pki["server_key"],
                                       ca=pki["ca"], require_client_cert=True))
    dest = h.destination(srv.port, tls={"ca": pki["ca"], "cert": pki["client_cert"],
                                        "key": pki["client_key"]})
    assert b"MSA|AA|MT1" in h.send(dest, msg("MT1"))


def test_mutual_tls_without_client_cert_is_retryable(h: Harness, pki: dict[str, str]) -> None:
    srv = h.server("AA", tls=TlsConfig(cert=pki["server_cert"], key=pki["server_key"],
                                       ca=pki["ca"], require_client_cert=True))
    dest = h.destination(srv.port, tls={"ca": pki["ca"]})
    with pytest.raises(RetryableDeliveryError) as info:
        h.send(dest, msg("MT2"))
    assert f"127.0.0.1:{srv.port}" in str(info.value)
    assert srv.received == []


def test_missing_tls_file_is_a_config_error(h: Harness, tmp_path: Any) -> None:
    with pytest.raises(ConfigError, match="cannot read TLS ca"):
        h.destination(6661, tls={"ca": str(tmp_path / "missing.pem")})


# --- config -------------------------------------------------------------------------------


def test_config_defaults_and_units() -> None:
    config = MllpDestinationConfig.model_validate(
        {"name": "out", "type": "mllp", "host": "h", "port": 2575, "ack_timeout": "500ms",
         "max_ack_bytes": "64KiB"})
    assert config.ack_timeout == 0.5
    assert config.connect_timeout == 10.0
    assert config.connections == 1
    assert config.max_ack_bytes == 64 * 1024
    assert config.encoding == "utf-8"
    assert config.tls is None
    assert all(f.description for n, f in MllpDestinationConfig.model_fields.items()
               if n in ("host", "port", "ack_timeout", "connect_timeout", "connections", "tls",
                        "max_ack_bytes", "encoding"))


@pytest.mark.parametrize("bad", [
    {"port": 0}, {"port": 70000}, {"connections": 0}, {"encoding": "klingon"},
    {"ack_timeout": 0}, {"tls": {"cert": "c.pem"}}, {"type": "http"}, {"unknown": 1},
])
def test_config_rejects(bad: dict[str, Any]) -> None:
    raw = {"name": "out", "type": "mllp", "host": "h", "port": 2575, **bad}
    with pytest.raises(ValidationError):
        MllpDestinationConfig.model_validate(raw)
