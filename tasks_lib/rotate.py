"""`invoke rotate.*`: rotation of SSH keys, the Mailu admin password and DKIM keys, carried out by the engine.

    invoke rotate.ssh --tenant acme [--kind admin|tenant]
    invoke rotate.smtp --tenant acme [--accept-unverified]
    invoke rotate.smtp --tenant acme --incident INC-42 [--emergency]   # emergency reset (48-byte password)
    invoke rotate.dkim --tenant acme
    invoke rotate.finish --tenant acme [--force]     # close grace/overlap windows that have ended
    invoke rotate.due [--dry-run] [--parallelism 4]  # the daily job: whatever is due, every tenant

Each task checks its settings, records the change in the tenant's intent (Vault), runs `pulumi up` on the stack
through the Automation API and proves `pulumi preview --expect-no-changes` passes; then it checks the result from
outside (SSH logins, IMAPS login). Nothing is left for a later refresh: the stack and the world agree when it ends.
A run that was interrupted is completed by running the same command again (no second key, no second selector).
Exit codes: 0 done and verified, 2 failed, 3 done but not verifiable here (said why).
"""

from __future__ import annotations

import time

from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

from fleet import day2, day2_ops, smtp_reset
from fleet.access_check import AccessCheck, ssh_access
from fleet.day2 import Day2Context, Day2Result
from fleet.intent import load
from fleet.rotation import ssh_kind
from fleet.smtp_check import smtp_login
from tasks_lib.day2 import COMMON_HELP, EXIT_FAILED, EXIT_UNVERIFIED, console, day2_context, fail, report
from tasks_lib.rotate_due import due
from toolkit.errors import ToolkitError
from toolkit.tenant_config import TenantConfig
from vault import paths

__all__ = ["dkim", "due", "finish", "smtp", "ssh"]


def ssh_checks(ctx: Day2Context, config: TenantConfig, result: Day2Result, kind: paths.SshKeyKind,
               refused: tuple[int, ...] = ()) -> list[AccessCheck]:
    intent = load(ctx.vault, config.tenant_id)
    assert intent is not None
    wanted = intent.ssh(kind)
    return ssh_access(ctx.vault, config.tenant_id, config.tenant_user, kind, address=str(result.outputs["main_ip"]),
                      current_version=result.versions[kind.value], current_allowed=not wanted.revoked,
                      grace_versions=tuple(g.vault_version for g in wanted.grace), refused_versions=refused)


def finish_report(title: str, result: Day2Result, checks: list[AccessCheck]) -> None:
    summary = {**result.summary(), "checks": [c.line() for c in checks]}
    report(title, summary)
    if any(not c.ok for c in checks):
        console.print("[red]FAILED[/] the hosts do not match the intent (see the checks above)")
        raise Exit(code=EXIT_FAILED)


@task(help={"tenant": "tenant id", "kind": "admin (operator key, default) or tenant", **COMMON_HELP})
def ssh(_c: Context, tenant: str, kind: str = "admin", work_dir: str = "", audit_log: str = "", now: str = "",
        verbose: bool = False) -> None:
    """Rotate an SSH key: a new key made and authorized by the engine; the old one stays authorized 24 h."""
    try:
        key_kind = ssh_kind(kind)
        with day2_context(tenant, work_dir=work_dir, audit_log=audit_log, now=now, verbose=verbose) as (ctx, config):
            prepared = day2.deployed(ctx, tenant)
            result = day2.run(ctx, tenant, f"rotate.ssh.{key_kind.value}",
                              day2_ops.rotate_ssh(ctx.vault, tenant, key_kind), prepared=prepared)
            checks = ssh_checks(ctx, config, result, key_kind)
    except ToolkitError as exc:
        raise fail(exc) from None
    finish_report(f"rotate.ssh {tenant} {kind}", result, checks)
    console.print(f"[green]done[/]: the previous key stays authorized 24 h; `invoke rotate.finish --tenant {tenant}` "
                  "(or the daily rotate.due) removes it after that")


@task(help={"tenant": "tenant id", "accept_unverified": "exit 0 even when no IMAPS login could prove the password",
            "incident": "emergency reset for this incident id: 48-byte password, the replaced Vault version marked "
                        "compromised with it",
            "emergency": "ask for the emergency reset (refused without --incident)", **COMMON_HELP})
