"""Keep the tenant's stack file in step with a rotation, so the next `pulumi up` converges to it, not back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from toolkit import stack_files
from toolkit.tenant_config import TenantConfig, parse_tenant_config


def update_stack(stacks_dir: Path, tenant: str, **changes: Any) -> TenantConfig:
    """Re-read ``stacks/Pulumi.<tenant>.yaml``, apply ``changes`` (None removes a key), validate, write back."""
    config = stack_files.load(stacks_dir, tenant)
    raw = config.model_dump(mode="json", exclude_none=True)
    for key, value in changes.items():
        if value is None:
            raw.pop(key, None)
        else:
            raw[key] = value
    updated = parse_tenant_config(raw)
    stack_files.create(stacks_dir, raw, overwrite=True)
    return updated
