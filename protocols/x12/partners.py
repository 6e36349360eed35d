"""Trading partners: who we are in X12, who may send to us, and how each is acknowledged.

An optional `as2:` block under `us` and under each partner holds the AS2 (RFC 4130) identity:
AS2 names, PEM keys and certificates (paths relative to the partners file), the partner's URL
and the signing, encryption and MDN options. The files are read and checked when the partners
file is loaded, so a wrong path, password or key type is a ConfigError with file and line.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, ValidationInfo, field_validator, model_validator

from engine.connector import StrictModel
from engine.errors import ConfigError

_QUALIFIER = r"^[0-9A-Z]{2}$"
_ID = r"^[0-9A-Za-z ._-]{1,15}$"


def _as2_name(value: str) -> str:
    """AS2-From/AS2-To names: 1-128 printable ASCII, no quote or backslash (RFC 4130 6.2)."""
    if not 1 <= len(value) <= 128 or value != value.strip() or any(
            not 32 <= ord(c) < 127 or c in '"\\' for c in value):
        raise ValueError("an AS2 name is 1 to 128 printable ASCII characters without quotes, "
                         "backslashes or leading/trailing spaces")
    return value


def _pem_path(value: str | None, info: ValidationInfo) -> str | None:
    """A PEM file path, relative to the partners file; it must be readable."""
    if value is None:
        return None
    base = (info.context or {}).get("base") if isinstance(info.context, dict) else None
    path = Path(value) if Path(value).is_absolute() or base is None else Path(base) / value
    try:
        path.read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read {value}: {exc.strerror or exc}") from None
    return str(path)


def _http_url(value: str | None) -> str | None:
    if value is not None:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL")
    return value


def _load_certificate(path: str) -> Any:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import rsa

    try:
        cert = x509.load_pem_x509_certificates(Path(path).read_bytes())[0]
    except ValueError as exc:
        raise ValueError(f"{path} is not a PEM certificate: {exc}") from None
    if not isinstance(cert.public_key(), rsa.RSAPublicKey):
        raise ValueError(f"{path}: AS2 (pyas2lib) needs an RSA certificate")
    return cert


def _check_key_pair(key_path: str, cert_path: str, password: str | None) -> None:
    """The key is an RSA PEM key (opened with the password) that belongs to the certificate."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    cert = _load_certificate(cert_path)
    try:
        key = serialization.load_pem_private_key(
            Path(key_path).read_bytes(), password.encode() if password is not None else None)
    except TypeError as exc:  # encrypted without a password, or a password for a plain key
        raise ValueError(f"{key_path}: {exc} (see key_password_env)") from None
    except ValueError as exc:
        raise ValueError(f"{key_path} is not a PEM private key, or the password is wrong: "
                         f"{exc}") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError(f"{key_path}: AS2 (pyas2lib) needs an RSA private key")
    if key.public_key().public_numbers() != cert.public_key().public_numbers():
        raise ValueError(f"{key_path} does not belong to the certificate {cert_path}")