def smtp(_c: Context, tenant: str, incident: str = "", emergency: bool = False, accept_unverified: bool = False,
         work_dir: str = "", audit_log: str = "", now: str = "", verbose: bool = False) -> None:
    """Rotate the Mailu admin password (new Vault version, set in Mailu, then an IMAPS login is attempted); with
    --incident, the emergency reset."""
    started = time.monotonic()
    reset = None
    try:
        incident_id = smtp_reset.incident_id_of(incident, emergency=emergency)
        with day2_context(tenant, work_dir=work_dir, audit_log=audit_log, now=now, verbose=verbose) as (ctx, config):
            if incident_id is None:
                result = smtp_reset.rotate(ctx, tenant)
            else:
                reset = smtp_reset.emergency(ctx, tenant, incident_id)
                result = reset.result
            login = smtp_login(ctx.vault, config)
            wall = time.monotonic() - started
            if reset is not None:
                outcome = {"ok": "ok", "rejected": "failed"}.get(login.status, "unverified")
                ctx.audit.event("rotate.smtp.emergency.report", tenant=tenant, outcome=outcome,
                                incident_id=reset.incident_id, compromised_version=reset.compromised_version,
                                new_version=reset.new_version, login=login.detail, wall_seconds=round(wall, 1))
    except ToolkitError as exc:
        raise fail(exc) from None
    summary = {**result.summary(), "IMAPS login": login.detail}
    if reset is not None:
        summary.update({"incident": reset.incident_id,
                        "compromised": f"v{reset.compromised_version} (marked in Vault, incident {reset.incident_id})",
                        "wall time": f"{wall:.1f} s (goal < {smtp_reset.GOAL_SECONDS / 60:.0f} min)"})
    report(f"rotate.smtp {tenant}" + (" (emergency)" if reset is not None else ""), summary)
    if login.status == "rejected":
        console.print("[red]FAILED[/] Mailu refused the new password")
        raise Exit(code=EXIT_FAILED)
    if login.status != "ok":
        console.print(f"[yellow]UNVERIFIED[/] the new password is in Vault and set in Mailu, but no IMAPS login "
                      f"proved it: {login.detail}")
        if not accept_unverified:
            raise Exit(code=EXIT_UNVERIFIED)


@task(help={"tenant": "tenant id", **COMMON_HELP})
def dkim(_c: Context, tenant: str, work_dir: str = "", audit_log: str = "", now: str = "",
         verbose: bool = False) -> None:
    """Rotate the DKIM key: a fresh selector published, verified and put in service; the old one kept 48 h."""
    try:
        with day2_context(tenant, work_dir=work_dir, audit_log=audit_log, now=now, verbose=verbose) as (ctx, config):
            result = day2.run(ctx, tenant, "rotate.dkim", day2_ops.rotate_dkim(ctx.vault, config.domain))
    except ToolkitError as exc:
        raise fail(exc) from None
    outputs = result.outputs
    report(f"rotate.dkim {tenant}", {**result.summary(), "selector": outputs.get("dkim_selector"),
                                     "still published": ", ".join(outputs.get("dkim_retired") or []) or "-"})


@task(help={"tenant": "tenant id", "force": "close the windows now even if they have not ended", **COMMON_HELP})
def finish(_c: Context, tenant: str, force: bool = False, work_dir: str = "", audit_log: str = "", now: str = "",
           verbose: bool = False) -> None:
    """Close ended windows: old SSH keys after their 24 h grace, retired DKIM records after 48 h."""
    try:
        with day2_context(tenant, work_dir=work_dir, audit_log=audit_log, now=now, verbose=verbose) as (ctx, config):
            prepared = day2.deployed(ctx, tenant)
            current = prepared[2]
            closing = day2_ops.ended(current, ctx.clock.now(), force=force)
            gone = {kind: tuple(g.vault_version for g in current.ssh(kind).grace
                                if any(g.fingerprint in line for line in closing)) for kind in paths.SshKeyKind}
            result = day2.run(ctx, tenant, "rotate.finish", day2_ops.finish(force=force),
                              details={"closed": closing or "nothing has ended"}, prepared=prepared)
            checks = [c for kind in paths.SshKeyKind if gone[kind]
                      for c in ssh_checks(ctx, config, result, kind, refused=gone[kind])]
    except ToolkitError as exc:
        raise fail(exc) from None
    finish_report(f"rotate.finish {tenant}", result, checks)

