"""The bulk reader (``vault.bulk``) against real OpenBao: the intents `rotate.due` and `status` read through it are
the ones ``intent.load`` reads, and the backup inventory finds the same secrets by SCAN (root) as by LIST (the
system policy has no ``scan``: the walk falls back to folders)."""

from __future__ import annotations

import secrets

from fleet import intent
from fleet.intent_bulk import load_intent
from vault import kv, paths
from vault.backup import BackupKey
from vault.backup.inventory import take_inventory
from vault.bulk import BulkReader
from vault.client import VaultClient


def test_intents_read_in_bulk_are_the_ones_intent_load_reads(vault_root: VaultClient,
                                                             vault_system: VaultClient) -> None:
    tenant, gone = f"bulk{secrets.token_hex(3)}", f"gone{secrets.token_hex(3)}"
    saved = intent.save(vault_system, intent.TenantIntent(tenant, intent.DkimIntent("pm1", "n", history=("pm1",))))
    intent.save(vault_system, intent.TenantIntent(gone, intent.DkimIntent("pm1", "n", history=("pm1",))))
    vault_root.delete(paths.intent(gone).data_api)  # the latest version deleted: no intent
    with BulkReader(vault_system) as reader:
        assert load_intent(reader, vault_system, tenant) == intent.load(vault_system, tenant) == saved
        assert load_intent(reader, vault_system, gone) is None and intent.load(vault_system, gone) is None
        assert load_intent(reader, vault_system, "never-deployed") is None


def test_the_inventory_is_the_same_by_scan_and_by_list(vault_root: VaultClient, vault_system: VaultClient) -> None:
    for i in range(5):
        kv.write_next(vault_system, paths.smtp_admin(f"inv{i}"), {"username": f"u{i}", "password": "x" * 20})
    key = BackupKey.generate()
    by_scan = take_inventory(vault_root, key, ("smtp", "vps"))
    by_list = take_inventory(vault_system, key, ("smtp", "vps"))
    assert by_scan.secrets == by_list.secrets
    assert {f"smtp/inv{i}/admin" for i in range(5)} <= set(by_scan.secrets)
