"""API-key record integrity: the canonical form the tag covers, sealing and strict reading (no server).

Vault transit computes the tags in the toolkit; here a local HMAC-SHA256 with the same ``vault:v1:`` shape stands
in for it, so what is tested is this module's canonical form and checks, not Vault's HMAC.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

import bcrypt
import pytest

from vault.apikey_records import (
    TAG_FIELD,
    ApiKeyTampered,
    Status,
    Tier,
    canonical,
    open_record,
    parse_fields,
    seal,
)

TENANT, KEY_ID = "acme", "0123456789abcdef0123456789abcdef"
HASH = bcrypt.hashpw(b"pm_live_" + b"a" * 32, bcrypt.gensalt(rounds=4)).decode()


class LocalHmac:
    """Stand-in for transit/hmac + transit/verify (same tag shape, a key held by the test)."""

    def __init__(self, key: bytes = b"k" * 32) -> None:
        self.key = key

    def tag(self, payload: bytes) -> str:
        return "vault:v1:" + base64.b64encode(hmac.new(self.key, payload, hashlib.sha256).digest()).decode()

    def check(self, payload: bytes, tag: str) -> bool:
        return hmac.compare_digest(self.tag(payload), tag)


def _record(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"hash": HASH, "name": "ci", "scopes": ["send_email"], "tier": "starter",
                            "rate_limit_per_minute": 60, "burst": 100, "status": "active",
                            "created_at": "2026-11-25T10:00:00Z"}
    data.update(changes)
    return data


def _sealed(signer: LocalHmac | None = None, version: int = 1, **changes: Any) -> dict[str, Any]:
    return seal(signer or LocalHmac(), TENANT, KEY_ID, version, _record(**changes))


def test_a_sealed_record_opens_with_every_field() -> None:
    checked = open_record(LocalHmac(), TENANT, KEY_ID, 1, _sealed())
    info = checked.info
    assert (info.tenant_id, info.key_id, info.version, info.name) == (TENANT, KEY_ID, 1, "ci")
    assert (info.tier, info.status, info.scopes) == (Tier.STARTER, Status.ACTIVE, ("send_email",))
    assert (info.rate_limit_per_minute, info.burst, info.revoked_at) == (60, 100, "")
    assert checked.hash == HASH


def test_canonical_form_is_stable_and_binds_the_location() -> None:
    a = canonical(TENANT, KEY_ID, 1, _record())
    assert a == canonical(TENANT, KEY_ID, 1, dict(reversed(list(_record().items()))))  # key order irrelevant
    assert a == canonical(TENANT, KEY_ID, 1, {**_record(), TAG_FIELD: "vault:v1:xx"})  # the tag is not covered
    assert len({a, canonical("other", KEY_ID, 1, _record()), canonical(TENANT, "f" * 32, 1, _record()),
                canonical(TENANT, KEY_ID, 2, _record())}) == 4


@pytest.mark.parametrize("change", [
    {"status": "active"},  # on a revoked record: re-activation
    {"tier": "enterprise", "rate_limit_per_minute": 1000, "burst": 2000},
    {"scopes": ["send_email", "manage_domains"]},
    {"hash": bcrypt.hashpw(b"x", bcrypt.gensalt(rounds=4)).decode()},
    {"revoked_at": ""},
    {"created_at": "2030-01-01T00:00:00Z"},
    {"expires_at": "2099-01-01T00:00:00Z"},  # an added field counts too
])
def test_any_changed_field_breaks_the_tag(change: dict[str, Any]) -> None:
    revoked = _sealed(status="revoked", revoked_at="2026-11-25T11:00:00Z")
    forged = {**revoked, **change}
    with pytest.raises(ApiKeyTampered, match="does not match"):
        open_record(LocalHmac(), TENANT, KEY_ID, 1, forged)


def test_moved_or_replayed_records_are_refused() -> None:
    sealed = _sealed()
    with pytest.raises(ApiKeyTampered, match="does not match"):
        open_record(LocalHmac(), "other", KEY_ID, 1, sealed)  # copied to another tenant
    with pytest.raises(ApiKeyTampered, match="does not match"):
        open_record(LocalHmac(), TENANT, "f" * 32, 1, sealed)  # copied to another key id
    with pytest.raises(ApiKeyTampered, match="does not match"):
        open_record(LocalHmac(), TENANT, KEY_ID, 3, sealed)  # the active v1 written again after a revocation (v2)


def test_a_tag_from_another_key_is_refused() -> None:
    with pytest.raises(ApiKeyTampered, match="does not match"):
        open_record(LocalHmac(), TENANT, KEY_ID, 1, _sealed(LocalHmac(b"attacker-key" * 3)))


@pytest.mark.parametrize(("tag", "reason"), [
    (None, "no integrity tag"), ("", "malformed"), ("hmac-sha256:abc", "malformed"), (42, "malformed"),
    ("vault:v1:" + "A" * 500, "malformed"), ("vault:v0:AAAA", "malformed"),
])
def test_untagged_and_malformed_tags(tag: object, reason: str) -> None:
    data = _record() if tag is None else {**_record(), TAG_FIELD: tag}
    with pytest.raises(ApiKeyTampered, match=reason) as caught:
        open_record(LocalHmac(), TENANT, KEY_ID, 1, data)
    assert caught.value.path == f"api_keys/{TENANT}/{KEY_ID}"


@pytest.mark.parametrize(("change", "field"), [
    ({"hash": "plain"}, "hash"), ({"hash": None}, "hash"), ({"scopes": []}, "scopes"),
    ({"scopes": ["root"]}, "scopes"), ({"scopes": "send_email"}, "scopes"), ({"tier": "platinum"}, "tier"),
    ({"status": "paused"}, "status"), ({"burst": True}, "burst"), ({"rate_limit_per_minute": "60"}, "rate_limit"),
    ({"rate_limit_per_minute": 0}, "rate_limit"), ({"name": None}, "name"), ({"revoked_at": 5}, "revoked_at"),
])
def test_malformed_fields_are_named(change: dict[str, Any], field: str) -> None:
    with pytest.raises(ApiKeyTampered, match=field):
        parse_fields(TENANT, KEY_ID, 1, _record(**change))
    with pytest.raises(ApiKeyTampered, match=field):  # and nothing malformed is ever sealed
        seal(LocalHmac(), TENANT, KEY_ID, 1, _record(**change))


def test_missing_fields_are_refused_not_a_key_error() -> None:
    for field in _record():
        data = _record()
        del data[field]
        with pytest.raises(ApiKeyTampered):
            parse_fields(TENANT, KEY_ID, 1, data)


def test_sealing_replaces_a_stale_tag() -> None:
    first = _sealed()
    resealed = seal(LocalHmac(), TENANT, KEY_ID, 2, {**first, "status": "revoked", "revoked_at": "x"})
    assert resealed[TAG_FIELD] != first[TAG_FIELD]
    assert open_record(LocalHmac(), TENANT, KEY_ID, 2, resealed).info.status is Status.REVOKED
