"""Keys, SMTP credentials, API keys, wrapping and audit on a real OpenBao dev server."""

from __future__ import annotations

import json
import logging
import time
import uuid

import bcrypt
import pytest

from tests import pem
from toolkit.errors import ValidationError
from toolkit.redact import Secret
from vault import apikeys, keys, kv, paths, smtp, wrapping
from vault.client import VaultClient
from vault.errors import ApiKeyInvalid, WrappingTokenInvalid


def _tenant() -> str:
    return "t" + uuid.uuid4().hex[:10]


def test_rotation_keeps_history(vault_system: VaultClient) -> None:
    tenant = _tenant()
    stored = [keys.store_ssh_keypair(vault_system, tenant, "admin_ssh", algorithm="ed25519") for _ in range(3)]
    assert [s.version for s in stored] == [1, 2, 3]
    assert len({s.fingerprint for s in stored}) == 3
    path = paths.admin_ssh(tenant)
    versions = [kv.read(vault_system, path, v) for v in (1, 2, 3)]
    assert len({v.data["private_key"] for v in versions}) == 3
    assert {v.data["created_at"] for v in versions} == {versions[0].data["created_at"]}
    assert [v.data["fingerprint"] for v in versions] == [s.fingerprint for s in stored]
    assert set(versions[2].data) == {"private_key", "public_key", "fingerprint", "algorithm", "created_at",
                                     "last_rotated", "rotation_policy", "rotation_trigger"}
    assert versions[2].data["rotation_policy"] == "90_days"


def test_rsa4096_default_into_vault(vault_system: VaultClient) -> None:
    tenant = _tenant()
    stored = keys.store_ssh_keypair(vault_system, tenant, "tenant_ssh")
    assert stored.public_key.startswith("ssh-rsa ") and stored.path == f"vps/{tenant}/tenant_ssh"
    assert "PRIVATE" not in repr(stored)
    assert keys.read_public(vault_system, paths.tenant_ssh(tenant)) == stored


def test_dkim_into_vault(vault_system: VaultClient) -> None:
    domain = f"{_tenant()}.example.com"
    stored = keys.store_dkim_key(vault_system, domain, "pm20261124")
    record = kv.read(vault_system, paths.dkim(domain, "pm20261124"))
    assert record.data["dns_value"] == f"v=DKIM1; k=rsa; p={stored.public_key}"
    assert record.data["state"] == "pending"
    assert keys.set_dkim_state(vault_system, domain, "pm20261124", "active") == "pending"  # the state before
    assert kv.read(vault_system, paths.dkim(domain, "pm20261124")).version == 2
    assert keys.set_dkim_state(vault_system, domain, "pm20261124", "active") == "active"  # nothing written
    assert kv.read(vault_system, paths.dkim(domain, "pm20261124")).version == 2
    assert keys.read_private(vault_system, paths.dkim(domain, "pm20261124")).reveal().startswith(
        f"{pem.begin()}")


@pytest.mark.parametrize("tenant", ["..", "../vps", "a/b", "*", "", "a" * 64, "acmé", "acme\n", "ACME"])
def test_path_injection_refused_before_any_request(vault_system: VaultClient, tenant: str) -> None:
    with pytest.raises(ValidationError, match="tenant_id"):
        keys.store_ssh_keypair(vault_system, tenant, "admin_ssh", algorithm="ed25519")
    with pytest.raises(ValidationError, match="tenant_id"):
        smtp.store_admin_credential(vault_system, tenant, "example.com")
    with pytest.raises(ValidationError, match="tenant_id"):
        apikeys.create_api_key(vault_system, tenant, name="x", scopes=["send_email"])
    with pytest.raises(ValidationError):
        keys.store_dkim_key(vault_system, tenant if tenant else "..", "pm1")
    with pytest.raises(ValidationError, match="selector"):
        keys.store_dkim_key(vault_system, "example.com", tenant or "..")


def test_smtp_credential_transit(vault_system: VaultClient) -> None:
    tenant = _tenant()
    _cred, password = smtp.store_admin_credential(vault_system, tenant, "example.com")
    record = kv.read(vault_system, paths.smtp_admin(tenant))
    assert record.data["encrypted_password"].startswith("vault:v1:")
    assert password.reveal() not in json.dumps(record.data)
    assert len(__import__("base64").b64decode(password.reveal())) == 32
    assert record.data["rotation_policy"] == "180_days" and record.data["username"] == "admin@example.com"
    assert smtp.decrypt_password(vault_system, tenant) == password
    cred2, emergency = smtp.store_admin_credential(vault_system, tenant, "example.com", incident_id="INC-42")
    assert cred2.version == 2 and len(__import__("base64").b64decode(emergency.reveal())) == 48
    latest = kv.read(vault_system, paths.smtp_admin(tenant)).data
    assert latest["compromised_versions"] == [1] and latest["incident_id"] == "INC-42"
    assert smtp.decrypt_password(vault_system, tenant, version=1) == password


def test_wrapped_ssh_key_unwraps_exactly_once(vault_system: VaultClient, vault_root: VaultClient) -> None:
    tenant = _tenant()
    keys.store_ssh_keypair(vault_system, tenant, "tenant_ssh", algorithm="ed25519")
    expected = kv.read(vault_system, paths.tenant_ssh(tenant)).data["private_key"]
    wrapped = wrapping.wrap_tenant_ssh_private_key(vault_system, tenant)
    assert wrapped.ttl == 900 and wrapped.creation_path == f"vps/data/{tenant}/tenant_ssh"
    assert wrapping.unwrap_ssh_private_key(vault_root, wrapped.token).reveal() == expected
    with pytest.raises(WrappingTokenInvalid):
        wrapping.unwrap(vault_root, wrapped.token)


