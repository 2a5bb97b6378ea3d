"""Tenant API keys: ``pm_live_`` + 32 alphanumerics, bcrypt (cost 12) hash stored in Vault.

Lookup design: the key id is *derived* from the key: ``key_id = sha256(key).hex()[:32]``. A SHA-256 of a
190-bit random secret reveals nothing usable (it cannot be inverted or brute-forced), so the key id is a
non-secret lookup handle. Records live at ``api_keys/<tenant>/<key_id>`` and a create-only index
``api_keys/_index/<key_id>`` names the tenant. Verifying a presented key = derive the id, read the index
(skipped when the tenant is known) and the record, check the record's integrity tag (one transit call), then
ONE ``bcrypt.checkpw``: the cost does not grow with the number of stored keys. The key format stays exactly
``pm_live_`` + 32 alphanumerics.

Only the system writes key records (the tenant policy reads its own, never writes); every record carries a
transit HMAC over all of its fields (``vault.apikey_records``), so a record the system did not write is refused
by verification and reported, never trusted, by listing, revocation and rotation. Revocation never stops on
such a record: ``revoke_all`` revokes every genuine active key and reports what it skipped and why.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import string
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import bcrypt

from toolkit import validate
from toolkit.errors import ConfigError, ValidationError
from toolkit.redact import REDACTOR, Secret
from vault import kv, paths
from vault.apikey_records import (
    SCOPES,
    ApiKeyInfo,
    ApiKeyTampered,
    Status,
    Tier,
    TransitSigner,
    open_record,
    parse_fields,
    seal,
)
from vault.client import VaultClient
from vault.errors import ApiKeyInvalid, CasConflict, SecretNotFound
from vault.keys import now_iso

__all__ = [
    "BCRYPT_COST", "KEY_PATTERN", "PREFIX", "SCOPES", "TIER_LIMITS", "ApiKeyInfo", "ApiKeyTampered", "KeyListing",
    "RevocationReport", "SkippedRecord", "Status", "Tier", "allow_low_bcrypt_cost", "check_format", "create_api_key",
    "generate_key", "hash_key", "key_id_for", "list_api_keys", "require_provisioned", "revoke_all", "revoke_api_key",
    "rotate_api_key", "scan_api_keys", "validate_scopes", "verify_api_key",
]

PREFIX = "pm_live_"
RANDOM_LENGTH = 32
ALPHABET = string.ascii_letters + string.digits
KEY_PATTERN = re.compile(r"pm_live_[A-Za-z0-9]{32}")
BCRYPT_COST = 12
KEY_ID_HEX = 32

TIER_LIMITS: dict[Tier, tuple[int, int]] = {
    Tier.STARTER: (60, 100),
    Tier.PRO: (300, 500),
    Tier.ENTERPRISE: (1000, 2000),
}
"""Requests per minute and burst per tier."""


_low_cost_allowed = False


def allow_low_bcrypt_cost() -> None:
    """Tests and benchmarks only: permit bcrypt costs below 12 (to store many keys quickly)."""
    global _low_cost_allowed
    _low_cost_allowed = True


def generate_key() -> Secret:
    key = Secret(PREFIX + "".join(secrets.choice(ALPHABET) for _ in range(RANDOM_LENGTH)))
    REDACTOR.register(key)
    return key


def check_format(presented: str) -> None:
    if not isinstance(presented, str) or not KEY_PATTERN.fullmatch(presented):
        raise ApiKeyInvalid(f"API key is malformed: expected {PREFIX} followed by {RANDOM_LENGTH} letters/digits")


def key_id_for(key: Secret | str) -> str:
    """The non-secret lookup id of a key (first 128 bits of its SHA-256, hex)."""
    raw = key.reveal() if isinstance(key, Secret) else key
    check_format(raw)
    return hashlib.sha256(raw.encode()).hexdigest()[:KEY_ID_HEX]


def hash_key(key: Secret, cost: int = BCRYPT_COST) -> str:
    if cost < BCRYPT_COST and not _low_cost_allowed:
        raise ValidationError("bcrypt_cost", f"{cost} is below the minimum {BCRYPT_COST}")
    if not 4 <= cost <= 31:
        raise ValidationError("bcrypt_cost", f"{cost} is outside bcrypt's 4..31")
    return bcrypt.hashpw(key.reveal().encode(), bcrypt.gensalt(rounds=cost)).decode()


def validate_scopes(scopes: Iterable[str]) -> tuple[str, ...]:
    chosen = tuple(sorted(set(scopes)))
    if not chosen:
        raise ValidationError("scopes", f"give at least one scope of {sorted(SCOPES)}")
    unknown = [s for s in chosen if s not in SCOPES]
    if unknown:
        raise ValidationError("scopes", f"unknown scope(s) {unknown}; allowed: {sorted(SCOPES)}")
    return chosen


def _validate_name(name: str) -> str:
    if not isinstance(name, str) or not 1 <= len(name) <= 64 or not name.isprintable() or not name.isascii():
        raise ValidationError("name", "must be 1..64 printable ASCII characters")
    return name



@dataclass(frozen=True)
class SkippedRecord:
    """A stored entry that listing or revocation could not use, and why (the entry is left as it is)."""

    path: str
    reason: str


@dataclass(frozen=True)
class KeyListing:
    keys: tuple[ApiKeyInfo, ...]
    skipped: tuple[SkippedRecord, ...]


@dataclass(frozen=True)
class RevocationReport:
    tenant_id: str
    revoked: tuple[str, ...]
    """Key ids this run revoked."""
    already_revoked: tuple[str, ...]
    skipped: tuple[SkippedRecord, ...]
    """Entries left alone: tampered records (verification refuses them already), vanished ones, lost races."""


def require_provisioned(client: VaultClient, tenant_id: str) -> str:
    """Refuse a tenant that was never provisioned: ``pulumi up`` writes ``vps/<tenant>/admin_ssh`` first.

    Reads that secret's metadata only (no key material is read, nothing lands in the audit log as a secret read).
    """
    tenant = validate.tenant_id(tenant_id)
    if kv.current_version(client, paths.admin_ssh(tenant)) == 0:
        raise ConfigError("tenant", f"{tenant!r} is not provisioned in Vault (no {paths.admin_ssh(tenant)}): "
                                    "run `pulumi up` on its stack first")
    return tenant


def create_api_key(
    client: VaultClient,
    tenant_id: str,
    *,
    name: str,
    scopes: Iterable[str],
    tier: Tier | str = Tier.STARTER,
    cost: int = BCRYPT_COST,
) -> tuple[ApiKeyInfo, Secret]:
    """Issue a key. Returns its info and the key itself: show it once, it cannot be recovered."""
    tenant = validate.tenant_id(tenant_id)
    chosen_tier = Tier(tier)
    chosen_scopes = validate_scopes(scopes)
    limit, burst = TIER_LIMITS[chosen_tier]
    key = generate_key()
    key_id = key_id_for(key)
    data: dict[str, Any] = {
        "hash": hash_key(key, cost), "name": _validate_name(name), "scopes": list(chosen_scopes),
        "tier": chosen_tier.value, "rate_limit_per_minute": limit, "burst": burst,
        "status": Status.ACTIVE.value, "created_at": now_iso(),
    }
    sealed = seal(TransitSigner(client), tenant, key_id, 1, data)  # cas=0 writes version 1
    kv.write(client, paths.api_key_index(key_id), {"tenant_id": tenant}, cas=0)
    version = kv.write(client, paths.api_key(tenant, key_id), sealed, cas=0)
    return parse_fields(tenant, key_id, version, sealed), key


def scan_api_keys(client: VaultClient, tenant_id: str) -> KeyListing:
    """Every genuine key of the tenant, and every other entry under its folder with the reason it was skipped."""
    tenant = validate.tenant_id(tenant_id)
    signer = TransitSigner(client)
    found: list[ApiKeyInfo] = []
    skipped: list[SkippedRecord] = []
    for name in kv.list_keys(client, paths.API_KEYS_MOUNT, paths.api_key_folder(tenant)):
        where = f"{paths.API_KEYS_MOUNT}/{tenant}/{name}"
        if name.endswith("/"):
            skipped.append(SkippedRecord(where, "a folder, not a key record"))
            continue
        try:
            record = kv.read(client, paths.api_key(tenant, name))
            found.append(open_record(signer, tenant, name, record.version, record.data).info)
        except ValidationError:
            skipped.append(SkippedRecord(where, "not a key id (no key can ever look it up)"))
        except SecretNotFound:
            skipped.append(SkippedRecord(where, "latest version deleted or destroyed (verification finds no key)"))
        except ApiKeyTampered as exc:
            skipped.append(SkippedRecord(where, f"tampered: {exc.reason}"))
    return KeyListing(tuple(found), tuple(skipped))


def list_api_keys(client: VaultClient, tenant_id: str) -> list[ApiKeyInfo]:
    """The tenant's genuine keys (``scan_api_keys`` also reports the entries it refused)."""
    return list(scan_api_keys(client, tenant_id).keys)


