"""`invoke ssh.revoke|regenerate`: emergency removal of a tenant VPS's SSH key, and its replacement.

    invoke ssh.revoke --tenant acme --kind tenant --reason "laptop stolen"   # removed from authorized_keys now
    invoke ssh.regenerate --tenant acme --kind tenant                        # new key, authorized at once

Both go through the engine like every day-2 task (intent in Vault, `pulumi up`, no-change preview), then prove
the result with real logins. Revoking the **admin** key replaces it in the same run (the toolkit's only way into
the VPS): the new key is authorized and the old one removed at once, without grace. Vault keeps the history; a
revoked tenant key gets a version without its private half, marked ``revoked_at``.
"""

from __future__ import annotations

from invoke.context import Context
from invoke.tasks import task

from fleet import day2, day2_ops
from fleet.rotation import ssh_kind
from tasks_lib.day2 import COMMON_HELP, console, day2_context, fail
from tasks_lib.rotate import finish_report, ssh_checks
from toolkit.errors import ToolkitError
from vault import paths

__all__ = ["regenerate", "revoke"]


@task(help={"tenant": "tenant id", "kind": "tenant or admin", "reason": "why (kept in the audit log)",
            **COMMON_HELP})
def revoke(_c: Context, tenant: str, kind: str, reason: str = "revoked by operator", work_dir: str = "",
           audit_log: str = "", now: str = "", verbose: bool = False) -> None:
    """Remove an SSH key from the VPS immediately (no grace); the admin key is replaced in the same run."""
    try:
        key_kind = ssh_kind(kind)
        with day2_context(tenant, work_dir=work_dir, audit_log=audit_log, now=now, verbose=verbose) as (ctx, config):
            prepared = day2.deployed(ctx, tenant)
            before = int(prepared[1]["vault"][key_kind.value]["version"])
            result = day2.run(ctx, tenant, f"ssh.revoke.{key_kind.value}",
                              day2_ops.revoke_ssh(ctx.vault, tenant, key_kind),
                              details={"reason": reason, "revoked_version": before}, prepared=prepared)
            checks = ssh_checks(ctx, config, result, key_kind, refused=(before,))
    except ToolkitError as exc:
        raise fail(exc) from None
    finish_report(f"ssh.revoke {tenant} {kind}", result, checks)
    if key_kind is paths.SshKeyKind.TENANT:
        console.print(f"next: `invoke ssh.regenerate --tenant {tenant} --kind tenant` issues the tenant a new key")


@task(help={"tenant": "tenant id", "kind": "tenant or admin", **COMMON_HELP})
def regenerate(_c: Context, tenant: str, kind: str = "tenant", work_dir: str = "", audit_log: str = "",
               now: str = "", verbose: bool = False) -> None:
    """Issue a new SSH key after a revoke and authorize it at once."""
    try:
        key_kind = ssh_kind(kind)
        with day2_context(tenant, work_dir=work_dir, audit_log=audit_log, now=now, verbose=verbose) as (ctx, config):
            result = day2.run(ctx, tenant, f"ssh.regenerate.{key_kind.value}",
                              day2_ops.regenerate_ssh(ctx.vault, tenant, key_kind))
            checks = ssh_checks(ctx, config, result, key_kind)
    except ToolkitError as exc:
        raise fail(exc) from None
    finish_report(f"ssh.regenerate {tenant} {kind}", result, checks)
