"""API-key records and their integrity tag: only records the system issued are ever trusted.

A record at ``api_keys/<tenant>/<key_id>`` holds the bcrypt hash, name, scopes, tier, rate limits, status and
dates. Before this module, verification trusted whatever was stored there, so anyone able to write the path
(the tenant policy used to allow it) could re-activate a revoked key, raise its tier, add scopes or plant a
brand-new record. Now every record carries ``integrity``: an HMAC-SHA256 computed by Vault transit with the
``apikey-records`` key, over a canonical JSON document of

    scheme, tenant id, key id, the KV version the record is written as, and every other field of the record

so a changed field, a record moved to another tenant or key id, and an older version written again (replayed:
it lands under a newer KV version) all fail the check. The HMAC key never leaves Vault and only the system
policy may use it (``transit/hmac`` to tag, ``transit/verify`` to check); tenants have no transit access.

Records without a valid tag are *tampered* (``ApiKeyTampered``): verification refuses them before the bcrypt
comparison is trusted, listing and revocation report them and leave them untouched (their content is never
re-tagged, so a forged tier or scope set can never be laundered into a genuine record). Records written before
integrity tags existed are refused the same way (untagged): the sandbox never held such records; a real
deployment would re-issue its keys (``apikey.rotate`` refuses untagged records too, on purpose).

The check lives behind ``RecordSigner`` so the canonical form and the parsing are unit-testable without a
server; ``TransitSigner`` is the one implementation the toolkit uses.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from vault.client import VaultClient
from vault.errors import ApiKeyInvalid, VaultError

TRANSIT_MOUNT = "transit"
TRANSIT_HMAC_KEY = "apikey-records"
HASH_ALGORITHM = "sha2-256"
TAG_FIELD = "integrity"
TAG_SCHEME = "pm-apikey-record/v1"
_TAG_PATTERN = re.compile(r"vault:v[1-9][0-9]{0,8}:[A-Za-z0-9+/]{1,200}={0,2}")
_BCRYPT_PATTERN = re.compile(r"\$2[aby]\$[0-9]{2}\$[./A-Za-z0-9]{53}")

SCOPES = frozenset(
    {"send_email", "read_analytics", "manage_contacts", "manage_campaigns", "manage_domains", "manage_webhooks"}
)


class ApiKeyTampered(ApiKeyInvalid):
    """A stored record the system did not issue (no valid integrity tag) or cannot read: never trusted."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: record refused as tampered: {reason}")
        self.path = path
        self.reason = reason


class Tier(StrEnum):
    STARTER = "starter"
    PRO = "pro"
    ENTERPRISE = "enterprise"


class Status(StrEnum):
    ACTIVE = "active"
    REVOKED = "revoked"


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
    revoked_at: str = ""


@dataclass(frozen=True)
class CheckedRecord:
    """A record whose integrity tag verified: its info and its bcrypt hash."""

    info: ApiKeyInfo
    hash: str
    data: dict[str, Any]


class RecordSigner(Protocol):
    """Computes and checks integrity tags (Vault transit HMAC in the toolkit)."""

    def tag(self, payload: bytes) -> str: ...

    def check(self, payload: bytes, tag: str) -> bool: ...


class TransitSigner:
    """HMAC-SHA256 by Vault transit with a key that never leaves Vault (system policy only)."""

    def __init__(self, client: VaultClient, key: str = TRANSIT_HMAC_KEY) -> None:
        self._client = client
        self._key = key

    def tag(self, payload: bytes) -> str:
        reply = self._client.write(f"{TRANSIT_MOUNT}/hmac/{self._key}/{HASH_ALGORITHM}",
                                   {"input": base64.b64encode(payload).decode()})
        value = str(((reply or {}).get("data") or {}).get("hmac", ""))
        if not _TAG_PATTERN.fullmatch(value):
            raise VaultError(f"transit/hmac/{self._key}: unexpected reply (run `invoke vault.bootstrap`?)")
        return value

    def check(self, payload: bytes, tag: str) -> bool:
        try:
            reply = self._client.write(f"{TRANSIT_MOUNT}/verify/{self._key}/{HASH_ALGORITHM}",
                                       {"input": base64.b64encode(payload).decode(), "hmac": tag})
        except VaultError as exc:
            if type(exc) is VaultError:  # 400: Vault refused this tag (e.g. a key version that never existed)
                return False
            raise  # permission denied, unavailable, missing key: not the record's fault
        return ((reply or {}).get("data") or {}).get("valid") is True