def revoke_api_key(client: VaultClient, tenant_id: str, key_id: str) -> ApiKeyInfo:
    """Mark a key revoked (a new, re-tagged version; the record and its history stay for the audit trail).

    A tampered record raises ``ApiKeyTampered`` and is left untouched: verification refuses it already, and its
    forged content must never receive a genuine tag."""
    tenant = validate.tenant_id(tenant_id)
    path = paths.api_key(tenant, key_id)
    signer = TransitSigner(client)
    for _ in range(5):
        record = kv.read(client, path)
        checked = open_record(signer, tenant, key_id, record.version, record.data)
        if checked.info.status is Status.REVOKED:
            return checked.info
        data = {**checked.data, "status": Status.REVOKED.value, "revoked_at": now_iso()}
        sealed = seal(signer, tenant, key_id, record.version + 1, data)
        try:
            version = kv.write(client, path, sealed, cas=record.version)
        except CasConflict:
            continue
        return parse_fields(tenant, key_id, version, sealed)
    raise CasConflict(f"revoke {path}: the record kept changing under us; try again")


def rotate_api_key(
    client: VaultClient, tenant_id: str, key_id: str, *, cost: int = BCRYPT_COST
) -> tuple[ApiKeyInfo, Secret]:
    """A new key with the same name, scopes and tier; the old one is revoked.

    The old record must carry a valid tag (else ``ApiKeyTampered`` and nothing is created): a forged tier or
    scope set is never copied into a genuine key."""
    tenant = validate.tenant_id(tenant_id)
    record = kv.read(client, paths.api_key(tenant, key_id))
    old = open_record(TransitSigner(client), tenant, key_id, record.version, record.data).info
    info, key = create_api_key(client, tenant, name=old.name, scopes=old.scopes, tier=old.tier, cost=cost)
    revoke_api_key(client, tenant, key_id)
    return info, key


