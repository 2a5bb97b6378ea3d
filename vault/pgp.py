"""Operators' OpenPGP public keys for OpenBao's init ``pgp_keys``, and the decryption of one share with ``gpg``.

``parse_public_key`` accepts an ASCII-armored block or the base64 of the binary key (what ``gpg --export | base64``
prints), checks that it is a public key (a private key pasted into a stack file is refused, naming the mistake)
and returns the base64 of the binary packets, the form OpenBao's ``sys/init`` takes, with the primary key's
fingerprint. Parsing is pure Python (packet headers and the v4 fingerprint of RFC 4880), so checking a stack needs no
``gpg``. Only the operator decrypting a share needs ``gpg`` (and their private key, in their keyring or on a card):
``decrypt_share`` pipes the encrypted share to ``gpg --decrypt`` and returns the clear share as a ``Secret``,
never written to disk.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import shutil
import subprocess
from dataclasses import dataclass

from toolkit.errors import ToolkitError, ValidationError
from toolkit.redact import REDACTOR, Secret

_ARMOR_BEGIN = "-----BEGIN PGP PUBLIC KEY BLOCK-----"
_ARMOR_END = "-----END PGP PUBLIC KEY BLOCK-----"
_TAG_PUBLIC_KEY = 6
_TAG_SECRET_KEY = 5


class PgpError(ToolkitError):
    """gpg is missing, or it could not decrypt a share."""


@dataclass(frozen=True)
class PublicKey:
    fingerprint: str
    """Upper-case hex of the primary key's v4 fingerprint."""
    base64: str
    """The binary key packets, base64: what OpenBao's init takes in ``pgp_keys``."""


def _dearmor(text: str, field: str) -> bytes:
    if "PRIVATE KEY BLOCK" in text:
        raise ValidationError(field, "is a PRIVATE key block: give the operator's PUBLIC key (gpg --armor --export)")
    if _ARMOR_BEGIN in text:
        body = text.split(_ARMOR_BEGIN, 1)[1].split(_ARMOR_END, 1)[0]
        lines = [line.strip() for line in body.strip().splitlines()]
        if "" in lines:  # armor headers (Comment:, Version:) end at the first blank line
            lines = lines[lines.index("") + 1:]
        text = "".join(line for line in lines if line and not line.startswith("="))
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        raise ValidationError(field, "is neither an armored OpenPGP public key nor base64 of one") from None


def _first_packet(data: bytes, field: str) -> tuple[int, bytes]:
    """Tag and body of the first OpenPGP packet (RFC 4880 section 4.2, old and new formats)."""
    if not data or not data[0] & 0x80:
        raise ValidationError(field, "does not start with an OpenPGP packet")
    first = data[0]
    if first & 0x40:  # new format
        tag, pos = first & 0x3F, 1
        octet = data[pos] if len(data) > pos else 0
        if octet < 192:
            length, pos = octet, pos + 1
        elif octet < 224:
            length, pos = ((octet - 192) << 8) + data[pos + 1] + 192, pos + 2
        elif octet == 255:
            length, pos = int.from_bytes(data[pos + 1:pos + 5], "big"), pos + 5
        else:
            raise ValidationError(field, "starts with a partial-length packet, not a key")
    else:
        tag, kind = (first >> 2) & 0x0F, first & 0x03
        size = {0: 1, 1: 2, 2: 4}.get(kind)
        if size is None:
            raise ValidationError(field, "starts with an indeterminate-length packet, not a key")
        length, pos = int.from_bytes(data[1:1 + size], "big"), 1 + size
    body = data[pos:pos + length]
    if len(body) != length:
        raise ValidationError(field, "is cut short (the first packet is incomplete)")
    return tag, body


def parse_public_key(text: str, field: str = "pgp_keys") -> PublicKey:
    """One operator's public key (armored, or base64 of the binary export) -> fingerprint + base64 for init."""
    if not text or not text.strip():
        raise ValidationError(field, "is empty: give the operator's OpenPGP public key")
    data = _dearmor(text.strip(), field)
    tag, body = _first_packet(data, field)
    if tag == _TAG_SECRET_KEY:
        raise ValidationError(field, "is a PRIVATE key: give the operator's PUBLIC key (gpg --export)")
    if tag != _TAG_PUBLIC_KEY:
        raise ValidationError(field, f"starts with an OpenPGP packet of type {tag}, not a public key (type 6)")
    if not body or body[0] != 4:
        raise ValidationError(field, f"is a version {body[0] if body else '?'} key; OpenBao takes version 4 keys")
    fingerprint = hashlib.sha1(b"\x99" + len(body).to_bytes(2, "big") + body, usedforsecurity=False).hexdigest()
    return PublicKey(fingerprint.upper(), base64.b64encode(data).decode())


def parse_public_keys(texts: list[str], field: str = "pgp_keys") -> list[PublicKey]:
    """Every key parsed; the same key twice is refused (one person would hold two shares)."""
    keys = [parse_public_key(text, f"{field}[{i}]") for i, text in enumerate(texts)]
    seen: dict[str, int] = {}
    for i, key in enumerate(keys):
        if key.fingerprint in seen:
            raise ValidationError(f"{field}[{i}]", f"is the same key as {field}[{seen[key.fingerprint]}] "
                                  f"({key.fingerprint}): each share goes to a different operator")
        seen[key.fingerprint] = i
    return keys


def _gpg() -> str:
    found = shutil.which("gpg")
    if found is None:
        raise PgpError("gpg is not installed: install GnuPG (Debian: apt-get install gnupg) to decrypt your share")
    return found


def secret_fingerprints(gnupghome: str | None = None) -> set[str]:
    """Fingerprints of the primary keys whose secret part the local keyring (or ``gnupghome``) holds."""
    argv = [_gpg(), "--batch", "--with-colons", "--list-secret-keys"]
    if gnupghome:
        argv[1:1] = ["--homedir", gnupghome]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    found, primary = set(), False
    for line in result.stdout.splitlines():
        fields = line.split(":")
        if fields[0] == "sec":
            primary = True
        elif fields[0] == "ssb":
            primary = False
        elif fields[0] == "fpr" and primary and len(fields) > 9:
            found.add(fields[9].upper())
            primary = False
    return found


def decrypt_share(encrypted_b64: str, gnupghome: str | None = None, timeout: float = 120.0) -> Secret:
    """The clear unseal share inside ``encrypted_b64`` (OpenBao's ``keys_base64`` entry), decrypted by gpg with the
    operator's private key. The clear share exists only in this process's memory."""
    try:
        encrypted = base64.b64decode(encrypted_b64, validate=True)
    except (binascii.Error, ValueError):
        raise PgpError("the encrypted share is not base64 (copy it whole from the shares file)") from None
    argv = [_gpg(), "--batch", "--quiet", "--decrypt"]
    if gnupghome:
        argv[1:1] = ["--homedir", gnupghome]
    result = subprocess.run(argv, input=encrypted, capture_output=True, timeout=timeout, check=False)
    if result.returncode != 0:
        reason = result.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no reason given"]
        raise PgpError(f"gpg could not decrypt the share ({reason[0][:200]}); is your private key available?")
    share = Secret(result.stdout.decode(errors="replace").strip())
    REDACTOR.register(share)
    return share
