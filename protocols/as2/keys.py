"""pyas2lib Organization (us) and Partner objects from the partners file, cached per key file.

Loading a key (PEM parsing, password) costs milliseconds, so each object is built once per set
of files and settings; a changed file (new mtime) gives a new object.
"""

from __future__ import annotations

import socket
from functools import lru_cache
from pathlib import Path
from typing import Any

from engine.errors import ConfigError
from protocols.x12.partners import As2Partner, As2Us, PartnersFile

from .library import pyas2lib

CONFIRM_TEXT = "The AS2 message was received, decrypted, verified and stored."
MDN_MODES = {"sync": "SYNC", "async": "ASYNC", "none": None}


def _stamp(*paths: str | None) -> tuple[tuple[str, int], ...]:
    """(path, mtime) of every file: the cache key changes when a file is replaced."""
    return tuple((p, Path(p).stat().st_mtime_ns) for p in paths if p)


def _pem(*paths: str | None) -> bytes:
    return b"\n".join(Path(p).read_bytes() for p in paths if p)


def organization(us: As2Us) -> Any:
    """Our pyas2lib Organization: signing and decryption keys, async MDN URL, domain."""
    password = us.key_password()
    return _organization(us.model_dump_json(), password,
                         _stamp(us.sign_key, us.sign_cert, us.decrypt_key, us.decrypt_cert))


@lru_cache(maxsize=32)
def _organization(settings: str, password: str | None, _files: Any) -> Any:
    us = As2Us.model_validate_json(settings)
    lib = pyas2lib()
    try:
        return lib.as2.Organization(
            as2_name=us.id, sign_key=_pem(us.sign_key, us.sign_cert), sign_key_pass=password,
            decrypt_key=_pem(us.decrypt_key or us.sign_key, us.decrypt_cert or us.sign_cert),
            decrypt_key_pass=password, mdn_url=us.mdn_url,
            domain=us.domain or socket.getfqdn() or "localhost", mdn_confirm_text=CONFIRM_TEXT)
    except lib.exceptions.AS2Exception as exc:
        raise ConfigError(f"us.as2: cannot load the keys: {exc}") from None


def partner(settings: As2Partner) -> Any:
    """A partner's pyas2lib Partner: certificates and what we send them (sign, encrypt, MDN)."""
    return _partner(settings.model_dump_json(), _stamp(settings.cert, settings.ca))


@lru_cache(maxsize=256)
def _partner(settings: str, _files: Any) -> Any:
    p = As2Partner.model_validate_json(settings)
    cert = Path(p.cert).read_bytes()
    ca = Path(p.ca).read_bytes() if p.ca else None
    lib = pyas2lib()
    return lib.as2.Partner(
        as2_name=p.id, verify_cert=cert, verify_cert_ca=ca, encrypt_cert=cert,
        encrypt_cert_ca=ca, validate_certs=True, compress=p.compress, encrypt=p.encrypt,
        enc_alg=p.encryption, sign=p.sign, digest_alg=p.digest, mdn_mode=MDN_MODES[p.mdn],
        mdn_digest_alg=p.digest if p.mdn_signed else None, mdn_confirm_text=CONFIRM_TEXT)


def require_us(partners: PartnersFile) -> As2Us:
    """us.as2, or a ConfigError saying it is missing."""
    if partners.us.as2 is None:
        raise ConfigError("the partners file has no us.as2 block (our AS2 name and keys)")
    return partners.us.as2
