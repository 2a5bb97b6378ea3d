"""Attacks on tenant API keys (issue 11 items 2 and 3; the audit part of item 8) against a real OpenBao.

Item 2, "a tenant forges and re-activates API keys": the tenant policy allowed create/update on the tenant's own
``api_keys`` records and verification trusted the stored status, tier and scopes. Each forgery is now tried with
the TENANT's own token over the raw HTTP API (Vault answers 403, nothing changes), then written with a privileged
token to stand for a policy bypass: verification refuses the record as tampered (transit HMAC over every field).
Item 3, "a tenant blocks emergency revocation": one malformed record made list / revoke-all / rotate crash with
KeyError. Revocation now revokes every genuine key and reports what it skipped, also through `invoke`.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bcrypt
import pytest
import requests

from sandbox.openbao import DevServer
from tests.apikey_tenant import provision_tenant
from toolkit.redact import Secret
from vault import apikeys, auth, kv, paths
from vault.apikey_records import TAG_FIELD, ApiKeyTampered
from vault.client import VaultClient
from vault.errors import ApiKeyInvalid, VaultPermissionDenied

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Tenant:
    id: str
    address: str
    token: Secret
    active: tuple[apikeys.ApiKeyInfo, Secret]
    revoked: tuple[apikeys.ApiKeyInfo, Secret]

    def raw_write(self, path: paths.SecretPath, data: dict[str, Any], cas: int) -> requests.Response:
        """What the tenant can send with its own token, bypassing the toolkit."""
        return requests.post(f"{self.address}/v1/{path.data_api}", json={"data": data, "options": {"cas": cas}},
                             headers={"X-Vault-Token": self.token.reveal()}, timeout=10)


@pytest.fixture()
def tenant(openbao_dev: DevServer, vault_system: VaultClient, tmp_path: Path) -> Tenant:
    apikeys.allow_low_bcrypt_cost()
    tenant_id = "f" + uuid.uuid4().hex[:10]
    provision_tenant(vault_system, tmp_path / "stacks", tenant_id)
    active = apikeys.create_api_key(vault_system, tenant_id, name="live", scopes=["send_email"], cost=4)
    revoked = apikeys.create_api_key(vault_system, tenant_id, name="old", scopes=["send_email"], cost=4)
    apikeys.revoke_api_key(vault_system, tenant_id, revoked[0].key_id)
    token = auth.issue_tenant_token(vault_system, tenant_id)
    return Tenant(tenant_id, openbao_dev.address, token, active, revoked)


def _stored(root: VaultClient, tenant: str) -> dict[str, tuple[int, dict[str, Any]]]:
    """Every record under the tenant's folder with its version (proves nothing changed)."""
    out = {}
    for name in kv.list_keys(root, "api_keys", tenant):
        record = kv.read(root, paths.api_key(tenant, name))
        out[name] = (record.version, record.data)
    return out


def _assert_refused(reply: requests.Response) -> None:
    assert reply.status_code == 403, reply.text
    assert "permission denied" in reply.text


def _forge(root: VaultClient, tenant: Tenant, key_id: str, **changes: Any) -> dict[str, Any]:
    """The tenant's edit, first with its own token (refused, nothing changes), then with a privileged one."""
    path = paths.api_key(tenant.id, key_id)
    before = _stored(root, tenant.id)
    current = kv.read(root, path)
    forged = {**current.data, **changes}
    _assert_refused(tenant.raw_write(path, forged, cas=current.version))
    assert _stored(root, tenant.id) == before
    kv.write(root, path, forged, cas=current.version)  # stands for a policy bypass
    return forged


def test_tenant_reactivates_a_revoked_key(tenant: Tenant, vault_root: VaultClient,
                                          vault_system: VaultClient) -> None:
    info, key = tenant.revoked
    with pytest.raises(ApiKeyInvalid, match="revoked"):
        apikeys.verify_api_key(vault_system, key.reveal())
    _forge(vault_root, tenant, info.key_id, status="active", revoked_at="")
    with pytest.raises(ApiKeyTampered, match="does not match the record"):
        apikeys.verify_api_key(vault_system, key.reveal())


