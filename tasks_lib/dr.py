"""Disaster-recovery tasks: `invoke dr.migrate` (logic in fleet.migrate) and `invoke dr.drill` (tasks_lib.dr_drill).

`dr.migrate --tenant T --reason compromise|failure|upgrade` moves a tenant to a new VPS through Pulumi: the tenant's
day-2 intent in Vault (`vps/<tenant>/intent`; the stack file is never edited) gets the next VPS generation
(compromise: also a fresh DKIM selector with the exposed ones burned, and new Mailu secrets; failure/upgrade: a copy
of the mail data from the old host), `pulumi up` replaces the VPS create-before-delete and moves DNS/PTR, the result
is verified at the authoritative servers, then the copy is dropped from the intent and the stack is proven converged
(`pulumi preview --expect-no-changes`). Every step is journaled in Vault (`vps/<tenant>/migration`): re-running the
task after an interruption finishes the migration (`--reason` may then be left out). An audit event is appended to
$PM_AUDIT_LOG (default ~/.local/state/pm-mail-infra/audit.jsonl); the journal's KV history is the durable record.

Needs the environment `pulumi up` needs: the engine (PATH; scripts/setup.sh records it), PULUMI_BACKEND_URL and
PULUMI_CONFIG_PASSPHRASE, Vault (VAULT_ADDR(S) + VAULT_TOKEN or AppRole), HOSTWINDS_API_KEY, PM_DNS_TSIG_SECRET.
Without a Vault address in the environment the sandbox's env file is used.

Fault injection (tests and drills): PM_DR_CRASH_AFTER=<step> exits hard right after that step is journaled
(steps: started, intent_recorded, deployed, verified, cleaned_up, done).
"""

from __future__ import annotations

import os
from pathlib import Path

from invoke.context import Context
from invoke.tasks import task
from rich.table import Table

from fleet.audit import audit_path
from fleet.migrate import REASONS, Migration, MigrationReport
from fleet.migrate_live import live_deps
from tasks_lib.day2 import connection_env
from tasks_lib.dr_drill import drill
from tasks_lib.vault import console, fail, reporting
from toolkit import stack_files
from toolkit.errors import ToolkitError

REPO = Path(__file__).resolve().parent.parent
RTO_SECONDS = 3600

__all__ = ["drill", "migrate"]


@task(help={
    "tenant": "tenant id (its stack is stacks/Pulumi.<tenant>.yaml)",
    "reason": f"{', '.join(REASONS)}; may be left out to resume a migration in progress",
    "work_dir": "the Pulumi project directory (default: this repository)",
    "stacks_dir": "where the stack files are (default: <work_dir>/stacks)",
    "audit_log": "audit log file (default: $PM_AUDIT_LOG, else ~/.local/state/pm-mail-infra/audit.jsonl)",
    "verbose": "show the engine's output",
})
def migrate(c: Context, tenant: str, reason: str = "", work_dir: str = "", stacks_dir: str = "",
            audit_log: str = "", verbose: bool = False) -> None:
    """Migrate a tenant to a new VPS through Pulumi; re-run to resume after an interruption.

    New VPS created before the old one is wiped and deleted (same `pulumi up`); compromise: new DKIM selector (the
    exposed ones burned) and rotated Mailu secrets; failure/upgrade: mail data copied from the old host when it
    answers. Journal in Vault (vps/<tenant>/migration), audit event, report with the measured recovery time.
    """
    env = connection_env()
    os.environ.update({k: v for k, v in env.items() if k not in os.environ})  # providers read os.environ
    project = Path(work_dir).resolve() if work_dir else REPO
    stacks = Path(stacks_dir).resolve() if stacks_dir else project / "stacks"
    try:
        config = stack_files.load(stacks, tenant)
        with reporting() as rep:
            echo = (lambda line: console.print(line.rstrip(), markup=False, highlight=False)) if verbose else None
            with live_deps(config, project, env, progress=rep.step, on_output=echo,
                           audit_log=Path(audit_log) if audit_log else None) as deps:
                report = Migration(tenant, reason or None, stacks, deps).run()
    except ToolkitError as exc:
        console.print("[yellow]the migration can be resumed: run the same command again[/]")
        raise fail(exc) from None
    _print(report, audit_log or str(audit_path(env=env)))


def _print(report: MigrationReport, audit_log: str) -> None:
    table = Table(title=f"dr.migrate [green]DONE[/]: {report.tenant} ({report.reason})", show_header=False)
    table.add_row("migration", report.migration_id)
    table.add_row("old VPS", f"{report.old_serviceid} {report.old_ip} (generation {report.old_generation}) - gone")
    table.add_row("new VPS", f"{report.new_serviceid} {report.new_ip} (generation {report.new_generation})")
    table.add_row("DKIM selector", report.dkim_selector)
    if report.burned_selectors:
        table.add_row("burned selectors", ", ".join(report.burned_selectors))
    versions = ", ".join(f"{k} {report.secret_versions_before.get(k, '?')}->{v}"
                         for k, v in sorted(report.secret_versions_after.items()))
    table.add_row("secret versions", versions or "-")
    if report.mail_copied is not None:
        table.add_row("mail data", f"copied {report.mail_bytes:,} bytes" if report.mail_copied else "NOT copied")
    for note in report.notes:
        table.add_row("old host", note)
    for warning in report.warnings:
        table.add_row("[yellow]warning[/]", warning)
    for step, seconds in report.step_seconds.items():
        table.add_row(f"  {step}", f"{seconds:.1f} s")
    table.add_row("recovery time (tool)", f"{report.tool_seconds:.1f} s over {report.runs} run(s)")
    table.add_row("elapsed (wall clock)", f"{report.elapsed_seconds:.1f} s")
    for line in report.repairs:
        table.add_row("repaired", line)
    table.add_row("audit log", audit_log)
    console.print(table)
    if report.tool_seconds > RTO_SECONDS:
        console.print(f"[yellow]recovery took longer than the {RTO_SECONDS // 60} min RTO[/]")
