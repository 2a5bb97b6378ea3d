"""Admin login MFA on a real OpenBao, through the toolkit: enrolment, re-enrolment, bootstrap repair, and the
refusal to work on a server that does not enforce the second factor."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.openbao import DevServer
from tests import totp
from tests.fixtures.openbao import root_client
from toolkit.errors import ConfigError
from toolkit.net import free_port
from toolkit.redact import Secret
from vault import auth, bootstrap
from vault.auth import AdminIdentityError
from vault.client import VaultClient
from vault.errors import VaultAuthError, VaultError

PASSWORD = Secret("correct horse battery staple")


def _user() -> str:
    return "ops" + uuid.uuid4().hex[:8]


def test_enrolment_is_kept_unless_reset_and_a_reset_key_replaces_the_old_one(
        vault_root: VaultClient, vault_bootstrap: bootstrap.BootstrapResult) -> None:
    user = _user()
    first = auth.create_admin(vault_root, user, PASSWORD)
    with pytest.raises(VaultError, match="already has a TOTP key"):
        auth.create_admin(vault_root, user, PASSWORD)
    second = auth.create_admin(vault_root, user, PASSWORD, reset_totp=True)
    assert second.entity_id == first.entity_id and second.url.reveal() != first.url.reveal()
    old, new = totp.secret_of(first.url.reveal()), totp.secret_of(second.url.reveal())
    if totp.code(old) != totp.code(new):
        with pytest.raises(VaultAuthError, match="TOTP code is wrong"):
            auth.admin_login(vault_root, user, PASSWORD, totp.code(old))
    with auth.admin_login(vault_root, user, PASSWORD, totp.code(new)) as admin:
        assert admin.read("sys/policies/acl/admin") is not None


def test_an_admin_entity_seen_before_is_adopted(vault_root: VaultClient,
                                               vault_bootstrap: bootstrap.BootstrapResult) -> None:
    """An admin who logged in before enrolment has an entity of its own (named by the server): it gets the key."""
    user = _user()
    made = vault_root.write("identity/entity", {"name": "entity_" + uuid.uuid4().hex[:8]})
    assert made is not None
    vault_root.write("identity/entity-alias", {"name": user, "canonical_id": made["data"]["id"],
                                               "mount_accessor": bootstrap.userpass_accessor(vault_root)})
    enrollment = auth.create_admin(vault_root, user, PASSWORD)
    assert enrollment.entity_id == made["data"]["id"]
    with auth.admin_login(vault_root, user, PASSWORD, totp.code(totp.secret_of(enrollment.url.reveal()))) as admin:
        assert admin.read("sys/policies/acl/admin") is not None


def test_no_key_is_enrolled_on_an_entity_that_carries_other_aliases(
        vault_root: VaultClient, vault_bootstrap: bootstrap.BootstrapResult) -> None:
    user = _user()
    made = vault_root.write("identity/entity", {"name": auth.ADMIN_ENTITY_PREFIX + user})
    assert made is not None
    token_accessor = (vault_root.read("sys/auth") or {})["data"]["token/"]["accessor"]
    vault_root.write("identity/entity-alias", {"name": "tenant-" + user.lower(), "canonical_id": made["data"]["id"],
                                               "mount_accessor": token_accessor})
    with pytest.raises(AdminIdentityError, match="not a plain admin entity"):
        auth.create_admin(vault_root, user, PASSWORD)
    assert vault_root.read(f"auth/userpass/users/{user}") is None


def test_too_many_wrong_codes_say_so(vault_root: VaultClient, vault_bootstrap: bootstrap.BootstrapResult) -> None:
    user = _user()
    secret = totp.secret_of(auth.create_admin(vault_root, user, PASSWORD).url.reveal())
    messages = []
    for _ in range(8):
        with pytest.raises(VaultAuthError) as refused:
            auth.admin_login(vault_root, user, PASSWORD, totp.wrong_code(secret))
        messages.append(str(refused.value))
    assert all("TOTP" in m for m in messages)
    assert any("too many wrong TOTP codes" in m for m in messages[5:])


def test_bootstrap_repairs_a_removed_enforcement(vault_root: VaultClient,
                                                 vault_bootstrap: bootstrap.BootstrapResult) -> None:
    path = f"identity/mfa/login-enforcement/{bootstrap.ADMIN_MFA_ENFORCEMENT}"
    try:
        vault_root.delete(path)
        with pytest.raises(ConfigError, match="does not enforce"):
            auth.create_admin(vault_root, _user(), PASSWORD)
    finally:
        repaired = bootstrap.bootstrap(vault_root)
    assert repaired.changed == [f"login MFA enforced on auth/userpass/ ({bootstrap.ADMIN_MFA_ENFORCEMENT})"]
    assert repaired.admin_mfa_method_id == vault_bootstrap.admin_mfa_method_id
    assert bootstrap.require_admin_mfa(vault_root) == vault_bootstrap.admin_mfa_method_id


@pytest.fixture(scope="module")
def bare_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VaultClient]:
    """A server with userpass but no login MFA (what the toolkit used to set up)."""
    server = DevServer(Path(tmp_path_factory.mktemp("openbao-no-mfa")), port=free_port())
    server.start()
    client = root_client([server.address], server.root_token)
    try:
        client.write("sys/auth/userpass", {"type": "userpass"})
        yield client
    finally:
        client.close()
        server.stop()


def test_no_admin_is_created_where_the_server_does_not_enforce_mfa(bare_server: VaultClient) -> None:
    user = _user()
    with pytest.raises(ConfigError, match="does not enforce"):
        auth.create_admin(bare_server, user, PASSWORD)
    assert bare_server.read(f"auth/userpass/users/{user}") is None


def test_admin_login_refuses_a_password_only_token_and_revokes_it(bare_server: VaultClient) -> None:
    user = _user()
    bare_server.write(f"auth/userpass/users/{user}", {"password": PASSWORD.reveal(), "token_policies": ["admin"]})
    before = set(bare_server.list("auth/token/accessors"))
    with pytest.raises(VaultAuthError, match="does not enforce login MFA"):
        auth.admin_login(bare_server, user, PASSWORD, "123456")
    assert set(bare_server.list("auth/token/accessors")) == before
