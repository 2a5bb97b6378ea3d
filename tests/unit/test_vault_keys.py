"""Key formats: OpenSSH private/public, SHA256 fingerprints, DKIM DNS values and selectors."""

from __future__ import annotations

import base64
import datetime as dt
import io

import dkim
import paramiko
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests import pem
from toolkit.errors import ValidationError
from toolkit.redact import scrub
from vault import keys


def test_rsa4096_default_openssh_formats() -> None:
    material = keys.generate_ssh_keypair(comment="admin_ssh@acme")
    private = material.private_key.reveal()
    assert private.startswith(f"{pem.begin('OPENSSH')}")
    assert material.public_key.startswith("ssh-rsa AAAA") and material.public_key.endswith(" admin_ssh@acme")
    loaded = serialization.load_ssh_private_key(private.encode(), password=None)
    assert isinstance(loaded, rsa.RSAPrivateKey) and loaded.key_size == 4096
    # Cross-check the fingerprint with an independent implementation (paramiko).
    assert material.fingerprint == paramiko.RSAKey(file_obj=io.StringIO(private)).fingerprint
    assert "BEGIN" not in repr(material) and private not in repr(material)


def test_ed25519_option() -> None:
    material = keys.generate_ssh_keypair("ed25519")
    assert material.public_key.startswith("ssh-ed25519 AAAA")
    assert material.fingerprint == paramiko.Ed25519Key(
        file_obj=io.StringIO(material.private_key.reveal())
    ).fingerprint
    assert material.fingerprint.startswith("SHA256:") and not material.fingerprint.endswith("=")


def test_private_keys_are_scrubbed_from_text() -> None:
    material = keys.generate_ssh_keypair("ed25519")
    assert "PRIVATE KEY" not in scrub(f"oops {material.private_key.reveal()}")


def test_short_rsa_refused() -> None:
    with pytest.raises(ValidationError, match="bits"):
        keys.generate_ssh_keypair("rsa", bits=1024)
    with pytest.raises(ValueError):
        keys.generate_ssh_keypair("dsa")


def test_dkim_key_dns_value_and_signature() -> None:
    material = keys.generate_dkim_key()
    assert material.dns_value == f"v=DKIM1; k=rsa; p={material.public_key}"
    der = base64.b64decode(material.public_key)
    public = serialization.load_der_public_key(der)
    assert isinstance(public, rsa.RSAPublicKey) and public.key_size == 2048
    strings = keys.dkim_txt_strings(material.dns_value)
    assert "".join(strings) == material.dns_value and all(len(s) <= 255 for s in strings) and len(strings) == 2
    # The key really signs and verifies as DKIM (dkimpy), with the DNS value as the TXT record.
    message = b"From: a@example.com\r\nTo: b@example.org\r\nSubject: hi\r\n\r\nbody\r\n"
    signature = dkim.sign(message, b"pm20261124", b"example.com", material.private_key.reveal().encode(),
                          include_headers=[b"from", b"to", b"subject"])
    assert dkim.verify(signature + message, dnsfunc=lambda name, timeout=5: material.dns_value.encode())


def test_dated_selector() -> None:
    assert keys.dated_selector(dt.date(2026, 11, 24)) == "pm20261124"
    assert keys.dated_selector(dt.date(2027, 1, 2), prefix="mx") == "mx20270102"
    with pytest.raises(ValidationError):
        keys.dated_selector(dt.date(2026, 1, 1), prefix="PM/")


def test_fingerprint_of_bad_line() -> None:
    with pytest.raises(ValidationError, match="public_key"):
        keys.ssh_fingerprint("garbage")
