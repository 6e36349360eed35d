"""The partners file's as2 blocks: paths relative to the file, keys checked, clear errors."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from engine.errors import ConfigError
from protocols.as2 import keys
from protocols.x12.partners import load_partners
from tests.certs import make_as2_identity, make_test_pki


@pytest.fixture(scope="module")
def ids(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """keys/us (password 'pw'), keys/them, keys/other and an EC cert under one folder."""
    root = tmp_path_factory.mktemp("as2-partners")
    make_as2_identity(root / "keys", "us", password="pw")
    make_as2_identity(root / "keys", "them")
    make_as2_identity(root / "keys", "other")
    make_test_pki(root / "ec")
    return root


def write(root: Path, us_as2: str, partner_as2: str = "", name: str = "p.yaml") -> Path:
    text = textwrap.dedent("""\
        us:
          qualifier: ZZ
          id: GOODHEALTH
        {us}
        partners:
          - name: acme
            qualifier: ZZ
            id: ACME
        {partner}
        """).format(us=textwrap.indent(us_as2, "  "), partner=textwrap.indent(partner_as2, "    "))
    path = root / name
    path.write_text(text)
    return path


US = "as2: {id: GOODHEALTH AS2, sign_key: keys/us-key.pem, sign_cert: keys/us-cert.pem, " \
     "key_password_env: AS2_TEST_PW}"
THEM = "as2: {id: ACME-AS2, cert: keys/them-cert.pem, url: 'https://acme.example/as2'}"


def test_paths_are_relative_to_the_file_and_defaults_apply(
        ids: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AS2_TEST_PW", "pw")
    partners = load_partners(write(ids, US, THEM))
    us, them = partners.us.as2, partners.partners[0].as2
    assert us is not None and them is not None
    assert us.sign_key == str(ids / "keys" / "us-key.pem")
    assert them.cert == str(ids / "keys" / "them-cert.pem")
    assert (them.sign, them.encrypt, them.compress) == (True, True, False)
    assert (them.encryption, them.digest, them.mdn, them.mdn_signed) == (
        "aes_256_cbc", "sha256", "sync", True)
    assert partners.find_as2("ACME-AS2") is partners.partners[0]
    assert partners.find_as2("NOBODY") is None
    assert partners.named("acme") is partners.partners[0]


def test_existing_partner_files_without_as2_still_load(ids: Path) -> None:
    partners = load_partners(write(ids, "", "", "plain.yaml"))
    assert partners.us.as2 is None and partners.partners[0].as2 is None


@pytest.mark.parametrize(("us", "partner", "env", "message"), [
    (US, THEM, None, "environment variable AS2_TEST_PW is not set"),
    (US, THEM, "wrong", "is not a PEM private key, or the password is wrong"),
    (US.replace("keys/us-cert.pem", "keys/other-cert.pem"), THEM, "pw",
     "does not belong to the certificate"),
    (US.replace("keys/us-key.pem", "keys/missing.pem"), THEM, "pw",
     "cannot read keys/missing.pem"),
    (US, THEM.replace("keys/them-cert.pem", "ec/server_cert.pem"), "pw",
     "AS2 (pyas2lib) needs an RSA certificate"),
    (US, THEM.replace("keys/them-cert.pem", "keys/them-key.pem"), "pw",
     "is not a PEM certificate"),
    (US, THEM.replace("https://acme.example/as2", "ftp://acme"), "pw",
     "must be an http:// or https:// URL"),
    ("", THEM, None, "partner acme has an as2 block: us.as2 is needed too"),
    (US, THEM.replace("}", ", mdn: async}"), "pw", "mdn: async: us.as2.mdn_url is needed"),
    (US, THEM.replace("}", ", encryption: des}"), "pw", "encryption"),
    (US.replace("GOODHEALTH AS2", '\\"quoted\\"'), THEM, "pw", "an AS2 name is 1 to 128"),
])
def test_bad_as2_blocks_are_config_errors_with_a_line(
        ids: Path, monkeypatch: pytest.MonkeyPatch, us: str, partner: str, env: str | None,
        message: str) -> None:
    if env is None:
        monkeypatch.delenv("AS2_TEST_PW", raising=False)
    else:
        monkeypatch.setenv("AS2_TEST_PW", env)
    path = write(ids, us, partner, "bad.yaml")
    with pytest.raises(ConfigError) as info:
        load_partners(path)
    assert message in str(info.value)
    assert str(info.value).startswith(f"{path}:")  # file:line:col


def test_two_partners_cannot_share_an_as2_name(ids: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AS2_TEST_PW", "pw")
    path = write(ids, US, THEM, "twice.yaml")
    path.write_text(path.read_text() + f"  - name: beta\n    qualifier: ZZ\n    id: BETA\n"
                    f"    {THEM}\n")
    with pytest.raises(ConfigError, match="AS2 name 'ACME-AS2' is used by two partners"):
        load_partners(path)


def test_pyas2lib_objects_are_built_once_per_file_version(
        ids: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AS2_TEST_PW", "pw")
    partners = load_partners(write(ids, US, THEM.replace("}", ", mdn: none, sign: false}")))
    us, them = partners.us.as2, partners.partners[0].as2
    assert us is not None and them is not None
    org = keys.organization(us)
    assert org is keys.organization(us)
    assert org.as2_name == "GOODHEALTH AS2" and org.sign_key and org.decrypt_key
    partner = keys.partner(them)
    assert partner is keys.partner(them)
    assert (partner.as2_name, partner.sign, partner.encrypt, partner.mdn_mode,
            partner.mdn_digest_alg, partner.enc_alg) == (
        "ACME-AS2", False, True, None, "sha256", "aes_256_cbc")
    assert keys.partner(them.model_copy(update={"mdn": "async"})).mdn_mode == "ASYNC"