def test_tenant_replays_the_active_version_of_a_revoked_key(tenant: Tenant, vault_root: VaultClient,
                                                            vault_system: VaultClient) -> None:
    """The genuine, correctly tagged version 1 (active) written again on top of the revocation."""
    info, key = tenant.revoked
    path = paths.api_key(tenant.id, info.key_id)
    genuine_v1 = kv.read(vault_root, path, version=1).data
    _assert_refused(tenant.raw_write(path, genuine_v1, cas=2))
    assert kv.current_version(vault_root, path) == 2
    kv.write(vault_root, path, genuine_v1, cas=2)
    with pytest.raises(ApiKeyTampered, match="replayed"):
        apikeys.verify_api_key(vault_system, key.reveal())


def test_tenant_raises_its_tier_to_enterprise(tenant: Tenant, vault_root: VaultClient,
                                             vault_system: VaultClient) -> None:
    info, key = tenant.active
    _forge(vault_root, tenant, info.key_id, tier="enterprise", rate_limit_per_minute=1000, burst=2000)
    with pytest.raises(ApiKeyTampered, match="does not match the record"):
        apikeys.verify_api_key(vault_system, key.reveal(), tenant_id=tenant.id)


def test_tenant_adds_scopes(tenant: Tenant, vault_root: VaultClient, vault_system: VaultClient) -> None:
    info, key = tenant.active
    _forge(vault_root, tenant, info.key_id, scopes=sorted(apikeys.SCOPES))
    with pytest.raises(ApiKeyTampered, match="does not match the record"):
        apikeys.verify_api_key(vault_system, key.reveal())


@pytest.mark.parametrize("tag", [None, "vault:v1:" + base64.b64encode(b"\0" * 32).decode()])
def test_tenant_plants_a_new_key_with_bcrypt_cost_4(tenant: Tenant, vault_root: VaultClient,
                                                   vault_system: VaultClient, tag: str | None) -> None:
    key = apikeys.generate_key()
    key_id = apikeys.key_id_for(key)
    record: dict[str, Any] = {
        "hash": bcrypt.hashpw(key.reveal().encode(), bcrypt.gensalt(rounds=4)).decode(), "name": "planted",
        "scopes": sorted(apikeys.SCOPES), "tier": "enterprise", "rate_limit_per_minute": 1000, "burst": 2000,
        "status": "active", "created_at": "2026-11-25T00:00:00Z", **({TAG_FIELD: tag} if tag else {}),
    }
    before = _stored(vault_root, tenant.id)
    _assert_refused(tenant.raw_write(paths.api_key(tenant.id, key_id), record, cas=0))
    _assert_refused(tenant.raw_write(paths.api_key_index(key_id), {"tenant_id": tenant.id}, cas=0))
    assert _stored(vault_root, tenant.id) == before
    assert kv.current_version(vault_root, paths.api_key_index(key_id)) == 0
    kv.write(vault_root, paths.api_key_index(key_id), {"tenant_id": tenant.id}, cas=0)
    kv.write(vault_root, paths.api_key(tenant.id, key_id), record, cas=0)
    with pytest.raises(ApiKeyTampered, match="no integrity tag" if tag is None else "does not match"):
        apikeys.verify_api_key(vault_system, key.reveal())


def test_tenant_computes_an_integrity_tag_itself(tenant: Tenant) -> None:
    headers = {"X-Vault-Token": tenant.token.reveal()}
    for endpoint in ("hmac", "verify"):
        reply = requests.post(f"{tenant.address}/v1/transit/{endpoint}/apikey-records/sha2-256",
                              json={"input": "eA==", "hmac": "vault:v1:AAAA"}, headers=headers, timeout=10)
        _assert_refused(reply)
    env = {"VAULT_ADDR": tenant.address, "VAULT_TOKEN": tenant.token.reveal()}
    with VaultClient.from_env(env) as client, pytest.raises(VaultPermissionDenied):
        apikeys.create_api_key(client, tenant.id, name="self-issued", scopes=["send_email"], cost=4)
    # and the transit key cannot be read or exported by the tenant either
    reply = requests.get(f"{tenant.address}/v1/transit/export/hmac-key/apikey-records", headers=headers, timeout=10)
    assert reply.status_code in (400, 403)


