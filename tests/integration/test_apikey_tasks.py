"""`invoke apikey.create|rotate` issue keys only for a tenant that exists (stack file AND provisioned in Vault);
every apikey task leaves one audit event, refusals included."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from invoke.context import Context
from invoke.exceptions import Exit

from fleet.audit import AuditLog
from sandbox.openbao import DevServer
from tasks_lib import apikey
from tests.apikey_tenant import provision_tenant
from toolkit import stack_files
from vault import keys, kv
from vault.client import VaultClient


@pytest.fixture()
def env(openbao_dev: DevServer, vault_bootstrap: object, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setenv("VAULT_ADDR", openbao_dev.address)
    monkeypatch.setenv("VAULT_TOKEN", openbao_dev.root_token)
    monkeypatch.delenv("VAULT_ADDRS", raising=False)
    monkeypatch.setenv("PM_AUDIT_LOG", str(tmp_path / "audit.jsonl"))
    return tmp_path


def _refused(env: Path, tenant: str, match: str) -> None:
    with pytest.raises(Exit, match=match) as caught:
        apikey.create(Context(), tenant, name="x", stacks=str(env / "stacks"))
    assert caught.value.code == 1
    with VaultClient.from_env() as client:
        assert kv.list_keys(client, "api_keys", tenant) == []
    [event] = AuditLog(env / "audit.jsonl").read()[-1:]
    assert (event["event"], event["tenant"], event["outcome"]) == ("apikey.create", tenant, "refused")


def test_create_refuses_a_tenant_without_a_stack_file(env: Path, vault_root: VaultClient) -> None:
    tenant = "u" + uuid.uuid4().hex[:8]
    keys.store_ssh_keypair(vault_root, tenant, "admin_ssh", algorithm="ed25519")  # in Vault, not in the fleet
    _refused(env, tenant, "no stack file")


def test_create_refuses_a_tenant_never_provisioned_in_vault(env: Path) -> None:
    tenant = "u" + uuid.uuid4().hex[:8]
    stack_files.create(env / "stacks", {"tenant_id": tenant, "domain": f"{tenant}.example.com",
                                        "dns": {"provider": "manual"},
                                        "dkim_selector": "pm20261125"})
    _refused(env, tenant, "not provisioned in Vault")


def test_every_apikey_task_writes_an_audit_event(env: Path, vault_root: VaultClient,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    tenant = "u" + uuid.uuid4().hex[:8]
    provision_tenant(vault_root, env / "stacks", tenant)
    ctx = Context()
    apikey.create(ctx, tenant, name="ci", tier="pro", stacks=str(env / "stacks"))
    key_id = capsys.readouterr().out.split("key id ")[1].split()[0]
    apikey.list_(ctx, tenant, json=True)
    apikey.revoke(ctx, tenant, key_id)
    events = AuditLog(env / "audit.jsonl").read()
    assert [(e["event"], e["outcome"]) for e in events] == [
        ("apikey.create", "ok"), ("apikey.list", "ok"), ("apikey.revoke", "ok")]
    assert events[0]["details"]["key_id"] == key_id and events[0]["details"]["tier"] == "pro"
    assert "pm_live_" not in (env / "audit.jsonl").read_text()
