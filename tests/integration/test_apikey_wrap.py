"""`invoke apikey.create --wrap-ttl N` hands a new key over as a single-use wrapping token (through
``vault.wrapping``): the token, not the key, is printed; it unwraps once to a key that verifies."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from invoke.context import Context

from sandbox.openbao import DevServer
from tasks_lib import apikey
from tests.apikey_tenant import provision_tenant
from tests.handover_env import token_in
from vault import apikeys, wrapping
from vault.client import VaultClient
from vault.errors import WrappingTokenInvalid


def test_a_wrapped_key_is_printed_as_a_token_that_unwraps_once(
        openbao_dev: DevServer, vault_root: VaultClient, vault_bootstrap: object, monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("VAULT_ADDR", openbao_dev.address)
    monkeypatch.setenv("VAULT_TOKEN", openbao_dev.root_token)
    monkeypatch.delenv("VAULT_ADDRS", raising=False)
    monkeypatch.setenv("PM_AUDIT_LOG", str(tmp_path / "audit.jsonl"))
    tenant = "w" + uuid.uuid4().hex[:8]
    provision_tenant(vault_root, tmp_path / "stacks", tenant)
    apikey.create(Context(), tenant, name="ci", wrap_ttl=60, stacks=str(tmp_path / "stacks"))
    out = capsys.readouterr().out
    assert "single-use wrapping token (valid 60 s" in out and "pm_live_" not in out
    token = token_in(out)
    found = wrapping.lookup(vault_root, token)
    assert found is not None and found["creation_ttl"] == 60 and found["creation_path"] == "sys/wrapping/wrap"
    key = wrapping.unwrap(vault_root, token)["api_key"]
    assert apikeys.verify_api_key(vault_root, key).tenant_id == tenant
    with pytest.raises(WrappingTokenInvalid):
        wrapping.unwrap(vault_root, token)
