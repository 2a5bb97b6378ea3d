"""API key format, lookup id derivation, hashing rules, scopes and tiers (no server)."""

from __future__ import annotations

import re

import bcrypt
import pytest

from toolkit.errors import ValidationError
from toolkit.redact import scrub
from vault import apikeys
from vault.errors import ApiKeyInvalid


def test_format() -> None:
    seen = set()
    for _ in range(200):
        key = apikeys.generate_key().reveal()
        assert re.fullmatch(r"pm_live_[A-Za-z0-9]{32}", key)
        seen.add(key)
    assert len(seen) == 200
    assert scrub(f"key={key}") == "key=***REDACTED***"


def test_key_id_is_a_stable_non_secret_handle() -> None:
    key = apikeys.generate_key()
    key_id = apikeys.key_id_for(key)
    assert key_id == apikeys.key_id_for(key.reveal())
    assert re.fullmatch(r"[0-9a-f]{32}", key_id)
    assert key_id not in key.reveal()


@pytest.mark.parametrize("bad", ["", "pm_live_", "pm_live_" + "a" * 31, "pm_live_" + "a" * 33,
                                 "pm_test_" + "a" * 32, "pm_live_" + "a" * 31 + "!", "pm_live_" + "é" * 32,
                                 " pm_live_" + "a" * 32, "pm_live_" + "a" * 32 + "\n"])
def test_malformed_keys(bad: str) -> None:
    with pytest.raises(ApiKeyInvalid, match="malformed"):
        apikeys.key_id_for(bad)


def test_bcrypt_cost_12_and_minimum() -> None:
    key = apikeys.generate_key()
    hashed = apikeys.hash_key(key)
    assert hashed.startswith("$2b$12$") and bcrypt.checkpw(key.reveal().encode(), hashed.encode())
    if not apikeys._low_cost_allowed:
        with pytest.raises(ValidationError, match="bcrypt_cost"):
            apikeys.hash_key(key, cost=4)


def test_scopes_and_tiers() -> None:
    assert apikeys.validate_scopes(["send_email", "read_analytics", "send_email"]) == (
        "read_analytics", "send_email")
    with pytest.raises(ValidationError, match="scopes"):
        apikeys.validate_scopes(["send_email", "root"])
    with pytest.raises(ValidationError, match="scopes"):
        apikeys.validate_scopes([])
    assert apikeys.TIER_LIMITS[apikeys.Tier.STARTER] == (60, 100)
    assert apikeys.TIER_LIMITS[apikeys.Tier.PRO] == (300, 500)
    assert apikeys.TIER_LIMITS[apikeys.Tier.ENTERPRISE] == (1000, 2000)
