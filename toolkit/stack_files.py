"""Read and write tenant stack files (``stacks/Pulumi.<tenant>.yaml``) through the validated config model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from toolkit.errors import ConfigError
from toolkit.tenant_config import CONFIG_NAMESPACE, TenantConfig, config_from_stack_file, parse_tenant_config


def stack_file(stacks_dir: Path, tenant: str) -> Path:
    return stacks_dir / f"Pulumi.{tenant}.yaml"


def load(stacks_dir: Path, tenant: str) -> TenantConfig:
    path = stack_file(stacks_dir, tenant)
    if not path.exists():
        raise ConfigError("tenant", f"no stack file {path} (create it with `invoke tenant.new`)")
    return config_from_stack_file(yaml.safe_load(path.read_text()) or {})


def render(config: TenantConfig) -> str:
    data = config.model_dump(mode="json", exclude_none=True)
    body = {f"{CONFIG_NAMESPACE}:{key}": value for key, value in data.items() if value is not None}
    header = (
        f"# Tenant {config.tenant_id}: one Pulumi stack. Keys under `{CONFIG_NAMESPACE}:` are validated before\n"
        "# anything is created (toolkit/tenant_config.py). Secrets never go here: the Hostwinds API key, the TSIG\n"
        "# secret and Vault credentials come from the environment.\n"
    )
    return header + yaml.safe_dump({"config": body}, sort_keys=False)


def create(stacks_dir: Path, raw: dict[str, Any], overwrite: bool = False) -> Path:
    """Validate ``raw`` and write the stack file; refuses to overwrite an existing tenant unless asked."""
    config = parse_tenant_config(raw)
    path = stack_file(stacks_dir, config.tenant_id)
    if path.exists() and not overwrite:
        raise ConfigError("tenant", f"{path} already exists (pass --force to overwrite)")
    stacks_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(render(config))
    return path
