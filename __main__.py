"""The Pulumi program of a tenant stack: validate, preflight, then build the MailTenant.

Before any resource is registered, the stack's `pm:` config is validated (``toolkit.tenant_config``: every problem
named with its key), then the preflight (``fleet.preflight``) checks that the stack is named after its tenant, that
the credentials are in the environment, that Hostwinds offers the image, location and plan, and that no other stack
owns the tenant id and no other tenant the domain (Vault claims: checked on preview, taken with check-and-set on
up). A problem stops the run with one message, and nothing exists afterwards.
"""

from __future__ import annotations

import os

import pulumi
from pulumi.runtime.config import CONFIG

from components.claims import TenantClaims
from components.tenant import MailTenant
from fleet import preflight
from fleet.intent import for_program
from toolkit.errors import ToolkitError
from toolkit.redact import install_logging_redaction
from toolkit.tenant_config import TenantConfigError, parse_tenant_config, raw_from_pulumi_config

install_logging_redaction()  # no secret reaches a log line of the program, whoever logs it

STACK = preflight.StackRef(pulumi.get_organization(), pulumi.get_project(), pulumi.get_stack(),
                           preflight.current_backend(os.environ))

try:
    config = parse_tenant_config(raw_from_pulumi_config(CONFIG.get()))
except TenantConfigError as exc:
    raise SystemExit(f"{exc}\n(fix stacks/Pulumi.{STACK.stack}.yaml; nothing was created)") from None
try:
    preflight.run(config, STACK, dry_run=pulumi.runtime.is_dry_run())
except ToolkitError as exc:
    raise SystemExit(f"{exc}\n(nothing was created)") from None

TenantClaims(f"{config.tenant_id}-claims", tenant_id=config.tenant_id, domain=config.domain, holder=STACK.identity,
             stack=STACK.name, purge=config.purge_secrets_on_destroy)

tenant = MailTenant(config.tenant_id, config, for_program(config, dry_run=pulumi.runtime.is_dry_run()))
for key, value in tenant.outputs.items():
    pulumi.export(key, value)
