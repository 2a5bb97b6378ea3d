"""`invoke rotate.due`: the daily job. Reads every tenant's rotation state (intent + key ages in Vault), decides
what is due with the injectable clock, and carries it out through the engine: one intent change and one
`pulumi up` per tenant, tenants in parallel. `--dry-run` lists what would be done and changes nothing.

The DMARC rollout rides along (``fleet.dmarc``): a domain whose next stage is due advances only when the stage in
force verifies at the authoritative servers; a held domain (`pm:dmarc_hold`) stays; a failed verification blocks
the step, is audited, and makes the job exit 1 (the other tenants' work still runs).

A run that changes something holds the Vault lock ``rotate-due`` (``vault.locks``): a second run at the same time
exits 2 naming the holder and changes nothing; a killed run's lock is free 10 minutes later (the lease is
renewed while the run lives). A missed day needs nothing special: the next run does whatever is due by then.
"""

from __future__ import annotations

import datetime as dt
from contextlib import nullcontext

from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from fleet.clock import iso
from fleet.dmarc_check import DmarcPlan
from fleet.rotation import DuePlan
from fleet.rotation_runner import Outcome, load_tenants, record_dmarc_starts, run_items
from fleet.rotation_runner import plan as plan_all
from tasks_lib.day2 import COMMON_HELP, console, fail, fleet_context, require_settings
from toolkit.errors import ToolkitError
from vault.locks import held

LOCK = "rotate-due"
"""One run at a time (the schedule, an operator): a second one exits 2 naming the holder (``vault.locks``)."""


def _plan_table(plan: DuePlan, dmarc: DmarcPlan, now: dt.datetime, limit: int) -> Table:
    table = Table(title=f"rotation plan at {iso(now)}")
    for column in ("tenant", "kind", "action", "due", "reason"):
        table.add_column(column, overflow="fold")
    for item in plan.due[:limit]:
        table.add_row(item.tenant, item.kind.value, item.action.value, iso(item.due_at), item.reason)
    rows = [(i, i.action.value) for i in [*dmarc.ready, *dmarc.starts]] + [(i, "blocked") for i in dmarc.blocked] \
        + [(i, "held") for i in dmarc.held if i.due_at <= now]
    for step, action in rows[:limit]:
        style = {"blocked": "red", "held": "yellow"}.get(action, "white")
        table.add_row(step.tenant, "dmarc", f"[{style}]{action}[/]",
                      iso(step.due_at), f"{step.stage} -> {step.target}: {step.reason}")
    return table


def _outcome_table(outcomes: list[Outcome]) -> Table:
    table = Table(title="rotation results")
    for column in ("tenant", "items", "status", "seconds", "detail"):
        table.add_column(column, overflow="fold")
    style = {"done": "green", "planned": "cyan", "failed": "red"}
    for o in outcomes:
        table.add_row(o.tenant, o.items, f"[{style.get(o.status, 'white')}]{o.status}[/]", f"{o.seconds:.1f}",
                      o.detail)
    return table


@task(help={"parallelism": "tenants handled at once (default 4)", "tenant": "only these tenants (repeatable)",
            "limit": "print at most this many due items (default 50; the counts are always printed)",
            "dry_run": "list what is due; change nothing", **COMMON_HELP}, iterable=["tenant"])
def due(_c: Context, dry_run: bool = False, parallelism: int = 4, tenant: list[str] | None = None,
        work_dir: str = "", audit_log: str = "", now: str = "", limit: int = 50, verbose: bool = False) -> None:
    """Find what is due across all tenant stacks (ages vs policy, ended windows) and do it: the daily job."""
    outcomes: list[Outcome] = []
    blocked = False
    try:
        with fleet_context(work_dir=work_dir, audit_log=audit_log, now=now, verbose=verbose,
                           dry_run=dry_run) as (ctx, project, env), \
                nullcontext() if dry_run else held(ctx.vault, LOCK):
            configs, problems = load_tenants(project / "stacks", tenant or [])
            with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                          TimeElapsedColumn(), console=console, transient=True) as progress:
                reading = progress.add_task("reading Vault", total=len(configs))
                plan, dmarc = plan_all(ctx.vault, configs, ctx.clock, parallelism=max(parallelism, 8),
                                       on_read=lambda _t: progress.advance(reading))
            console.print(_plan_table(plan, dmarc, ctx.clock.now(), limit))
            more = f" ({limit} shown)" if len(plan.due) > limit else ""
            console.print(f"{len(configs)} tenant(s): {len(plan.due)} due, {len(plan.upcoming)} due within 7 days, "
                          f"{len(plan.waiting)} open window(s){more}; DMARC: {len(dmarc.ready)} to advance, "
                          f"{len(dmarc.starts)} schedule(s) to start, {len(dmarc.upcoming)} due within 7 days, "
                          f"{len(dmarc.held)} held, {len(dmarc.blocked)} blocked by a failed verification")
            for note in [*problems, *plan.notes][:limit]:
                console.print(f"[yellow]note[/] {note}")
            blocked = bool(dmarc.blocked) and not dry_run
            for item in dmarc.blocked:
                ctx.audit.event("rotate.due", tenant=item.tenant, outcome="dry-run" if dry_run else "blocked",
                                items=item.what, detail=item.reason)
            by_id = {config.tenant_id: config for config in configs}
            if (plan.due or dmarc.due) and not dry_run:
                for tenant_id in sorted({i.tenant for i in plan.due} | {i.tenant for i in dmarc.ready}):
                    require_settings(env, by_id[tenant_id])
                outcomes = record_dmarc_starts(ctx, dmarc.starts)
                outcomes += run_items(ctx, by_id, plan.due, dmarc_items=dmarc.ready, parallelism=parallelism)
                console.print(_outcome_table(outcomes))
            ctx.audit.event("rotate.due", tenant="*", outcome="dry-run" if dry_run else "ok", tenants=len(configs),
                            due=len(plan.due), upcoming=len(plan.upcoming), waiting=len(plan.waiting),
                            dmarc_due=len(dmarc.due), dmarc_held=len(dmarc.held), dmarc_blocked=len(dmarc.blocked),
                            failed=sum(o.status == "failed" for o in outcomes))
    except ToolkitError as exc:
        raise fail(exc) from None
    if any(o.status == "failed" for o in outcomes) or blocked:
        raise Exit(code=1)