def revoke_all(client: VaultClient, tenant_id: str) -> RevocationReport:
    """Emergency: revoke every active genuine key of the tenant, whatever else is stored beside them."""
    tenant = validate.tenant_id(tenant_id)
    listing = scan_api_keys(client, tenant)
    revoked: list[str] = []
    skipped = list(listing.skipped)
    for info in listing.keys:
        if info.status is not Status.ACTIVE:
            continue
        try:
            revoke_api_key(client, tenant, info.key_id)
        except ApiKeyTampered as exc:  # changed between the listing and the revocation
            skipped.append(SkippedRecord(exc.path, f"tampered: {exc.reason}"))
        except (SecretNotFound, CasConflict) as exc:
            skipped.append(SkippedRecord(str(paths.api_key(tenant, info.key_id)), str(exc)))
        else:
            revoked.append(info.key_id)
    already = tuple(k.key_id for k in listing.keys if k.status is Status.REVOKED)
    return RevocationReport(tenant, tuple(revoked), already, tuple(skipped))


def verify_api_key(client: VaultClient, presented: str, *, tenant_id: str | None = None) -> ApiKeyInfo:
    """The key's info if ``presented`` is a valid, active key; ``ApiKeyInvalid`` otherwise.

    One index read (skipped if the tenant is known), one record read, one transit check of the record's
    integrity tag (``ApiKeyTampered``, a subclass of ``ApiKeyInvalid``, when it fails), then one bcrypt
    comparison against the hash the tag vouches for."""
    check_format(presented)
    key_id = key_id_for(presented)
    try:
        if tenant_id is None:
            entry = kv.read(client, paths.api_key_index(key_id)).data.get("tenant_id")
            tenant = validate.tenant_id(entry, field="api key index entry")
        else:
            tenant = validate.tenant_id(tenant_id)
        record = kv.read(client, paths.api_key(tenant, key_id))
    except SecretNotFound:
        raise ApiKeyInvalid(f"API key {key_id[:8]}... is unknown") from None
    except ValidationError as exc:
        raise ApiKeyInvalid(f"API key {key_id[:8]}...: {exc}") from None
    checked = open_record(TransitSigner(client), tenant, key_id, record.version, record.data)
    if not bcrypt.checkpw(presented.encode(), checked.hash.encode()):
        raise ApiKeyInvalid(f"API key {key_id[:8]}... does not match its stored hash")
    if checked.info.status is not Status.ACTIVE:
        raise ApiKeyInvalid(f"API key {key_id[:8]}... is {checked.info.status.value}")
    return checked.info
