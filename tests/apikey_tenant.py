"""A tenant that `apikey.create` accepts: a stack file in a stacks directory and its admin SSH key in Vault
(what `pulumi up` writes first), without running the engine."""

from __future__ import annotations

from pathlib import Path

from toolkit import stack_files
from vault import keys
from vault.client import VaultClient


def provision_tenant(client: VaultClient, stacks_dir: Path, tenant: str) -> None:
    stack_files.create(stacks_dir, {
        "tenant_id": tenant, "domain": f"{tenant}.example.com", "dns": {"provider": "manual"},
        "dkim_selector": "pm20261125",
    })
    keys.store_ssh_keypair(client, tenant, "admin_ssh", algorithm="ed25519")
