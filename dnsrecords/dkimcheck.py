"""Prove the DKIM key in Vault matches DNS: compare the public keys, then sign a test message with the
private key (dkimpy) and verify it against the record the authoritative server serves.

The private key arrives as PEM bytes held in memory (read from Vault by the caller); it is never written
anywhere nor shown in a message.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import formatdate, make_msgid

import dkim
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from dnsrecords.recordset import dkim_key_value
from toolkit.errors import ValidationError

TxtFetch = Callable[[str], str | None]


@dataclass(frozen=True)
class DkimProof:
    keys_match: bool
    signature_verifies: bool
    detail: str

    @property
    def ok(self) -> bool:
        return self.keys_match and self.signature_verifies


def public_value_from_private(private_key_pem: bytes) -> str:
    """The ``v=DKIM1; k=..; p=..`` value that belongs to a private key."""
    try:
        key = serialization.load_pem_private_key(private_key_pem, password=None)
    except (ValueError, TypeError):
        raise ValidationError("dkim_private_key", "is not an unencrypted PEM private key") from None
    if not isinstance(key, rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey):
        raise ValidationError("dkim_private_key", f"{type(key).__name__} is not an RSA or Ed25519 key")
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return dkim_key_value(base64.b64encode(der).decode())


def throwaway_public_key() -> str:
    """A fresh Ed25519 public key (base64 DER) where a record set's shape is needed before its real key."""
    der = ed25519.Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode()


def _p_tag(value: str) -> str:
    tags = dict(part.strip().partition("=")[::2] for part in value.split(";") if "=" in part)
    return "".join(tags.get("p", "").split())


def test_message(domain: str) -> bytes:
    return (
        f"From: DKIM check <dkim-check@{domain}>\r\nTo: postmaster@{domain}\r\n"
        f"Subject: DKIM key check\r\nDate: {formatdate()}\r\nMessage-ID: {make_msgid(domain=domain)}\r\n\r\n"
        "This message proves the signing key matches the published DKIM record.\r\n"
    ).encode()


def prove(domain: str, selector: str, private_key_pem: bytes, fetch_txt: TxtFetch) -> DkimProof:
    """Compare keys and sign+verify through ``fetch_txt`` (which asks the authoritative server)."""
    record_name = f"{selector}._domainkey.{domain}"
    published = fetch_txt(record_name)
    if published is None:
        return DkimProof(False, False, f"no TXT record at {record_name}")
    expected = public_value_from_private(private_key_pem)
    keys_match = _p_tag(published) == _p_tag(expected)

    def dnsfunc(name: bytes, timeout: int = 5) -> bytes | None:
        text = fetch_txt(name.decode("ascii").rstrip("."))
        return None if text is None else text.encode("ascii")

    message = test_message(domain)
    try:
        signature = dkim.sign(message, selector.encode(), domain.encode(), private_key_pem,
                              include_headers=[b"from", b"to", b"subject", b"date", b"message-id"])
        verified = bool(dkim.verify(signature + message, dnsfunc=dnsfunc))
    except dkim.DKIMException as exc:
        return DkimProof(keys_match, False, f"dkimpy: {exc}")
    if keys_match and verified:
        detail = "public key equals the Vault key; a test signature verifies against DNS"
    elif not keys_match:
        detail = "the published p= differs from the public half of the Vault key"
    else:
        detail = "the test signature does not verify against the published record"
    return DkimProof(keys_match, verified, detail)
