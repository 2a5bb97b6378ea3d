"""VaultConfig: parsed from the environment, validated, secrets never in reprs."""

from __future__ import annotations

import pytest

from toolkit.errors import ConfigError
from vault.client import status_of, translate
from vault.config import VaultConfig
from vault.errors import CasConflict, SecretNotFound, VaultPermissionDenied, VaultUnavailable


def test_from_env_address_list_and_token() -> None:
    config = VaultConfig.from_env(
        {"VAULT_ADDRS": "http://a:8200, http://b:8200/,", "VAULT_TOKEN": "s.abcdefghijklmnopqrstuvwx"}
    )
    assert config.addresses == ("http://a:8200", "http://b:8200")
    assert "abcdefghijklmnop" not in repr(config)
    assert not config.uses_approle


def test_from_env_approle_wins() -> None:
    config = VaultConfig.from_env({"VAULT_ADDR": "https://v:8200", "VAULT_TOKEN": "x" * 24,
                                   "VAULT_ROLE_ID": "role", "VAULT_SECRET_ID": "secret-id-value"})
    assert config.uses_approle and config.token is None
    assert "secret-id-value" not in repr(config)


@pytest.mark.parametrize("env,field", [
    ({"VAULT_TOKEN": "t" * 10}, "vault.addresses"),
    ({"VAULT_ADDR": "ftp://x", "VAULT_TOKEN": "t" * 10}, "vault.addresses"),
    ({"VAULT_ADDR": "http://x:8200"}, "vault.auth"),
    ({"VAULT_ADDR": "http://x:8200", "VAULT_ROLE_ID": "r"}, "vault.auth"),
])
def test_config_errors_name_the_field(env: dict[str, str], field: str) -> None:
    with pytest.raises(ConfigError) as err:
        VaultConfig.from_env(env)
    assert err.value.field == field


def test_translate_maps_statuses() -> None:
    import hvac.exceptions as e
    assert status_of(e.Forbidden("x")) == 403
    assert isinstance(translate(e.Forbidden("permission denied"), "read x"), VaultPermissionDenied)
    assert isinstance(translate(e.InvalidPath("x"), "read x"), SecretNotFound)
    assert isinstance(translate(e.InvalidRequest(errors=["check-and-set parameter did not match"]), "w"), CasConflict)
    assert isinstance(translate(e.VaultDown("sealed"), "read x"), VaultUnavailable)
