"""Keep the tenant's stack file in step with a rotation, so the next `pulumi up` converges to it, not back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from toolkit import stack_files
from toolkit.tenant_config import TenantConfig


def update_stack(stacks_dir: Path, tenant: str, **changes: Any) -> TenantConfig:
    """Set ``changes`` in ``stacks/Pulumi.<tenant>.yaml`` (None removes a key) through the one stack-file writer."""
    return stack_files.edit(stacks_dir, tenant, changes).config