class As2Us(StrictModel):
    """Our AS2 identity: name, keys, and where partners send asynchronous MDNs."""

    id: str = Field(description="our AS2 name (the AS2-To of what partners send us)")
    sign_key: str = Field(description="PEM RSA private key signing our messages and MDNs")
    sign_cert: str = Field(description="PEM certificate of sign_key (partners verify with it)")
    decrypt_key: str | None = Field(default=None, description="PEM RSA private key that "
                                    "decrypts what partners send (default: sign_key)")
    decrypt_cert: str | None = Field(default=None, description="PEM certificate of "
                                     "decrypt_key (default: sign_cert)")
    key_password_env: str | None = Field(
        default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="environment variable holding the password of encrypted PEM keys")
    mdn_url: str | None = Field(default=None, description="our as2 source URL: where partners "
                                "POST asynchronous MDNs (needed for mdn: async)")
    domain: str | None = Field(default=None, pattern=r"^[A-Za-z0-9.-]{1,200}$",
                               description="right side of the Message-IDs we create "
                               "(default: this host's name)")

    _as2_id = field_validator("id")(classmethod(lambda cls, v: _as2_name(v)))
    _paths = field_validator("sign_key", "sign_cert", "decrypt_key", "decrypt_cert")(
        classmethod(lambda cls, v, info: _pem_path(v, info)))
    _url = field_validator("mdn_url")(classmethod(lambda cls, v: _http_url(v)))

    @model_validator(mode="after")
    def _keys(self) -> As2Us:
        password = self.key_password()
        _check_key_pair(self.sign_key, self.sign_cert, password)
        if (self.decrypt_key is None) != (self.decrypt_cert is None):
            raise ValueError("decrypt_key and decrypt_cert go together")
        if self.decrypt_key is not None and self.decrypt_cert is not None:
            _check_key_pair(self.decrypt_key, self.decrypt_cert, password)
        return self

    def key_password(self) -> str | None:
        """The key password from the environment (None when there is none)."""
        if self.key_password_env is None:
            return None
        value = os.environ.get(self.key_password_env)
        if value is None:
            raise ValueError(f"environment variable {self.key_password_env} is not set "
                             "(key_password_env)")
        return value


class As2Partner(StrictModel):
    """A partner's AS2 identity and what we send them."""

    id: str = Field(description="their AS2 name (AS2-From of what they send)")
    cert: str = Field(description="their PEM RSA certificate: verifies their signatures and "
                      "MDNs, encrypts what we send them")
    ca: str | None = Field(default=None, description="PEM CA certificates `cert` must chain "
                           "to (default: `cert` is trusted as it is)")
    url: str | None = Field(default=None, description="their AS2 endpoint: as2 destinations "
                            "send here, and the TA1/997/999 for what they send go back here")
    sign: bool = Field(default=True, description="sign what we send; demand signed messages")
    encrypt: bool = Field(default=True, description="encrypt what we send; demand encrypted "
                          "messages")
    compress: bool = Field(default=False, description="compress what we send")
    encryption: Literal["aes_128_cbc", "aes_192_cbc", "aes_256_cbc", "tripledes_192_cbc"] = \
        Field(default="aes_256_cbc", description="content encryption algorithm")
    digest: Literal["sha256", "sha384", "sha512", "sha1"] = Field(
        default="sha256", description="signature digest (and the MIC) of what we send")
    mdn: Literal["sync", "async", "none"] = Field(
        default="sync", description="the MDN we ask for: in the HTTP response, POSTed to "
        "us.as2.mdn_url later, or none")
    mdn_signed: bool = Field(default=True, description="ask for (and demand) a signed MDN")

    _as2_id = field_validator("id")(classmethod(lambda cls, v: _as2_name(v)))
    _paths = field_validator("cert", "ca")(classmethod(lambda cls, v, info: _pem_path(v, info)))
    _url = field_validator("url")(classmethod(lambda cls, v: _http_url(v)))

    @model_validator(mode="after")
    def _cert(self) -> As2Partner:
        _load_certificate(self.cert)
        return self


class Us(StrictModel):
    """Our own interchange id."""

    qualifier: str = Field(pattern=_QUALIFIER, description="ISA07 qualifier, e.g. ZZ or 01")
    id: str = Field(pattern=_ID, description="ISA08 id (up to 15 characters)")
    gs_id: str | None = Field(default=None, description="GS03 application code (default: id)")
    as2: As2Us | None = Field(default=None, description="our AS2 name, keys and certificates")


