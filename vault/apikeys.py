"""Tenant API keys: ``pm_live_`` + 32 alphanumerics, bcrypt (cost 12) hash stored in Vault.

Lookup design: the key id is *derived* from the key: ``key_id = sha256(key).hex()[:32]``. A SHA-256 of a
190-bit random secret reveals nothing usable (it cannot be inverted or brute-forced), so the key id is a
non-secret lookup handle. Records live at ``api_keys/<tenant>/<key_id>`` and a create-only index
``api_keys/_index/<key_id>`` names the tenant. Verifying a presented key = derive the id, read the index
(skipped when the tenant is known) and the record, then ONE ``bcrypt.checkpw``: the cost does not grow with
the number of stored keys. The key format stays exactly ``pm_live_`` + 32 alphanumerics.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import string
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import bcrypt

from toolkit import validate
from toolkit.errors import ValidationError
from toolkit.redact import REDACTOR, Secret
from vault import kv, paths
from vault.client import VaultClient
from vault.errors import ApiKeyInvalid, CasConflict, SecretNotFound
from vault.keys import now_iso

PREFIX = "pm_live_"
RANDOM_LENGTH = 32
ALPHABET = string.ascii_letters + string.digits
KEY_PATTERN = re.compile(r"pm_live_[A-Za-z0-9]{32}")
BCRYPT_COST = 12
KEY_ID_HEX = 32

SCOPES = frozenset(
    {"send_email", "read_analytics", "manage_contacts", "manage_campaigns", "manage_domains", "manage_webhooks"}
)


class Tier(StrEnum):
    STARTER = "starter"
    PRO = "pro"
    ENTERPRISE = "enterprise"


TIER_LIMITS: dict[Tier, tuple[int, int]] = {
    Tier.STARTER: (60, 100),
    Tier.PRO: (300, 500),
    Tier.ENTERPRISE: (1000, 2000),
}
"""Requests per minute and burst per tier."""


class Status(StrEnum):
    ACTIVE = "active"
    REVOKED = "revoked"


_low_cost_allowed = False


def allow_low_bcrypt_cost() -> None:
    """Tests and benchmarks only: permit bcrypt costs below 12 (to store many keys quickly)."""
    global _low_cost_allowed
    _low_cost_allowed = True


@dataclass(frozen=True)
class ApiKeyInfo:
    """Everything about a key except the key and its hash."""

    tenant_id: str
    key_id: str
    name: str
    scopes: tuple[str, ...]
    tier: Tier
    rate_limit_per_minute: int
    burst: int
    status: Status
    created_at: str
    version: int


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


def _info(tenant: str, key_id: str, data: dict[str, Any], version: int) -> ApiKeyInfo:
    return ApiKeyInfo(
        tenant_id=tenant, key_id=key_id, name=str(data.get("name", "")),
        scopes=tuple(data.get("scopes", [])), tier=Tier(data["tier"]),
        rate_limit_per_minute=int(data["rate_limit_per_minute"]), burst=int(data["burst"]),
        status=Status(data["status"]), created_at=str(data.get("created_at", "")), version=version,
    )


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
    kv.write(client, paths.api_key_index(key_id), {"tenant_id": tenant}, cas=0)
    version = kv.write(client, paths.api_key(tenant, key_id), data, cas=0)
    return _info(tenant, key_id, data, version), key


def list_api_keys(client: VaultClient, tenant_id: str) -> list[ApiKeyInfo]:
    tenant = validate.tenant_id(tenant_id)
    found = []
    for key_id in kv.list_keys(client, paths.API_KEYS_MOUNT, paths.api_key_folder(tenant)):
        if key_id.endswith("/"):
            continue
        record = kv.read(client, paths.api_key(tenant, key_id))
        found.append(_info(tenant, key_id, record.data, record.version))
    return found


def revoke_api_key(client: VaultClient, tenant_id: str, key_id: str) -> ApiKeyInfo:
    """Mark a key revoked (a new version; the record and its history stay for the audit trail)."""
    path = paths.api_key(tenant_id, key_id)
    for _ in range(5):
        record = kv.read(client, path)
        if record.data.get("status") == Status.REVOKED.value:
            return _info(tenant_id, key_id, record.data, record.version)
        data = {**record.data, "status": Status.REVOKED.value, "revoked_at": now_iso()}
        try:
            version = kv.write(client, path, data, cas=record.version)
        except CasConflict:
            continue
        return _info(tenant_id, key_id, data, version)
    raise CasConflict(f"revoke {path}: the record kept changing under us; try again")


def rotate_api_key(
    client: VaultClient, tenant_id: str, key_id: str, *, cost: int = BCRYPT_COST
) -> tuple[ApiKeyInfo, Secret]:
    """A new key with the same name, scopes and tier; the old one is revoked."""
    old = kv.read(client, paths.api_key(tenant_id, key_id)).data
    info, key = create_api_key(
        client, tenant_id, name=str(old.get("name", "rotated")), scopes=old["scopes"], tier=old["tier"], cost=cost
    )
    revoke_api_key(client, tenant_id, key_id)
    return info, key


def revoke_all(client: VaultClient, tenant_id: str) -> int:
    """Emergency: revoke every active key of the tenant. Returns how many were active."""
    count = 0
    for info in list_api_keys(client, tenant_id):
        if info.status is Status.ACTIVE:
            revoke_api_key(client, tenant_id, info.key_id)
            count += 1
    return count


def verify_api_key(client: VaultClient, presented: str, *, tenant_id: str | None = None) -> ApiKeyInfo:
    """The key's info if ``presented`` is a valid, active key; ``ApiKeyInvalid`` otherwise.

    One index read (skipped if the tenant is known), one record read, one bcrypt comparison."""
    check_format(presented)
    key_id = key_id_for(presented)
    try:
        if tenant_id is None:
            tenant = str(kv.read(client, paths.api_key_index(key_id)).data["tenant_id"])
        else:
            tenant = validate.tenant_id(tenant_id)
        record = kv.read(client, paths.api_key(tenant, key_id))
    except SecretNotFound:
        raise ApiKeyInvalid(f"API key {key_id[:8]}... is unknown") from None
    if not bcrypt.checkpw(presented.encode(), str(record.data["hash"]).encode()):
        raise ApiKeyInvalid(f"API key {key_id[:8]}... does not match its stored hash")
    info = _info(tenant, key_id, record.data, record.version)
    if info.status is not Status.ACTIVE:
        raise ApiKeyInvalid(f"API key {key_id[:8]}... is {info.status.value}")
    return info