def test_wrapped_smtp_view_expires(vault_system: VaultClient, vault_root: VaultClient) -> None:
    tenant = _tenant()
    _, password = smtp.store_admin_credential(vault_system, tenant, "example.com")
    view = wrapping.wrap_smtp_credential(vault_system, tenant)
    assert view.password.ttl == 900 and view.username == "admin@example.com"
    assert wrapping.unwrap_smtp_password(vault_root, view.password.token) == password
    short = wrapping.wrap_smtp_credential(vault_system, tenant, ttl=1)
    # Wait until Vault itself says the token is gone (no timing assumption), then unwrapping must fail.
    assert wrapping.lookup(vault_root, short.password.token) is not None
    while wrapping.lookup(vault_root, short.password.token) is not None:
        time.sleep(0.2)
    with pytest.raises(WrappingTokenInvalid):
        wrapping.unwrap(vault_root, short.password.token)


def test_api_key_lifecycle(vault_system: VaultClient) -> None:
    tenant = _tenant()
    info, key = apikeys.create_api_key(vault_system, tenant, name="ci", scopes=["send_email"], tier="enterprise")
    assert (info.rate_limit_per_minute, info.burst) == (1000, 2000)
    stored = kv.read(vault_system, paths.api_key(tenant, info.key_id)).data
    assert stored["hash"].startswith("$2b$12$") and key.reveal() not in json.dumps(stored)
    assert apikeys.verify_api_key(vault_system, key.reveal()).key_id == info.key_id
    assert apikeys.verify_api_key(vault_system, key.reveal(), tenant_id=tenant).tenant_id == tenant
    _new_info, new_key = apikeys.rotate_api_key(vault_system, tenant, info.key_id)
    with pytest.raises(ApiKeyInvalid, match="revoked"):
        apikeys.verify_api_key(vault_system, key.reveal())
    assert apikeys.verify_api_key(vault_system, new_key.reveal()).scopes == ("send_email",)
    with pytest.raises(ApiKeyInvalid, match="unknown"):
        apikeys.verify_api_key(vault_system, apikeys.generate_key().reveal())
    assert len(apikeys.revoke_all(vault_system, tenant).revoked) == 1
    assert {k.status for k in apikeys.list_api_keys(vault_system, tenant)} == {apikeys.Status.REVOKED}
    assert len(kv.versions(vault_system, paths.api_key(tenant, info.key_id))) == 2  # revocation = new version


def test_verify_costs_one_bcrypt_whatever_the_number_of_keys(
    vault_system: VaultClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    apikeys.allow_low_bcrypt_cost()
    tenant = _tenant()
    created = [apikeys.create_api_key(vault_system, tenant, name=f"k{i}", scopes=["send_email"], cost=4)
               for i in range(30)]
    calls: list[int] = []
    real = bcrypt.checkpw
    monkeypatch.setattr(bcrypt, "checkpw", lambda p, h: calls.append(1) or real(p, h))
    apikeys.verify_api_key(vault_system, created[17][1].reveal())
    assert calls == [1]


def test_audit_log_records_access_with_hmaced_values(
    vault_system: VaultClient, openbao_dev: object
) -> None:
    tenant = _tenant()
    keys.store_ssh_keypair(vault_system, tenant, "admin_ssh", algorithm="ed25519")
    secret = kv.read(vault_system, paths.admin_ssh(tenant))
    audit = openbao_dev.audit_log  # type: ignore[attr-defined]
    wanted = f"vps/data/{tenant}/admin_ssh"
    entries = [json.loads(line) for line in audit.read_text().splitlines() if wanted in line]
    reads = [e for e in entries if e["type"] == "response" and e["request"]["operation"] == "read"]
    writes = [e for e in entries if e["request"]["operation"] in ("create", "update")]
    assert reads and writes
    logged = reads[-1]["response"]["data"]["data"]
    assert logged["private_key"].startswith("hmac-sha256:")
    assert logged["public_key"].startswith("hmac-sha256:")
    text = audit.read_text()
    assert secret.data["private_key"] not in text
    assert secret.data["private_key"].splitlines()[1] not in text  # not even one line of the key body
    assert reads[-1]["auth"]["policies"] == ["default", "system"]


def test_no_private_material_in_logs(vault_system: VaultClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    tenant = _tenant()
    keys.store_ssh_keypair(vault_system, tenant, "tenant_ssh", algorithm="ed25519")
    domain = f"{tenant}.example.org"
    keys.store_dkim_key(vault_system, domain, "pm20261124")
    _, password = smtp.store_admin_credential(vault_system, tenant, domain)
    _info, key = apikeys.create_api_key(vault_system, tenant, name="x", scopes=["send_email"])
    wrapped = wrapping.wrap_tenant_ssh_private_key(vault_system, tenant)
    private = kv.read(vault_system, paths.tenant_ssh(tenant)).data["private_key"]
    dkim_private = kv.read(vault_system, paths.dkim(domain, "pm20261124")).data["private_key"]
    text = caplog.text + "".join(str(r.args) for r in caplog.records)
    assert "PRIVATE KEY" not in text
    for needle in (private.splitlines()[1], dkim_private.splitlines()[1], password.reveal(), key.reveal(),
                   wrapped.token.reveal(), vault_system.token.reveal()):
        assert needle not in text
    assert isinstance(wrapped.token, Secret)
