"""A throwaway PKI for TLS tests: one CA, server certs (right and wrong host) and a client cert."""

from __future__ import annotations

import datetime
import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def _key() -> ec.EllipticCurvePrivateKey:
    """A fresh P-256 private key (fast to generate)."""
    return ec.generate_private_key(ec.SECP256R1())


def _name(common_name: str) -> x509.Name:
    """An X.509 name with an organisation and a common name."""
    return x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Plexus Test"),
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
    ])


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    """Write an unencrypted PKCS#8 PEM private key."""
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))


def _leaf(ca_cert: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey, common_name: str,
          key: ec.EllipticCurvePrivateKey, usage: x509.ObjectIdentifier,
          san: list[x509.GeneralName]) -> x509.Certificate:
    """A leaf certificate signed by the CA."""
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                     key_encipherment=False, data_encipherment=False,
                                     key_agreement=True, key_cert_sign=False, crl_sign=False,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                       critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                       critical=False)
    )
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
    return builder.sign(ca_key, hashes.SHA256())


def make_test_pki(tmp_dir: str | Path) -> dict[str, str]:
    """Write a CA, a server cert/key and a client cert/key as PEM files; return their paths.

    Keys of the result: ``ca``, ``ca_key``, ``server_cert``, ``server_key``, ``client_cert``,
    ``client_key``, ``wrong_host_cert``, ``wrong_host_key``. The server cert is valid for IP
    127.0.0.1 and DNS localhost; the wrong-host cert (same CA) only for example.invalid.
    """
    out = Path(tmp_dir)
    out.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)

    ca_key = _key()
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(_name("Plexus Test CA"))
        .issuer_name(_name("Plexus Test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                     key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, key_cert_sign=True, crl_sign=True,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
                       critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    server_key = _key()
    server_cert = _leaf(ca_cert, ca_key, "localhost", server_key,
                        ExtendedKeyUsageOID.SERVER_AUTH,
                        [x509.DNSName("localhost"),
                         x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    client_key = _key()
    client_cert = _leaf(ca_cert, ca_key, "plexus-test-client", client_key,
                        ExtendedKeyUsageOID.CLIENT_AUTH, [x509.DNSName("plexus-test-client")])

    wrong_key = _key()
    wrong_cert = _leaf(ca_cert, ca_key, "example.invalid", wrong_key,
                       ExtendedKeyUsageOID.SERVER_AUTH, [x509.DNSName("example.invalid")])

    paths = {name: out / f"{name}.pem" for name in
             ("ca", "ca_key", "server_cert", "server_key", "client_cert", "client_key",
              "wrong_host_cert", "wrong_host_key")}
    paths["ca"].write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    _write_key(paths["ca_key"], ca_key)
    paths["server_cert"].write_bytes(server_cert.public_bytes(serialization.Encoding.PEM))
    _write_key(paths["server_key"], server_key)
    paths["client_cert"].write_bytes(client_cert.public_bytes(serialization.Encoding.PEM))
    _write_key(paths["client_key"], client_key)
    paths["wrong_host_cert"].write_bytes(wrong_cert.public_bytes(serialization.Encoding.PEM))
    _write_key(paths["wrong_host_key"], wrong_key)
    return {name: str(path) for name, path in paths.items()}


def make_as2_identity(tmp_dir: str | Path, name: str, password: str | None = None
                      ) -> dict[str, str]:
    """A self-signed RSA certificate and key for an AS2 party (pyas2lib signs with RSA only).

    Returns the paths ``cert`` and ``key`` (PEM; the key encrypted when a password is given).
    """
    from cryptography.hazmat.primitives.asymmetric import rsa

    out = Path(tmp_dir)
    out.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(name))
        .issuer_name(_name(name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password.encode()) if password
        else serialization.NoEncryption())
    paths = {"cert": out / f"{name}-cert.pem", "key": out / f"{name}-key.pem"}
    paths["cert"].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths["key"].write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                               serialization.PrivateFormat.PKCS8, encryption))
    return {kind: str(path) for kind, path in paths.items()}