class Partner(StrictModel):
    """One trading partner and its acknowledgment policy."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$", description="used in control counters")
    qualifier: str = Field(pattern=_QUALIFIER, description="their ISA05 qualifier")
    id: str = Field(pattern=_ID, description="their ISA06 id")
    gs_id: str | None = Field(default=None, description="their GS02 code (default: id)")
    ack: Literal["997", "999", "auto", "none"] = Field(
        default="auto", description="997 | 999 | auto (999 for HIPAA 005010X groups, else "
        "997) | none")
    ta1: Literal["always", "on-request", "on-error", "never"] = Field(
        default="on-request", description="on-request: when ISA14=1 or the interchange is "
        "rejected; on-error: only when rejected")
    usage: Literal["P", "T", "any"] = Field(default="any",
                                            description="ISA15 accepted from them")
    element: str = Field(default="*", min_length=1, max_length=1,
                         description="element separator of what we send them")
    component: str = Field(default=":", min_length=1, max_length=1,
                           description="component separator (ISA16)")
    repetition: str = Field(default="^", min_length=1, max_length=1,
                            description="repetition separator (ISA11, 00402 and later)")
    terminator: str = Field(default="~", min_length=1, max_length=1,
                            description="segment terminator")
    version: str = Field(default="00401", pattern=r"^00[2-9]\d\d$",
                         description="ISA12 of interchanges we send")
    gs_version: str = Field(default="004010", description="GS08 of groups we send")
    as2: As2Partner | None = Field(default=None, description="their AS2 name, certificate, "
                                   "URL and options")
    ack_url: str | None = Field(default=None, pattern=r"^https?://",
                                description="x12-http with acks: async: POST their "
                                "TA1/997/999 here")
    ack_token: str | None = Field(default=None, min_length=16,
                                  description="bearer token for ack_url (e.g. ${ACME_TOKEN})")

    @model_validator(mode="after")
    def _distinct_delimiters(self) -> Partner:
        used = [self.element, self.component, self.repetition, self.terminator]
        if len(set(used)) != 4 or any(c.isalnum() or c == " " for c in used):
            raise ValueError("element, component, repetition and terminator must be four "
                             "different characters, none a letter, digit or space")
        return self


class PartnersFile(StrictModel):
    """configs/partners.yaml."""

    us: Us
    partners: list[Partner] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique(self) -> PartnersFile:
        seen: set[tuple[str, str]] = set()
        names: set[str] = set()
        for p in self.partners:
            key = (p.qualifier, p.id)
            if key in seen or p.name in names:
                raise ValueError(f"partner {p.name} ({p.qualifier}/{p.id}) is listed twice")
            seen.add(key)
            names.add(p.name)
        as2_ids: set[str] = set()
        for p in self.partners:
            if p.as2 is None:
                continue
            if self.us.as2 is None:
                raise ValueError(f"partner {p.name} has an as2 block: us.as2 is needed too")
            if p.as2.id in as2_ids:
                raise ValueError(f"AS2 name {p.as2.id!r} is used by two partners")
            if p.as2.mdn == "async" and self.us.as2.mdn_url is None:
                raise ValueError(f"partner {p.name} has mdn: async: us.as2.mdn_url is needed")
            as2_ids.add(p.as2.id)
        return self

    def find(self, qualifier: str, sender_id: str) -> Partner | None:
        """The partner with this ISA05/ISA06 (ids compared without padding)."""
        sender_id = sender_id.strip()
        for p in self.partners:
            if p.qualifier == qualifier.strip() and p.id == sender_id:
                return p
        return None

    def is_us(self, qualifier: str, receiver_id: str) -> bool:
        """True when ISA07/ISA08 name us."""
        return qualifier.strip() == self.us.qualifier and receiver_id.strip() == self.us.id

    def find_as2(self, as2_id: str) -> Partner | None:
        """The partner with this AS2 name (AS2-From of what it sends)."""
        for p in self.partners:
            if p.as2 is not None and p.as2.id == as2_id:
                return p
        return None

    def named(self, name: str) -> Partner | None:
        """The partner with this name."""
        return next((p for p in self.partners if p.name == name), None)


def load_partners(path: str | Path) -> PartnersFile:
    """Read and check a partners file; ConfigError with file:line:col on any problem."""
    import pydantic

    from engine.config import ConfigErrors, located_errors  # one format for every YAML file
    from engine.yaml_loader import load_yaml

    text_path = Path(path)
    try:
        text = text_path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read partners file: {exc}", str(path)) from None
    doc = load_yaml(text, str(path))
    try:
        return PartnersFile.model_validate(doc.data,
                                           context={"base": text_path.resolve().parent})
    except pydantic.ValidationError as exc:
        raise ConfigErrors(located_errors(doc, exc)) from None
