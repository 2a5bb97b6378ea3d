"""Which credential reads restored data (``vault.backup.verify_login``): an AppRole when both parts are set, else a
token; a half-given AppRole or nothing at all is one message naming the variable and the way out."""

from __future__ import annotations

import pytest

from toolkit.errors import ConfigError
from vault.backup.verify_login import VerifyLogin


def test_the_approle_wins_over_tokens() -> None:
    login = VerifyLogin.from_env({"PM_RESTORE_VERIFY_ROLE_ID": "r", "PM_RESTORE_VERIFY_SECRET_ID": "sid-9f3k",
                                  "PM_RESTORE_VERIFY_TOKEN": "t", "VAULT_TOKEN": "v"})
    assert login.role_id == "r" and login.secret_id is not None and login.secret_id.reveal() == "sid-9f3k"
    assert login.token is None and "sid-9f3k" not in repr(login)


@pytest.mark.parametrize(("env", "token"), [
    ({"PM_RESTORE_VERIFY_TOKEN": "t", "VAULT_TOKEN": "v"}, "t"),
    ({"VAULT_TOKEN": "v"}, "v"),
])
def test_a_token_when_no_approle(env: dict[str, str], token: str) -> None:
    login = VerifyLogin.from_env(env)
    assert login.token is not None and login.token.reveal() == token and not login.role_id


@pytest.mark.parametrize(("env", "named"), [
    ({"PM_RESTORE_VERIFY_ROLE_ID": "r", "VAULT_TOKEN": "v"}, "PM_RESTORE_VERIFY_SECRET_ID: is missing"),
    ({"PM_RESTORE_VERIFY_SECRET_ID": "s"}, "PM_RESTORE_VERIFY_ROLE_ID: is missing"),
    ({}, "no credential to read the restored data"),
])
def test_half_an_approle_or_nothing_is_refused_by_name(env: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError, match=named) as caught:
        VerifyLogin.from_env(env)
    assert "existed when the backup was taken" in str(caught.value)
