"""SSH and DKIM keys generated in memory and written straight into Vault.

Generation functions return private halves as ``Secret`` (never printed); the ``store_*`` functions write a
new KV version (rotation never overwrites history) and return only what may be shown or kept in Pulumi
state: path, version, fingerprint, public key.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from toolkit import validate
from toolkit.errors import ValidationError
from toolkit.redact import REDACTOR, Secret
from vault import kv, paths
from vault.client import VaultClient
from vault.errors import KeyReuseRefused, SecretNotFound

SSH_RSA_BITS = 4096
DKIM_RSA_BITS = 2048
SSH_ROTATION_DAYS_DEFAULT = 90
SSH_ROTATION_DAYS_RANGE = (30, 365)


class SshAlgorithm(StrEnum):
    RSA = "rsa"
    ED25519 = "ed25519"


class DkimState(StrEnum):
    PENDING = "pending"  # generated, DNS record not yet verified
    PUBLISHED = "published"  # in DNS and verified, not yet signing
    ACTIVE = "active"  # Mailu signs with it
    RETIRED = "retired"  # no longer signing; record kept >= 48 h, then removed
    COMPROMISED = "compromised"  # exposed (migration after a compromise): never served again


@dataclass(frozen=True)
class SshKeyMaterial:
    private_key: Secret  # OpenSSH private key format
    public_key: str  # "ssh-rsa AAAA... comment"
    fingerprint: str  # "SHA256:..."
    algorithm: SshAlgorithm


@dataclass(frozen=True)
class DkimKeyMaterial:
    private_key: Secret  # PKCS#8 PEM
    public_key: str  # base64 of the DER SubjectPublicKeyInfo (the p= value)
    dns_value: str  # "v=DKIM1; k=rsa; p=..."


@dataclass(frozen=True)
class StoredKey:
    """What a caller (and Pulumi state) may keep: no private material."""

    path: str
    version: int
    fingerprint: str
    public_key: str


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def ssh_fingerprint(public_key: str) -> str:
    """OpenSSH ``SHA256:<unpadded base64>`` fingerprint of an ``ssh-<type> <base64> [comment]`` line."""
    parts = public_key.split()
    if len(parts) < 2:
        raise ValidationError("public_key", "is not an OpenSSH public key line ('<type> <base64> [comment]')")
    blob = base64.b64decode(parts[1], validate=True)
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def generate_ssh_keypair(
    algorithm: SshAlgorithm | str = SshAlgorithm.RSA, *, bits: int = SSH_RSA_BITS, comment: str = ""
) -> SshKeyMaterial:
    """A new key pair in memory: OpenSSH private key, OpenSSH public line, SHA256 fingerprint."""
    algo = SshAlgorithm(algorithm)
    key: rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
    if algo is SshAlgorithm.RSA:
        if bits < 2048:
            raise ValidationError("bits", f"{bits} is too short for an SSH RSA key; use >= 2048 (default 4096)")
        key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    else:
        key = ed25519.Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    ).decode()
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    public_line = public.decode() + (f" {comment}" if comment else "")
    secret = Secret(private)
    REDACTOR.register(secret)
    return SshKeyMaterial(secret, public_line, ssh_fingerprint(public_line), algo)


def generate_dkim_key(bits: int = DKIM_RSA_BITS) -> DkimKeyMaterial:
    if bits < 1024:
        raise ValidationError("bits", f"{bits} is too short for DKIM; use 2048")
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    public_b64 = base64.b64encode(der).decode()
    secret = Secret(private)
    REDACTOR.register(secret)
    return DkimKeyMaterial(secret, public_b64, f"v=DKIM1; k=rsa; p={public_b64}")


def dkim_txt_strings(dns_value: str, limit: int = 255) -> list[str]:
    """The TXT record value split into character-strings of at most ``limit`` bytes."""
    return [dns_value[i : i + limit] for i in range(0, len(dns_value), limit)]


def dated_selector(day: dt.date | None = None, prefix: str = "pm") -> str:
    """A dated DKIM selector such as ``pm20261124``."""
    day = day or dt.datetime.now(dt.UTC).date()
    return validate.dkim_selector(f"{prefix}{day:%Y%m%d}", field="selector")


def dkim_fingerprint(public_key_b64: str) -> str:
    return "SHA256:" + base64.b64encode(hashlib.sha256(base64.b64decode(public_key_b64)).digest()).decode().rstrip(
        "="
    )


def _rotation_days(days: int) -> int:
    low, high = SSH_ROTATION_DAYS_RANGE
    if not low <= days <= high:
        raise ValidationError("rotation_days", f"{days} is outside {low}..{high}")
    return days


def _created_at(client: VaultClient, path: paths.SecretPath) -> tuple[int, str | None]:
    """Current version and the original created_at (kept across rotations)."""
    try:
        current = kv.read(client, path)
    except SecretNotFound:
        return kv.current_version(client, path), None
    return current.version, str(current.data.get("created_at") or "") or None


def store_ssh_keypair(
    client: VaultClient,
    tenant_id: str,
    kind: paths.SshKeyKind | str,
    *,
    algorithm: SshAlgorithm | str = SshAlgorithm.RSA,
    bits: int = SSH_RSA_BITS,
    rotation_days: int = SSH_ROTATION_DAYS_DEFAULT,
    trigger: str = "",
) -> StoredKey:
    """Generate an SSH key pair and write it as the next version of ``vps/<tenant>/<kind>``.

    First call creates the secret; later calls rotate (new version, history kept). A current version written for
    the same non-empty ``trigger`` (an update interrupted after its write) is returned instead of a second key."""
    path = paths.ssh_key(tenant_id, kind)
    days = _rotation_days(rotation_days)
    if trigger:
        try:
            existing = kv.read(client, path)
        except SecretNotFound:
            existing = None
        if existing is not None and existing.data.get("rotation_trigger") == trigger \
                and "private_key" in existing.data:
            return read_public(client, path)
    material = generate_ssh_keypair(algorithm, bits=bits, comment=f"{paths.SshKeyKind(kind).value}@{tenant_id}")
    version, created = _created_at(client, path)
    stamp = now_iso()
    data: dict[str, Any] = {
        "private_key": material.private_key.reveal(),
        "public_key": material.public_key,
        "fingerprint": material.fingerprint,
        "algorithm": material.algorithm.value,
        "created_at": created or stamp,
        "last_rotated": stamp,
        "rotation_policy": f"{days}_days",
        "rotation_trigger": trigger,
    }
    new_version = kv.write(client, path, data, cas=version)
    return StoredKey(path.logical, new_version, material.fingerprint, material.public_key)


def store_dkim_key(
    client: VaultClient, domain: str, selector: str | None = None, *, bits: int = DKIM_RSA_BITS, nonce: str = ""
) -> StoredKey:
    """Generate a DKIM key into ``dkim/<domain>/<selector>`` (state ``pending``).

    A selector is used once: a path that already holds any history is refused, except a ``pending`` key written
    with the same ``nonce`` (an interrupted run of the same intent, taken over instead of generating again)."""
    path = paths.dkim(domain, selector or dated_selector())
    if kv.current_version(client, path):
        try:
            existing = kv.read(client, path)
        except SecretNotFound:
            existing = None
        if (existing is not None and nonce and existing.data.get("nonce") == nonce
                and existing.data.get("state") == DkimState.PENDING.value):
            return read_public(client, path)
        state = existing.data.get("state", "?") if existing is not None else "deleted"
        raise KeyReuseRefused(
            f"{path} already holds a DKIM key (state {state}): a selector is never used twice; "
            "`invoke rotate.dkim --tenant <tenant>` puts a fresh selector in service")
    material = generate_dkim_key(bits)
    stamp = now_iso()
    data = {
        "private_key": material.private_key.reveal(),
        "public_key": material.public_key,
        "dns_value": material.dns_value,
        "created_at": stamp,
        "last_rotated": stamp,
        "state": DkimState.PENDING.value,
        "nonce": nonce,
    }
    new_version = kv.write(client, path, data, cas=0)
    return StoredKey(path.logical, new_version, dkim_fingerprint(material.public_key), material.public_key)


def set_dkim_state(client: VaultClient, domain: str, selector: str, state: DkimState | str,
                   **fields: str) -> str:
    """Move a DKIM key to another state (a new version with the same key; nothing written if already there).
    Returns the state the key had before."""
    path = paths.dkim(domain, selector)
    current = kv.read(client, path)
    before = str(current.data.get("state", ""))
    wanted = DkimState(state).value
    if before == wanted:
        return before
    stamp_field = {DkimState.ACTIVE: "activated_at", DkimState.RETIRED: "retired_at",
                   DkimState.COMPROMISED: "compromised_at"}.get(DkimState(state))
    extra = {stamp_field: now_iso()} if stamp_field else {}
    kv.write(client, path, {**current.data, **extra, **fields, "state": wanted}, cas=current.version)
    return before


def mark_ssh_revoked(client: VaultClient, tenant_id: str, kind: paths.SshKeyKind | str, reason: str) -> int:
    """A new version of an SSH key without its private half, marked revoked (history keeps the old versions)."""
    path = paths.ssh_key(tenant_id, kind)
    current = kv.read(client, path)
    if current.data.get("revoked_at"):
        return current.version
    data = {k: v for k, v in current.data.items() if k != "private_key"}
    data.update({"revoked_at": now_iso(), "revoked_reason": reason, "state": "revoked"})
    return kv.write(client, path, data, cas=current.version)


def read_public(client: VaultClient, path: paths.SecretPath) -> StoredKey:
    """The public half and fingerprint of a stored SSH or DKIM key (for refresh/verification)."""
    current = kv.read(client, path)
    public = str(current.data["public_key"])
    fingerprint = str(current.data.get("fingerprint") or dkim_fingerprint(public))
    return StoredKey(path.logical, current.version, fingerprint, public)


def read_private(client: VaultClient, path: paths.SecretPath, version: int | None = None) -> Secret:
    """The private key of a stored SSH or DKIM key, as a ``Secret`` (installer, Mailu DKIM folder)."""
    secret = Secret(str(kv.read(client, path, version).data["private_key"]))
    REDACTOR.register(secret)
    return secret
