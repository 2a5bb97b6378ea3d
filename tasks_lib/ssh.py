"""`invoke ssh.revoke|regenerate`: emergency removal of a tenant VPS's SSH key, and its replacement.

    invoke ssh.revoke --tenant acme --kind tenant --reason "laptop stolen"   # removed from authorized_keys now
    invoke ssh.regenerate --tenant acme --kind tenant                        # new key, authorized at once

Revoking the **admin** key replaces it in the same step (the toolkit's only way into the VPS): a new key is
authorized and verified, then the old one removed at once, without grace. Vault keeps the history; the revoked
version is marked (``revoked_at``) and holds no private key. Options as for `invoke rotate.*`.
"""

from __future__ import annotations

from invoke.context import Context
from invoke.tasks import task

from fleet.rotation import ssh_kind
from fleet.rotation_ssh import regenerate_ssh, revoke_ssh
from tasks_lib.rotate import COMMON_HELP, console, fail, report, rotation_context
from toolkit import stack_files
from toolkit.errors import ToolkitError


@task(help={"tenant": "tenant id", "kind": "tenant or admin", "reason": "why (kept in Vault and the audit log)",
            **COMMON_HELP})
def revoke(_c: Context, tenant: str, kind: str, reason: str = "revoked by operator", dry_run: bool = False,
           stacks: str = "", audit_log: str = "", now: str = "", host: str = "") -> None:
    """Remove an SSH key from the VPS immediately (no grace); mark it revoked in Vault."""
    try:
        with rotation_context(stacks, audit_log, now, host) as ctx, console.status(f"revoking the {kind} key"):
            result = revoke_ssh(ctx, stack_files.load(ctx.stacks_dir, tenant), ssh_kind(kind), reason=reason,
                                dry_run=dry_run)
    except ToolkitError as exc:
        raise fail(exc) from None
    report(f"ssh.revoke {tenant} {kind}" + (" (dry run)" if dry_run else ""), result.summary())
    if not dry_run and result.kind == "tenant_ssh":
        console.print(f"next: `invoke ssh.regenerate --tenant {tenant} --kind tenant` before the next `pulumi up`")


@task(help={"tenant": "tenant id", "kind": "tenant or admin", **COMMON_HELP})
def regenerate(_c: Context, tenant: str, kind: str = "tenant", dry_run: bool = False, stacks: str = "",
               audit_log: str = "", now: str = "", host: str = "") -> None:
    """Issue a new SSH key after a revoke and authorize it at once."""
    try:
        with rotation_context(stacks, audit_log, now, host) as ctx, console.status(f"regenerating the {kind} key"):
            result = regenerate_ssh(ctx, stack_files.load(ctx.stacks_dir, tenant), ssh_kind(kind), dry_run=dry_run)
    except ToolkitError as exc:
        raise fail(exc) from None
    report(f"ssh.regenerate {tenant} {kind}" + (" (dry run)" if dry_run else ""), result.summary())
