"""The Pulumi program of a tenant stack: validate the stack's `pm:` config, then build the MailTenant.

Validation runs before any resource is registered: a bad value stops the run with every problem named.
"""

from __future__ import annotations

import json

import pulumi
from pulumi.runtime.config import CONFIG

from components.tenant import MailTenant
from toolkit.tenant_config import CONFIG_NAMESPACE, TenantConfigError, parse_tenant_config


def _raw_config() -> dict[str, object]:
    raw: dict[str, object] = {}
    for key, value in CONFIG.get().items():
        namespace, _, name = key.partition(":")
        if namespace != CONFIG_NAMESPACE or not name:
            continue
        text = str(value)
        raw[name] = json.loads(text) if text[:1] in "[{" else text
    return raw


try:
    config = parse_tenant_config(_raw_config())
except TenantConfigError as exc:
    raise SystemExit(f"{exc}\n(fix stacks/Pulumi.{pulumi.get_stack()}.yaml; nothing was created)") from None

tenant = MailTenant(config.tenant_id, config)
for key, value in tenant.outputs.items():
    pulumi.export(key, value)
