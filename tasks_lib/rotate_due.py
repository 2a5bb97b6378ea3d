"""`invoke rotate.due`: the daily job. Reads every tenant's rotation state (intent + key ages in Vault), decides
what is due with the injectable clock, and carries it out through the engine: one intent change and one
`pulumi up` per tenant, tenants in parallel. `--dry-run` lists what would be done and changes nothing.
"""

from __future__ import annotations

from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from fleet.clock import iso
from fleet.rotation import DuePlan
from fleet.rotation_runner import Outcome, load_tenants, plan_due, run_items
from tasks_lib.day2 import COMMON_HELP, console, fail, fleet_context, require_settings
from toolkit.errors import ToolkitError


def _plan_table(plan: DuePlan, now: str) -> Table:
    table = Table(title=f"rotation plan at {now}")
    for column in ("tenant", "kind", "action", "due", "reason"):
        table.add_column(column, overflow="fold")
    for item in plan.due:
        table.add_row(item.tenant, item.kind.value, item.action.value, iso(item.due_at), item.reason)
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
    try:
        with fleet_context(work_dir=work_dir, audit_log=audit_log, now=now, verbose=verbose,
                           dry_run=dry_run) as (ctx, project, env):
            configs, problems = load_tenants(project / "stacks", tenant or [])
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
            by_id = {config.tenant_id: config for config in configs}
            if plan.due and not dry_run:
                for config in {by_id[item.tenant].tenant_id: by_id[item.tenant] for item in plan.due}.values():
                    require_settings(env, config)
                outcomes = run_items(ctx, by_id, plan.due, parallelism=parallelism)
                console.print(_outcome_table(outcomes))
            ctx.audit.event("rotate.due", tenant="*", outcome="dry-run" if dry_run else "ok", tenants=len(configs),
                            due=len(plan.due), upcoming=len(plan.upcoming), waiting=len(plan.waiting),
                            failed=sum(o.status == "failed" for o in outcomes))
    except ToolkitError as exc:
        raise fail(exc) from None
    if any(o.status == "failed" for o in outcomes):
        raise Exit(code=1)