def canonical(tenant_id: str, key_id: str, kv_version: int, data: Mapping[str, Any]) -> bytes:
    """The bytes the tag covers: every field but the tag, bound to the tenant, key id and KV version."""
    body = {k: v for k, v in data.items() if k != TAG_FIELD}
    document = {"scheme": TAG_SCHEME, "tenant_id": tenant_id, "key_id": key_id, "kv_version": kv_version,
                "record": body}
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def seal(signer: RecordSigner, tenant_id: str, key_id: str, kv_version: int,
         data: Mapping[str, Any]) -> dict[str, Any]:
    """``data`` plus its integrity tag, for writing as version ``kv_version`` (``cas + 1``)."""
    body = {k: v for k, v in data.items() if k != TAG_FIELD}
    parse_fields(tenant_id, key_id, kv_version, body)  # never tag a record the toolkit could not read back
    return {**body, TAG_FIELD: signer.tag(canonical(tenant_id, key_id, kv_version, body))}


def open_record(signer: RecordSigner, tenant_id: str, key_id: str, kv_version: int,
                data: Mapping[str, Any]) -> CheckedRecord:
    """The record's info if its tag verifies; ``ApiKeyTampered`` (with the reason) otherwise."""
    where = f"api_keys/{tenant_id}/{key_id}"
    tag = data.get(TAG_FIELD)
    if tag is None:
        raise ApiKeyTampered(where, "no integrity tag (not issued by the system, or written before tags)")
    if not isinstance(tag, str) or not _TAG_PATTERN.fullmatch(tag):
        raise ApiKeyTampered(where, "integrity tag is malformed")
    if not signer.check(canonical(tenant_id, key_id, kv_version, data), tag):
        raise ApiKeyTampered(where, "integrity tag does not match the record (altered, moved or replayed)")
    info = parse_fields(tenant_id, key_id, kv_version, data)
    return CheckedRecord(info, str(data["hash"]), dict(data))


def parse_fields(tenant_id: str, key_id: str, kv_version: int, data: Mapping[str, Any]) -> ApiKeyInfo:
    """Strict reading of a record's fields; ``ApiKeyTampered`` names the first bad one."""
    where = f"api_keys/{tenant_id}/{key_id}"

    def bad(field: str, why: str) -> ApiKeyTampered:
        return ApiKeyTampered(where, f"field {field!r} {why}")

    hashed = data.get("hash")
    if not isinstance(hashed, str) or not _BCRYPT_PATTERN.fullmatch(hashed):
        raise bad("hash", "is not a bcrypt hash")
    scopes = data.get("scopes")
    if not isinstance(scopes, list) or not scopes or not all(isinstance(s, str) and s in SCOPES for s in scopes):
        raise bad("scopes", f"must be a non-empty list of {sorted(SCOPES)}")
    texts = {}
    for field in ("name", "tier", "status", "created_at"):
        value = data.get(field)
        if not isinstance(value, str):
            raise bad(field, "is missing or not a string")
        texts[field] = value
    revoked_at = data.get("revoked_at", "")
    if not isinstance(revoked_at, str):
        raise bad("revoked_at", "is not a string")
    numbers = {}
    for field in ("rate_limit_per_minute", "burst"):
        value = data.get(field)
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise bad(field, "is missing or not a positive integer")
        numbers[field] = value
    try:
        tier, status = Tier(texts["tier"]), Status(texts["status"])
    except ValueError:
        raise bad("tier/status", f"holds an unknown value ({texts['tier']!r}, {texts['status']!r})") from None
    return ApiKeyInfo(
        tenant_id=tenant_id, key_id=key_id, name=texts["name"], scopes=tuple(scopes), tier=tier,
        rate_limit_per_minute=numbers["rate_limit_per_minute"], burst=numbers["burst"], status=status,
        created_at=texts["created_at"], version=kv_version, revoked_at=revoked_at,
    )