def _plant_malformed(root: VaultClient, tenant: str) -> str:
    """What used to crash revocation with KeyError: a record with no hash, tier or scopes."""
    bad = paths.api_key(tenant, "0" * 32)
    kv.write(root, bad, {"status": "active"}, cas=0)
    return bad.logical


def test_tenant_blocks_revoke_all_with_a_malformed_record(tenant: Tenant, vault_root: VaultClient,
                                                          vault_system: VaultClient) -> None:
    second = apikeys.create_api_key(vault_system, tenant.id, name="second", scopes=["send_email"], cost=4)
    _assert_refused(tenant.raw_write(paths.api_key(tenant.id, "0" * 32), {"status": "active"}, cas=0))
    planted = _plant_malformed(vault_root, tenant.id)  # a policy bypass, as above
    listing = apikeys.scan_api_keys(vault_system, tenant.id)
    assert {k.key_id for k in listing.keys} == {tenant.active[0].key_id, tenant.revoked[0].key_id,
                                                second[0].key_id}
    report = apikeys.revoke_all(vault_system, tenant.id)
    assert set(report.revoked) == {tenant.active[0].key_id, second[0].key_id}
    assert report.already_revoked == (tenant.revoked[0].key_id,)
    [skipped] = report.skipped
    assert skipped.path == planted and "tampered" in skipped.reason and "no integrity tag" in skipped.reason
    for _info, key in (tenant.active, second):
        with pytest.raises(ApiKeyInvalid, match="revoked"):
            apikeys.verify_api_key(vault_system, key.reveal())
    assert kv.read(vault_root, paths.api_key(tenant.id, "0" * 32)).data == {"status": "active"}  # left as evidence


def test_tenant_blocks_rotation_with_a_malformed_record(tenant: Tenant, vault_root: VaultClient,
                                                        vault_system: VaultClient) -> None:
    _plant_malformed(vault_root, tenant.id)
    before = _stored(vault_root, tenant.id)
    with pytest.raises(ApiKeyTampered, match="no integrity tag"):  # the forged record itself is never rotated
        apikeys.rotate_api_key(vault_system, tenant.id, "0" * 32, cost=4)
    assert _stored(vault_root, tenant.id) == before
    new_info, new_key = apikeys.rotate_api_key(vault_system, tenant.id, tenant.active[0].key_id, cost=4)
    assert apikeys.verify_api_key(vault_system, new_key.reveal()).key_id == new_info.key_id


def test_tenant_blocks_the_revoke_all_task(tenant: Tenant, vault_root: VaultClient, vault_system: VaultClient,
                                           tmp_path: Path) -> None:
    planted = _plant_malformed(vault_root, tenant.id)
    audit_log = tmp_path / "audit.jsonl"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "PM_"))}
    env.update(VAULT_ADDR=tenant.address, VAULT_TOKEN=vault_system.token.reveal(), PM_AUDIT_LOG=str(audit_log),
               COLUMNS="300")
    result = subprocess.run([sys.executable, "-m", "invoke", "apikey.revoke-all", "--tenant", tenant.id, "--yes"],
                            cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "revoked 1 active key(s)" in output and planted in output and "no integrity tag" in output
    with pytest.raises(ApiKeyInvalid, match="revoked"):
        apikeys.verify_api_key(vault_system, tenant.active[1].reveal())
    [event] = [json.loads(line) for line in audit_log.read_text().splitlines()]
    assert (event["event"], event["tenant"], event["outcome"]) == ("apikey.revoke-all", tenant.id, "ok_with_skips")
    assert event["details"]["revoked"] == [tenant.active[0].key_id]
    assert event["details"]["skipped"][0]["path"] == planted
