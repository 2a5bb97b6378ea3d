"""Policies on a real OpenBao: tenant isolation, the system account cannot erase history."""

from __future__ import annotations

import uuid

import pytest

from vault import apikeys, auth, bootstrap, keys, kv, paths, smtp
from vault.client import VaultClient
from vault.errors import VaultPermissionDenied


def _tenant() -> str:
    return "t" + uuid.uuid4().hex[:10]


@pytest.fixture(scope="module")
def two_tenants(vault_system: VaultClient) -> tuple[str, str]:
    a, b = _tenant(), _tenant()
    for tenant in (a, b):
        keys.store_ssh_keypair(vault_system, tenant, "tenant_ssh", algorithm="ed25519")
        keys.store_ssh_keypair(vault_system, tenant, "admin_ssh", algorithm="ed25519")
        smtp.store_admin_credential(vault_system, tenant, f"{tenant}.example.com")
    return a, b


def _tenant_client(system: VaultClient, tenant: str) -> VaultClient:
    return system.with_token(auth.issue_tenant_token(system, tenant), manage_token=True)


def test_bootstrap_is_idempotent(vault_root: VaultClient, vault_bootstrap: bootstrap.BootstrapResult) -> None:
    assert vault_bootstrap.system_role_id
    assert vault_bootstrap.audit_devices == ["file/"]
    assert bootstrap.bootstrap(vault_root).changed == []


def test_tenant_reads_only_its_own_secrets(vault_system: VaultClient, two_tenants: tuple[str, str]) -> None:
    a, b = two_tenants
    with _tenant_client(vault_system, a) as tenant_a:
        assert kv.read(tenant_a, paths.tenant_ssh(a)).data["private_key"].startswith("-----BEGIN OPENSSH")
        assert kv.read(tenant_a, paths.smtp_admin(a)).data["username"] == f"admin@{a}.example.com"
        assert sorted(kv.list_keys(tenant_a, "vps", a)) == ["admin_ssh", "tenant_ssh"]
        for forbidden in (paths.tenant_ssh(b), paths.smtp_admin(b), paths.admin_ssh(a), paths.admin_ssh(b)):
            with pytest.raises(VaultPermissionDenied, match="permission denied"):
                kv.read(tenant_a, forbidden)
        for mount, folder in (("vps", b), ("smtp", b), ("api_keys", b), ("vps", ""), ("dkim", "")):
            with pytest.raises(VaultPermissionDenied):
                kv.list_keys(tenant_a, mount, folder)
        with pytest.raises(VaultPermissionDenied):  # no transit decrypt for tenants
            smtp.decrypt_password(tenant_a, a)
        with pytest.raises(VaultPermissionDenied):
            keys.store_ssh_keypair(tenant_a, a, "tenant_ssh", algorithm="ed25519")


def test_tenant_reads_but_never_writes_api_keys(vault_system: VaultClient, two_tenants: tuple[str, str]) -> None:
    """Keys are issued and revoked by the system; a tenant reads and lists its own records, writes none."""
    apikeys.allow_low_bcrypt_cost()
    a, b = two_tenants
    info, key = apikeys.create_api_key(vault_system, a, name="mine", scopes=["send_email"], cost=4)
    b_info, _ = apikeys.create_api_key(vault_system, b, name="b", scopes=["send_email"], cost=4)
    with _tenant_client(vault_system, a) as tenant_a:
        assert kv.list_keys(tenant_a, "api_keys", a) == [info.key_id]
        assert kv.read(tenant_a, paths.api_key(a, info.key_id)).data["status"] == "active"
        for attempt in (
            lambda: apikeys.create_api_key(tenant_a, a, name="mine2", scopes=["send_email"], cost=4),
            lambda: apikeys.revoke_api_key(tenant_a, a, info.key_id),  # needs transit + write: system only
            lambda: apikeys.create_api_key(tenant_a, b, name="theirs", scopes=["send_email"], cost=4),
            lambda: apikeys.list_api_keys(tenant_a, b),
            lambda: kv.read(tenant_a, paths.api_key(b, b_info.key_id)),
            lambda: kv.read(tenant_a, paths.api_key_index(info.key_id)),
            lambda: kv.write(tenant_a, paths.api_key_index(info.key_id), {"tenant_id": b}, cas=1),
            lambda: kv.write(tenant_a, paths.api_key(a, info.key_id), {"status": "revoked"}, cas=1),
        ):
            with pytest.raises(VaultPermissionDenied):
                attempt()
    assert apikeys.verify_api_key(vault_system, key.reveal()).status is apikeys.Status.ACTIVE


def test_system_cannot_destroy_or_delete_history(vault_system: VaultClient, vault_root: VaultClient) -> None:
    tenant = _tenant()
    path = paths.admin_ssh(tenant)
    keys.store_ssh_keypair(vault_system, tenant, "admin_ssh", algorithm="ed25519")
    keys.store_ssh_keypair(vault_system, tenant, "admin_ssh", algorithm="ed25519")
    attempts = [
        lambda: kv.destroy_versions(vault_system, path, [1]),
        lambda: kv.purge(vault_system, path),
        lambda: vault_system.call(lambda c: c.secrets.kv.v2.delete_latest_version_of_secret(
            path=path.path, mount_point=path.mount), what="delete latest"),
        lambda: vault_system.call(lambda c: c.secrets.kv.v2.delete_secret_versions(
            path=path.path, versions=[1], mount_point=path.mount), what="delete v1"),
        lambda: vault_system.call(lambda c: c.secrets.kv.v2.update_metadata(
            path=path.path, max_versions=1, mount_point=path.mount), what="shrink history"),
        lambda: vault_system.write("vps/config", {"max_versions": 1}),
        lambda: vault_system.write("sys/policies/acl/system", {"policy": 'path "*" { capabilities = ["sudo"] }'}),
        lambda: vault_system.write("identity/entity", {"name": "tenant-x", "policies": ["admin"]}),
    ]
    for attempt in attempts:
        with pytest.raises(VaultPermissionDenied):
            attempt()
    assert [v.version for v in kv.versions(vault_root, path) if not v.destroyed and not v.deletion_time] == [1, 2]
    kv.destroy_versions(vault_root, path, [1])  # the admin can
    assert kv.versions(vault_root, path)[0].destroyed


def test_admin_userpass_with_totp(vault_root: VaultClient, vault_bootstrap: bootstrap.BootstrapResult) -> None:
    from tests import totp
    from toolkit.redact import Secret
    from vault.errors import VaultAuthError

    user = "ops" + uuid.uuid4().hex[:6]
    enrollment = auth.create_admin(vault_root, user, Secret("correct horse battery staple"))
    assert "otpauth://" in enrollment.url.reveal() and "otpauth" not in repr(enrollment)
    code = totp.code(totp.secret_of(enrollment.url.reveal()))
    with auth.admin_login(vault_root, user, Secret("correct horse battery staple"), code) as admin:
        assert admin.read("sys/policies/acl/admin") is not None
    with pytest.raises(VaultAuthError, match="TOTP"):  # replayed code
        auth.admin_login(vault_root, user, Secret("correct horse battery staple"), code)
    with pytest.raises(VaultAuthError, match="password"):
        auth.admin_login(vault_root, user, Secret("wrong password here!"), "123456")
