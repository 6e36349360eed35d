"""HTTP destination over TLS: server verification, host names, client certificates."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from twisted.internet import ssl

from engine.errors import ConfigError, RetryableDeliveryError
from tests.certs import make_test_pki
from tests.unit.http_server import close, make_dest, msg, send, serve
from tests.unit.reactor_thread import reactor_thread

__all__ = ["reactor_thread"]  # the fixture is used by name

pytestmark = pytest.mark.usefixtures("reactor_thread")


@dataclass
class Pki:
    """PEM paths and server options for the TLS tests."""

    files: dict[str, str]
    other_ca: str
    server_options: Any
    mtls_server_options: Any
    wrong_host_options: Any


def _options(files: dict[str, str], cert: str, key: str, **kwargs: Any) -> Any:
    pem = Path(files[cert]).read_bytes() + b"\n" + Path(files[key]).read_bytes()
    private = ssl.PrivateCertificate.loadPEM(pem)
    return ssl.CertificateOptions(privateKey=private.privateKey.original,
                                  certificate=private.original, **kwargs)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """The shared test PKI (tests/certs.py) plus an unrelated CA."""
    files = make_test_pki(tmp_path_factory.mktemp("pki"))
    other = make_test_pki(tmp_path_factory.mktemp("other-pki"))
    trust = ssl.trustRootFromCertificates([ssl.Certificate.loadPEM(
        Path(files["ca"]).read_bytes())])
    return Pki(files, other["ca"],
               _options(files, "server_cert", "server_key"),
               _options(files, "server_cert", "server_key", trustRoot=trust),
               _options(files, "wrong_host_cert", "wrong_host_key"))


def test_tls_server_verified_with_ca(reactor_thread: Any, pki: Pki) -> None:
    with serve(reactor_thread, pki.server_options) as srv:
        dest = make_dest(reactor_thread, srv.url(), tls={"ca": pki.files["ca"]})
        try:
            assert send(dest, msg()) == b"ok"
            assert send(dest, msg()) == b"ok"
        finally:
            close(dest)
        assert srv.factory.connections == 1


@pytest.mark.parametrize(("server", "ca", "words"), [
    ("server_options", "other", "certificate verification failed"),
    ("wrong_host_options", "ca", "does not match the host name"),
])
def test_tls_verification_failure_is_retryable(reactor_thread: Any, pki: Pki, server: str,
                                               ca: str, words: str) -> None:
    """A certificate that fails verification is an operator problem: retried, not dropped."""
    with serve(reactor_thread, getattr(pki, server)) as srv:
        ca_path = pki.other_ca if ca == "other" else pki.files["ca"]
        dest = make_dest(reactor_thread, srv.url(), tls={"ca": ca_path})
        try:
            with pytest.raises(RetryableDeliveryError) as info:
                send(dest, msg())
        finally:
            close(dest)
        assert words in str(info.value)
        assert srv.seen == []


def test_tls_verify_false_accepts_any_certificate(reactor_thread: Any, pki: Pki) -> None:
    with serve(reactor_thread, pki.wrong_host_options) as srv:
        dest = make_dest(reactor_thread, srv.url(), tls={"verify": False})
        try:
            assert send(dest, msg()) == b"ok"
        finally:
            close(dest)


def test_tls_client_certificate(reactor_thread: Any, pki: Pki) -> None:
    with serve(reactor_thread, pki.mtls_server_options) as srv:
        dest = make_dest(reactor_thread, srv.url(), tls={
            "ca": pki.files["ca"], "cert": pki.files["client_cert"],
            "key": pki.files["client_key"]})
        try:
            assert send(dest, msg()) == b"ok"
        finally:
            close(dest)
        assert srv.seen[0].client_cert_cn == "plexus-test-client"


def test_tls_missing_client_certificate_is_retryable(reactor_thread: Any, pki: Pki) -> None:
    with serve(reactor_thread, pki.mtls_server_options) as srv:
        dest = make_dest(reactor_thread, srv.url(), tls={"ca": pki.files["ca"]})
        try:
            with pytest.raises(RetryableDeliveryError) as info:
                send(dest, msg())
        finally:
            close(dest)
        assert srv.url().split("//")[1].split("/")[0] in str(info.value)


def test_tls_unreadable_files_fail_at_construction(reactor_thread: Any, pki: Pki,
                                                   tmp_path: Path) -> None:
    url = "https://127.0.0.1:1/x"
    with pytest.raises(ConfigError, match="tls.ca"):
        make_dest(reactor_thread, url, tls={"ca": str(tmp_path / "missing.pem")})
    with pytest.raises(ConfigError, match="no PEM certificate"):
        make_dest(reactor_thread, url, tls={"ca": pki.files["client_key"]})
    with pytest.raises(ConfigError, match="do not match"):
        make_dest(reactor_thread, url, tls={"cert": pki.files["client_cert"],
                                            "key": pki.files["server_key"]})
