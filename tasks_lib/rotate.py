"""`invoke rotate.*`: rotation of SSH keys, the Mailu admin password and DKIM keys (logic in fleet.rotation*).

    invoke rotate.ssh --tenant acme [--kind admin|tenant] [--rotation-days 90] [--dry-run]
    invoke rotate.smtp --tenant acme [--dry-run]
    invoke rotate.dkim --tenant acme [--dry-run]
    invoke rotate.finish --tenant acme [--force] [--dry-run]    # close grace/overlap windows that are over
    invoke rotate.due [--dry-run] [--parallelism 4] [--stacks stacks]   # the daily cron job

Vault: VAULT_ADDR(S) + VAULT_TOKEN or AppRole (else the sandbox's env file). DNS credential: PM_DNS_TSIG_SECRET /
CLOUDFLARE_API_TOKEN. The VPS address is the stack's ``main_ip`` output (``--host`` overrides it). Every run appends
audit events to ``--audit-log`` (default $PM_AUDIT_LOG, else ~/.local/state/pm-mail-infra/audit.jsonl).
``--now`` (ISO 8601) pretends another current time: grace windows and ages follow it (planning, drills, tests).
After a rotation run ``pulumi up --refresh`` on the tenant's stack (the stack file was kept in step).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from fleet.audit import AuditLog, audit_path
from fleet.clock import clock_from, iso
from fleet.rotation import DuePlan, ssh_kind
from fleet.rotation_context import RotationContext, stack_host
from fleet.rotation_dkim import finish_dkim, rotate_dkim
from fleet.rotation_runner import Outcome, load_tenants, plan_due, run_items
from fleet.rotation_smtp import rotate_smtp
from fleet.rotation_ssh import finish_ssh, rotate_ssh
from toolkit import stack_files
from toolkit.errors import ToolkitError
from toolkit.redact import scrub
from toolkit.tenant_config import TenantConfig
from vault import paths
from vault.client import VaultClient

console = Console(log_path=False)
REPO = Path(__file__).resolve().parent.parent
COMMON_HELP = {
    "stacks": "directory of the tenant stack files (default: stacks/)",
    "audit_log": "audit log file (JSON lines; default $PM_AUDIT_LOG, else ~/.local/state/pm-mail-infra/audit.jsonl)",
    "now": "pretend the current time is this ISO 8601 instant (default: the real time)",
    "host": "the VPS address (default: the stack's main_ip output)",
    "dry_run": "show what would be done; change nothing",
}


# ------------------------------------------------------------------------------------------------ helpers
def vault_client() -> VaultClient:
    from sandbox.environment import connection_env

    env, _from_sandbox = connection_env()
    return VaultClient.from_env(env)


@contextmanager
def rotation_context(stacks: str = "", audit_log: str = "", now: str = "", host: str = "",
                     vault: VaultClient | None = None) -> Iterator[RotationContext]:
    clock = clock_from(now)
    client = vault or vault_client()
    host_of: Callable[[TenantConfig], str] = (lambda _config: host) if host else stack_host(REPO)
    ctx = RotationContext(vault=client, clock=clock, audit=AuditLog(audit_path(audit_log), clock),
                          host_of=host_of, stacks_dir=Path(stacks) if stacks else REPO / "stacks",
                          progress=lambda message: console.log(scrub(message)))
    try:
        yield ctx
    finally:
        if vault is None:
            client.close()


def fail(exc: ToolkitError, code: int = 2) -> Exit:
    console.print(f"[red]FAILED[/] {type(exc).__name__}: {scrub(str(exc))}")
    return Exit(code=code)


def report(title: str, summary: dict[str, Any]) -> None:
    table = Table(title=title, show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    for key, value in summary.items():
        if key == "checks":
            continue
        table.add_row(key, str(value))
    for check in summary.get("checks", []):
        table.add_row("check", scrub(str(check)))
    console.print(table)


def _load(ctx: RotationContext, tenant: str) -> TenantConfig:
    return stack_files.load(ctx.stacks_dir, tenant)


# -------------------------------------------------------------------------------------------------- tasks
@task(help={"tenant": "tenant id", "kind": "admin (operator key, default) or tenant",
            "rotation_days": "new rotation policy in days (30..365; default: keep the key's policy, 90)",
            **COMMON_HELP})
def ssh(_c: Context, tenant: str, kind: str = "admin", rotation_days: int = 0, dry_run: bool = False,
        stacks: str = "", audit_log: str = "", now: str = "", host: str = "") -> None:
    """Rotate an SSH key: new key in Vault, authorized with the old admin key, verified; old key kept 24 h."""
    try:
        with rotation_context(stacks, audit_log, now, host) as ctx, console.status(f"rotating {kind} key"):
            result = rotate_ssh(ctx, _load(ctx, tenant), ssh_kind(kind), rotation_days=rotation_days or None,
                                dry_run=dry_run)
    except ToolkitError as exc:
        raise fail(exc) from None
    report(f"rotate.ssh {tenant} {kind}" + (" (dry run)" if dry_run else ""), result.summary())
    if not dry_run:
        console.print(f"[green]done[/]: old key authorized until {result.grace_until}; `invoke rotate.finish "
                      f"--tenant {tenant}` (or rotate.due) removes it after that")


@task(help={"tenant": "tenant id", **COMMON_HELP})
def smtp(_c: Context, tenant: str, dry_run: bool = False, stacks: str = "", audit_log: str = "", now: str = "",
         host: str = "") -> None:
    """Rotate the Mailu admin password: set in Mailu, then stored in Vault (transit), then verified."""
    try:
        with rotation_context(stacks, audit_log, now, host) as ctx, console.status("rotating the admin password"):
            result = rotate_smtp(ctx, _load(ctx, tenant), dry_run=dry_run)
    except ToolkitError as exc:
        raise fail(exc) from None
    report(f"rotate.smtp {tenant}" + (" (dry run)" if dry_run else ""), result.summary())


@task(help={"tenant": "tenant id", **COMMON_HELP})
def dkim(_c: Context, tenant: str, dry_run: bool = False, stacks: str = "", audit_log: str = "", now: str = "",
         host: str = "") -> None:
    """Rotate the DKIM key: new dated selector published and verified, Mailu switched, old record kept 48 h."""
    try:
        with rotation_context(stacks, audit_log, now, host) as ctx, console.status("rotating the DKIM key"):
            result = rotate_dkim(ctx, _load(ctx, tenant), dry_run=dry_run)
    except ToolkitError as exc:
        raise fail(exc) from None
    report(f"rotate.dkim {tenant}" + (" (dry run)" if dry_run else ""), result.summary())
    if not dry_run:
        console.print(f"stack file updated: run `pulumi up --refresh --stack {tenant}` to record it in the state")


@task(help={"tenant": "tenant id", "force": "close the windows now even if they have not ended", **COMMON_HELP})
def finish(_c: Context, tenant: str, force: bool = False, dry_run: bool = False, stacks: str = "",
           audit_log: str = "", now: str = "", host: str = "") -> None:
    """Close ended windows: remove old SSH keys after their 24 h grace, retired DKIM records after 48 h."""
    done: list[dict[str, Any]] = []
    try:
        with rotation_context(stacks, audit_log, now, host) as ctx, console.status("closing windows"):
            config = _load(ctx, tenant)
            for kind in paths.SshKeyKind:
                try:
                    result = finish_ssh(ctx, config, kind, force=force, dry_run=dry_run)
                except ToolkitError as exc:
                    if "grace window runs until" not in str(exc):
                        raise
                    console.print(f"[yellow]waiting[/] {scrub(str(exc))}")
                    continue
                if result is not None:
                    done.append(result.summary())
            done += [r.summary() for r in finish_dkim(ctx, config, force=force, dry_run=dry_run)]
    except ToolkitError as exc:
        raise fail(exc) from None
    for summary in done:
        report(f"rotate.finish {tenant}", summary)
    if not done:
        console.print("nothing to finish (no window has ended)")


def _plan_table(plan: DuePlan, now: str) -> Table:
    table = Table(title=f"rotation plan at {now}")
    for column in ("tenant", "kind", "action", "due", "reason"):
        table.add_column(column, overflow="fold")
    for item in plan.due:
        table.add_row(item.tenant, item.kind.value, item.action.value, iso(item.due_at), item.reason)
    return table


def _outcome_table(outcomes: list[Outcome]) -> Table:
    table = Table(title="rotation results")
    for column in ("tenant", "kind", "action", "status", "detail"):
        table.add_column(column, overflow="fold")
    style = {"done": "green", "planned": "cyan", "failed": "red", "skipped": "yellow"}
    for o in outcomes:
        table.add_row(o.tenant, o.kind, o.action, f"[{style.get(o.status, 'white')}]{o.status}[/]", o.detail)
    return table


@task(help={"parallelism": "tenants handled at once (default 4)", "tenant": "only these tenants (repeatable)",
            "limit": "print at most this many due items (default 50; the counts are always printed)",
            **{k: v for k, v in COMMON_HELP.items() if k != "host"}}, iterable=["tenant"])
def due(_c: Context, dry_run: bool = False, parallelism: int = 4, stacks: str = "", tenant: list[str] | None = None,
        audit_log: str = "", now: str = "", limit: int = 50) -> None:
    """Find what is due across all tenant stacks (ages vs policy, ended windows) and do it: the daily cron job."""
    try:
        with rotation_context(stacks, audit_log, now) as ctx:
            configs, problems = load_tenants(ctx.stacks_dir, tenant or [])
            with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                          TimeElapsedColumn(), console=console, transient=True) as progress:
                reading = progress.add_task("reading Vault", total=len(configs))
                plan = plan_due(ctx.vault, configs, ctx.clock, parallelism=max(parallelism, 8),
                                on_read=lambda _t: progress.advance(reading))
            stamp = iso(ctx.clock.now())
            shown = DuePlan(plan.due[:limit], plan.upcoming, plan.waiting, plan.notes)
            console.print(_plan_table(shown, stamp))
            more = f" ({limit} shown)" if len(plan.due) > limit else ""
            console.print(f"{len(configs)} tenant(s): {len(plan.due)} due, {len(plan.upcoming)} due within 7 days, "
                          f"{len(plan.waiting)} open window(s){more}")
            for note in [*problems, *plan.notes][:limit]:
                console.print(f"[yellow]note[/] {note}")
            outcomes: list[Outcome] = []
            if plan.due and not dry_run:
                with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                              TimeElapsedColumn(), console=console) as progress:
                    doing = progress.add_task("rotating", total=len(plan.due))
                    outcomes = run_items(ctx, plan.due, parallelism=parallelism,
                                         on_done=lambda _o: progress.advance(doing))
                console.print(_outcome_table(outcomes))
            ctx.audit.event("rotate.due", tenant="*", outcome="dry-run" if dry_run else "ok", tenants=len(configs),
                            due=len(plan.due), upcoming=len(plan.upcoming), waiting=len(plan.waiting),
                            failed=sum(o.status == "failed" for o in outcomes))
    except ToolkitError as exc:
        raise fail(exc) from None
    if any(o.status == "failed" for o in outcomes):
        raise Exit(code=1)
