"""Attacks with a stolen backup credential of the Vault cluster (the ``vault-backup`` AppRole the cluster stack makes
for `invoke vault.backup`) against a real OpenBao: it reads secrets and takes snapshots, by design, but cannot
change, delete or destroy a tenant's secret, write outside the restore canaries, decrypt with transit, or grant
itself more (policies, tokens, AppRole secret ids). Each attempt is refused and the victim's secret is unchanged."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from vault import kv, paths
from vault.auth import approle_client
from vault.bootstrap import BootstrapResult
from vault.client import VaultClient
from vault.cluster import BACKUP_ROLE, backup_policy, make_approle
from vault.errors import VaultPermissionDenied

VICTIM = paths.SecretPath("vps", "bk-victim/admin_ssh")


@pytest.fixture
def thief(vault_root: VaultClient, vault_bootstrap: BootstrapResult) -> Iterator[VaultClient]:
    role_id, secret_id = make_approle(vault_root, BACKUP_ROLE, backup_policy())
    client = approle_client(vault_root, role_id, secret_id)
    yield client
    client.close()


def test_stolen_backup_credential_cannot_change_tenant_secrets_or_escalate(thief: VaultClient,
                                                                          vault_system: VaultClient) -> None:
    kv.write_next(vault_system, VICTIM, {"private_key": "the victim's key"})
    before = kv.versions(vault_system, VICTIM)
    assert kv.read(thief, VICTIM).data == {"private_key": "the victim's key"}  # reading is its job
    attacks: dict[str, Callable[[], object]] = {
        "overwrite the key": lambda: thief.write(f"vps/data/{VICTIM.path}", {"data": {"private_key": "attacker"}}),
        "delete the latest version": lambda: thief.delete(f"vps/data/{VICTIM.path}"),
        "destroy every version": lambda: thief.delete(f"vps/metadata/{VICTIM.path}"),
        "shorten the history": lambda: thief.write(f"vps/metadata/{VICTIM.path}", {"max_versions": 1}),
        "plant a secret next to the canary": lambda: thief.write("vps/data/canary/other", {"data": {"x": 1}}),
        "decrypt with transit": lambda: thief.write("transit/decrypt/smtp-admin", {"ciphertext": "vault:v1:AAAA"}),
        "widen its own policy": lambda: thief.write(f"sys/policies/acl/{BACKUP_ROLE}", {"policy": 'path "*" {}'}),
        "mint a new secret id": lambda: thief.write(f"auth/approle/role/{BACKUP_ROLE}/secret-id", {}),
        "create a child token": lambda: thief.write("auth/token/create", {"policies": ["admin"]}),
    }
    for name, attack in attacks.items():
        with pytest.raises(VaultPermissionDenied):
            attack()
            pytest.fail(f"{name}: allowed")
    after = kv.versions(vault_system, VICTIM)
    assert after == before and kv.read(vault_system, VICTIM).data == {"private_key": "the victim's key"}
