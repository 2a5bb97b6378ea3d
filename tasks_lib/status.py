"""`invoke status [--tenant T] [--json]`: health of one tenant or the whole fleet (logic: fleet.status).

    invoke status                       # one row per tenant (every stacks/Pulumi.<tenant>.yaml) and a summary
    invoke status --tenant acme         # every check of one tenant with its details
    invoke status --json                # the same as JSON for monitoring

Columns: VPS (Hostwinds status, IP, label), key ages and next rotation, backup freshness, DNS drift, Vault health,
TLS certificate expiry; then the fleet-wide "Vault cluster" section (fleet.status_cluster: leader, voters, sealed
nodes, raft applied-index lag, node certificate expiry; not with --tenant). Connection settings come from the
environment (VAULT_ADDR(S), VAULT_TOKEN, VAULT_CACERT, HOSTWINDS_API_URL/KEY, PULUMI_BACKEND_URL, PM_BACKUP_DEST);
without a Vault address the sandbox's .sandbox/env is used. Exit status by the worst check (the monitoring-plugin
convention): 0 ok, 1 warning, 2 critical, 3 unknown.
"""

from __future__ import annotations

import json as jsonlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from fleet.status import COLUMNS, Cell, FleetStatus, Severity, StatusSettings, TenantStatus, collect
from fleet.status_cluster import read_cluster
from fleet.status_model import EXIT_CODES, worst
from toolkit import connection

REPO = Path(__file__).resolve().parent.parent
console = Console()

_STYLE = {Severity.OK: "green", Severity.UNKNOWN: "magenta", Severity.WARNING: "yellow", Severity.CRITICAL: "red"}
_TITLES = {"vps": "VPS", "keys": "keys", "backup": "backup", "dns": "DNS", "vault": "Vault",
           "certificate": "certificate"}


def _paint(severity: Severity, text: str) -> str:
    return f"[{_STYLE[severity]}]{escape(text)}[/]"


def fleet_table(status: FleetStatus) -> Table:
    table = Table(title=f"fleet status at {status.checked_at:%Y-%m-%d %H:%M:%S} UTC")
    table.add_column("tenant", no_wrap=True)
    table.add_column("overall", no_wrap=True)
    for name in COLUMNS:
        table.add_column(_TITLES[name], overflow="fold")
    for tenant in status.tenants:
        table.add_row(tenant.tenant, _paint(tenant.severity, tenant.severity.value),
                      *(_paint(tenant.cells[c].severity, tenant.cells[c].summary) for c in COLUMNS))
    return table


def tenant_table(tenant: TenantStatus) -> Table:
    table = Table(title=f"tenant {tenant.tenant}: {tenant.severity.value}")
    for column in ("check", "severity", "summary", "details"):
        table.add_column(column, overflow="fold")
    for name in COLUMNS:
        cell = tenant.cells[name]
        details = "\n".join(detail_lines(cell.details))
        table.add_row(_TITLES[name], _paint(cell.severity, cell.severity.value), escape(cell.summary),
                      escape(details))
    return table


def detail_lines(details: Mapping[str, Any]) -> list[str]:
    """One line per scalar detail; a list of records (keys, DNS problems, Vault nodes) one line per record."""
    lines: list[str] = []
    for name, value in details.items():
        if name == "keys" and isinstance(value, list):
            lines += [_key_line(entry) for entry in value if isinstance(entry, Mapping)]
        elif isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
            lines.append(f"{name}:")
            lines += ["  " + ", ".join(f"{k}={v}" for k, v in entry.items() if v not in ("", None))
                      for entry in value]
        elif value not in ("", None, []):
            lines.append(f"{name}: {value}")
    return lines


def _key_line(entry: Mapping[str, Any]) -> str:
    if "next_rotation" not in entry:
        return f"{entry.get('name')}: {entry.get('severity')} ({entry.get('detail')})"
    note = f" [{entry['detail']}]" if entry.get("detail") else ""
    return (f"{entry['name']} v{entry.get('version')}: {float(entry['age_days']):.0f} d old, every "
            f"{entry['period_days']} d, next {str(entry['next_rotation'])[:10]} "
            f"(in {float(entry['due_in_days']):.0f} d){note}")


