"""Vault-backed MailuSecrets and the apikey invoke tasks against the dev server."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from invoke.context import Context

from fleet.audit import AuditLog
from mailu.secrets import MailuSecrets, SecretRefs, resolve_loader
from tests import pem
from toolkit.errors import ValidationError
from vault import keys, kv, paths, smtp
from vault.client import VaultClient
from vault.mailu_secrets import VaultMailuSecrets, parse_path, store_mailu_secret_key


def test_vault_mailu_secrets(vault_system: VaultClient) -> None:
    tenant = "m" + uuid.uuid4().hex[:8]
    domain = f"{tenant}.example.com"
    ssh = keys.store_ssh_keypair(vault_system, tenant, "admin_ssh", algorithm="ed25519")
    dkim = keys.store_dkim_key(vault_system, domain, "pm20261124")
    cred, password = smtp.store_admin_credential(vault_system, tenant, domain)
    key_path, key_version = store_mailu_secret_key(vault_system, tenant)
    refs = SecretRefs(ssh.path, dkim.path, cred.path, key_path, admin_ssh_version=ssh.version)
    source = VaultMailuSecrets(vault_system, refs)
    assert isinstance(source, MailuSecrets)
    assert source.admin_ssh_private_key().reveal().startswith(f"{pem.begin('OPENSSH')}")
    assert source.dkim_private_key().reveal().startswith(f"{pem.begin()}")
    assert source.admin_password() == password
    assert len(source.mailu_secret_key().reveal()) >= 24 and key_version == 1
    assert resolve_loader("vault.mailu_secrets:load") is not None
    for bad in ("vps/../admin_ssh", "vps/acme/root_ssh", "secret/acme/admin", "smtp/acme/admin/x", "dkim/x/y"):
        with pytest.raises(ValidationError):
            parse_path(bad, "admin_ssh_path")


def test_apikey_tasks(openbao_dev: object, vault_bootstrap: object, monkeypatch: pytest.MonkeyPatch,
                      capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from tasks_lib import apikey
    from tests.apikey_tenant import provision_tenant

    monkeypatch.setenv("VAULT_ADDR", openbao_dev.address)  # type: ignore[attr-defined]
    monkeypatch.setenv("VAULT_TOKEN", openbao_dev.root_token)  # type: ignore[attr-defined]
    monkeypatch.delenv("VAULT_ADDRS", raising=False)
    monkeypatch.setenv("PM_AUDIT_LOG", str(tmp_path / "audit.jsonl"))
    tenant = "k" + uuid.uuid4().hex[:8]
    stacks = str(tmp_path / "stacks")
    ctx = Context()
    with VaultClient.from_env() as client:
        provision_tenant(client, tmp_path / "stacks", tenant)
    apikey.create(ctx, tenant, name="ci", scopes="send_email,read_analytics", tier="pro", stacks=stacks)
    out = capsys.readouterr().out
    [key] = [line for line in out.splitlines() if line.startswith("pm_live_")]
    apikey.list_(ctx, tenant, json=True)
    listed = capsys.readouterr().out
    assert '"status": "active"' in listed and key not in listed
    key_id = listed.split('"key_id": "')[1].split('"')[0]
    apikey.rotate(ctx, tenant, key_id, wrap_ttl=60, stacks=stacks)
    assert "pm_live_" not in capsys.readouterr().out  # handed over wrapped
    apikey.revoke_all(ctx, tenant, yes=True)
    assert "revoked 1 active key" in capsys.readouterr().out
    with VaultClient.from_env() as client:
        assert {kv.read(client, paths.api_key(tenant, k)).data["status"]
                for k in kv.list_keys(client, "api_keys", tenant)} == {"revoked"}
    events = [e["event"] for e in AuditLog(tmp_path / "audit.jsonl").read()]
    assert events == ["apikey.create", "apikey.list", "apikey.rotate", "apikey.revoke-all"]
