"""TLS context options for listeners and clients, from a TlsConfig."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from twisted.internet import ssl

from .connector import TlsConfig
from .errors import ConfigError


def _read(path: str | None, what: str) -> bytes:
    if not path:
        raise ConfigError(f"tls: {what} is required")
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"tls: cannot read {what} {path}: {exc}") from exc


def server_options(tls: TlsConfig) -> Any:
    """Listener options; with `ca` the client certificate is verified (and required if asked)."""
    cert = ssl.PrivateCertificate.loadPEM(_read(tls.cert, "cert") + b"\n" + _read(tls.key, "key"))
    kwargs: dict[str, Any] = {}
    if tls.ca:
        kwargs = {"verify": True, "caCerts": [c.original for c in _load_cas(tls.ca)],
                  "requireCertificate": tls.require_client_cert}
    elif tls.require_client_cert:
        raise ConfigError("tls: require_client_cert needs a ca to verify clients against")
    return ssl.CertificateOptions(privateKey=cert.privateKey.original,
                                  certificate=cert.original, **kwargs)


def client_options(tls: TlsConfig | None, hostname: str) -> Any:
    """Client options: verify the server against `ca` (or the system store), present a cert."""
    tls = tls or TlsConfig()
    client_cert = None
    if tls.cert or tls.key:
        client_cert = ssl.PrivateCertificate.loadPEM(_read(tls.cert, "cert") + b"\n"
                                                     + _read(tls.key, "key"))
    if not tls.verify:
        kwargs: dict[str, Any] = {"verify": False}
        if client_cert is not None:
            kwargs.update(privateKey=client_cert.privateKey.original,
                          certificate=client_cert.original)
        return ssl.CertificateOptions(**kwargs)
    trust = None
    if tls.ca:
        cas = _load_cas(tls.ca)
        trust = ssl.trustRootFromCertificates(cas)
    return ssl.optionsForClientTLS(hostname, trustRoot=trust, clientCertificate=client_cert)


def _load_cas(path: str) -> list[ssl.Certificate]:
    data = _read(path, "ca")
    blocks = data.split(b"-----END CERTIFICATE-----")
    certs = [ssl.Certificate.loadPEM(block + b"-----END CERTIFICATE-----")
             for block in blocks if b"-----BEGIN CERTIFICATE-----" in block]
    if not certs:
        raise ConfigError(f"tls: no certificate found in {path}")
    return certs
