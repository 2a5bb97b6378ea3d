"""The Pulumi program of the Vault cluster stack: validate the config, then build the ``VaultCluster``.

Before any resource is registered the stack's ``pm:`` config is validated (``vault.cluster_config``: fewer than
three nodes, missing or malformed PGP keys, a private key pasted instead of a public one, ...); a problem stops the
run with one message naming every wrong key, and nothing exists afterwards. Credentials (``HOSTWINDS_API_KEY``)
come from the environment of ``pulumi``, never from config or state.
"""

from __future__ import annotations

from pathlib import Path

import pulumi
from pulumi.runtime.config import CONFIG, is_config_secret

from components.vault_cluster import VaultCluster
from toolkit.errors import ConfigError
from toolkit.tenant_config import raw_from_pulumi_config
from vault.cluster_config import parse_cluster_config

STACK = pulumi.get_stack()

try:
    config = parse_cluster_config(raw_from_pulumi_config(CONFIG.get()), STACK, Path(__file__).resolve().parent,
                                  secret_keys_ok=lambda key: is_config_secret(f"pm:{key}"))
except ConfigError as exc:
    raise SystemExit(f"{exc}\n(fix platform/vault/stacks/Pulumi.{STACK}.yaml; nothing was created)") from None

cluster = VaultCluster("vault", config)
for key, value in cluster.outputs.items():
    pulumi.export(key, value)