def endpoints_table(settings: connection.Connection) -> Table:
    """Which Vault, DNS, Hostwinds, Pulumi backend and backups the checks read, and where that came from."""
    table = Table(title="connection settings", show_header=False)
    for label, value in settings.endpoints().items():
        table.add_row(label, escape(value))
    return table


def cluster_table(cell: Cell) -> Table:
    """The fleet-wide "Vault cluster" section: leader, voters, sealed nodes, raft lag, node certificates."""
    table = Table(title=f"Vault cluster: {cell.severity.value}", show_header=False)
    table.add_row("summary", _paint(cell.severity, cell.summary))
    for name in ("nodes", "raft", "problems"):
        value = cell.details.get(name)
        if value:
            lines = detail_lines({name: value}) if name != "problems" else [str(v) for v in value]
            table.add_row(name, escape("\n".join(line for line in lines if line != f"{name}:")))
    return table


def summary_line(status: FleetStatus) -> str:
    counts = status.summary()
    parts = [_paint(Severity(k), f"{v} {k}") for k, v in counts["tenants"].items() if v]
    checks = ", ".join(f"{v} {k}" for k, v in counts["checks"].items() if v)
    return f"tenants: {', '.join(parts) or 'none'}  (checks: {checks or 'none'})"


@task(default=True, help={
    "tenant": "only this tenant (default: every stack file in the stacks dir)",
    "json": "print JSON instead of tables",
    "stacks_dir": "folder of the Pulumi.<tenant>.yaml files (default: stacks/)",
    "work_dir": "Pulumi project folder to read stack outputs in (default: the repository)",
    "no_outputs": "do not read Pulumi stack outputs; find each VPS by its Hostwinds label",
    "backup_dest": "backup destination: directory or s3://bucket/prefix (default: $PM_BACKUP_DEST)",
    "s3_endpoint": "S3-compatible endpoint URL for the backup store",
    "workers": "tenants checked in parallel",
})
def status(c: Context, tenant: str = "", json: bool = False, stacks_dir: str = "", work_dir: str = "",
           no_outputs: bool = False, backup_dest: str = "", s3_endpoint: str = "", workers: int = 4) -> None:
    """Per-tenant and fleet-wide health: VPS, key rotation, backups, DNS drift, Vault, certificate."""
    settings_used = connection.resolve()
    env = dict(settings_used.env)
    dest = backup_dest or env.get("PM_BACKUP_DEST") or None
    settings = StatusSettings(
        stacks_dir=Path(stacks_dir) if stacks_dir else REPO / "stacks", env=env,
        work_dir=None if no_outputs else Path(work_dir) if work_dir else REPO, backup_dest=dest,
        s3_endpoint=s3_endpoint or env.get("PM_BACKUP_S3_ENDPOINT") or None, workers=workers,
    )
    result = collect(settings, [tenant] if tenant else None)
    cluster = None if tenant else read_cluster(env, result.checked_at)  # fleet-wide: not in one tenant's view
    overall = worst((result.severity, cluster.severity)) if cluster else result.severity
    exit_code = EXIT_CODES[overall]
    if json:
        document = result.to_json()
        if cluster is not None:
            document.update(vault_cluster=cluster.to_json(), severity=overall.value, exit_code=exit_code)
        print(jsonlib.dumps(document, indent=2))
    elif tenant and result.tenants:
        console.print(endpoints_table(settings_used))
        console.print(tenant_table(result.tenants[0]))
    else:
        console.print(endpoints_table(settings_used))
        console.print(fleet_table(result))
        console.print(summary_line(result))
        if cluster is not None:
            console.print(cluster_table(cluster))
    if exit_code:
        raise Exit(code=exit_code)
