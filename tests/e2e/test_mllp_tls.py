"""MLLP over TLS and mutual TLS on a real `plexus run` process."""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest

from protocols.mllp.client import MllpClient
from protocols.mllp.framing import frame
from tests.certs import make_test_pki

from .engine_process import EngineProcess, free_port
from .hl7 import ack_fields, adt

CHANNEL = """\
name: {name}
source:
  type: mllp
  host: 127.0.0.1
  port: {port}
  idle_timeout: 30s
  tls:
{tls}
destinations:
  - name: archive
    type: file
    directory: {out}
    filename: "{{correlation_id}}.hl7"
"""

# a refused TLS peer sees the handshake fail or the connection close; never a reply
REFUSED = (ssl.SSLError, ConnectionError, OSError)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return make_test_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def other_pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A second, unrelated CA with its own server and client certificates."""
    return make_test_pki(tmp_path_factory.mktemp("other-pki"))


def _engine(work: Path, name: str, tls: dict[str, object]) -> EngineProcess:
    port = free_port()
    tls_yaml = "\n".join(f"    {key}: {json.dumps(value)}" for key, value in tls.items())
    text = CHANNEL.format(name=name, port=port, tls=tls_yaml, out=work / "out")
    proc = EngineProcess(work, {name: text})
    proc.mllp_port = port  # type: ignore[attr-defined]
    return proc


@pytest.fixture(scope="module")
def tls_engine(tmp_path_factory: pytest.TempPathFactory,
               pki: dict[str, str]) -> Iterator[EngineProcess]:
    proc = _engine(tmp_path_factory.mktemp("tls"), "tls",
                   {"cert": pki["server_cert"], "key": pki["server_key"]})
    with proc:
        yield proc


@pytest.fixture(scope="module")
def mtls_engine(tmp_path_factory: pytest.TempPathFactory,
                pki: dict[str, str]) -> Iterator[EngineProcess]:
    proc = _engine(tmp_path_factory.mktemp("mtls"), "mtls",
                   {"cert": pki["server_cert"], "key": pki["server_key"], "ca": pki["ca"],
                    "require_client_cert": True})
    with proc:
        yield proc


def _context(ca: str, cert: str | None = None, key: str | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=ca)
    if cert:
        ctx.load_cert_chain(cert, key)
    return ctx


def _client(engine: EngineProcess, ctx: ssl.SSLContext | None,
            timeout: float = 10.0) -> MllpClient:
    return MllpClient("127.0.0.1", engine.mllp_port,  # type: ignore[attr-defined]
                      timeout=timeout, ssl_context=ctx)


def _stored(engine: EngineProcess, control_id: str) -> list[dict[str, object]]:
    result = engine.cli("messages", "list", "--correlation-id", control_id, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _assert_refused(engine: EngineProcess, ctx: ssl.SSLContext | None, control_id: str) -> None:
    """The peer never gets an answer: the handshake fails or the connection is closed."""
    with _client(engine, ctx, timeout=5.0) as c, pytest.raises(REFUSED) as info:
        c.send_raw(frame(adt(control_id)))
        reply = c.read_frame()
        pytest.fail(f"a refused peer got a reply: {reply!r}")
    assert not isinstance(info.value, TimeoutError), \
        "the connection was left open instead of being refused"
    assert _stored(engine, control_id) == []


# -- TLS -------------------------------------------------------------------------------------
def test_tls_client_gets_aa(tls_engine: EngineProcess, pki: dict[str, str]) -> None:
    with _client(tls_engine, _context(pki["ca"])) as c:
        assert ack_fields(c.send(adt("TLS-1")))[:2] == ("AA", "TLS-1")
        assert ack_fields(c.send(adt("TLS-2")))[:2] == ("AA", "TLS-2")  # same session
    assert [m["status"] for m in _stored(tls_engine, "TLS-1")] in (["queued"], ["sent"])


def test_plain_tcp_client_gets_no_ack(tls_engine: EngineProcess, pki: dict[str, str]) -> None:
    with _client(tls_engine, None, timeout=3.0) as c:
        c.send_raw(frame(adt("TLS-PLAIN")))
        with pytest.raises((ConnectionError, TimeoutError, OSError)):
            c.read_frame()
    assert _stored(tls_engine, "TLS-PLAIN") == []
    with _client(tls_engine, _context(pki["ca"])) as c:  # TLS clients are still served
        assert ack_fields(c.send(adt("TLS-AFTER-PLAIN")))[0] == "AA"


def test_client_that_does_not_trust_the_server_cert_fails(tls_engine: EngineProcess,
                                                          other_pki: dict[str, str]) -> None:
    with _client(tls_engine, _context(other_pki["ca"])) as c, \
            pytest.raises(ssl.SSLCertVerificationError):
        c.connect()


# -- mutual TLS ------------------------------------------------------------------------------
def test_mtls_client_with_cert_gets_aa(mtls_engine: EngineProcess, pki: dict[str, str]) -> None:
    ctx = _context(pki["ca"], pki["client_cert"], pki["client_key"])
    with _client(mtls_engine, ctx) as c:
        assert ack_fields(c.send(adt("MTLS-1")))[:2] == ("AA", "MTLS-1")
    assert len(_stored(mtls_engine, "MTLS-1")) == 1


def test_mtls_client_without_cert_is_refused(mtls_engine: EngineProcess,
                                             pki: dict[str, str]) -> None:
    _assert_refused(mtls_engine, _context(pki["ca"]), "MTLS-NOCERT")
    ctx = _context(pki["ca"], pki["client_cert"], pki["client_key"])
    with _client(mtls_engine, ctx) as c:  # the listener keeps serving
        assert ack_fields(c.send(adt("MTLS-AFTER-NOCERT")))[0] == "AA"


def test_mtls_client_cert_from_another_ca_is_refused(mtls_engine: EngineProcess,
                                                     pki: dict[str, str],
                                                     other_pki: dict[str, str]) -> None:
    # trusts the right server CA, but presents a certificate the engine's CA did not sign
    ctx = _context(pki["ca"], other_pki["client_cert"], other_pki["client_key"])
    _assert_refused(mtls_engine, ctx, "MTLS-OTHERCA")
    ctx = _context(pki["ca"], pki["client_cert"], pki["client_key"])
    with _client(mtls_engine, ctx) as c:
        assert ack_fields(c.send(adt("MTLS-AFTER-OTHERCA")))[0] == "AA"


def test_mtls_plain_tcp_client_gets_no_ack(mtls_engine: EngineProcess) -> None:
    with _client(mtls_engine, None, timeout=3.0) as c:
        c.send_raw(frame(adt("MTLS-PLAIN")))
        with pytest.raises((ConnectionError, TimeoutError, OSError)):
            c.read_frame()
    assert _stored(mtls_engine, "MTLS-PLAIN") == []
    assert mtls_engine.proc is not None and mtls_engine.proc.poll() is None
