"""`invoke hostwinds.probe`: what a Hostwinds account answers, against every assumption the toolkit makes.

    invoke hostwinds.probe                      # the account of HOSTWINDS_API_KEY (the real API unless
                                                # HOSTWINDS_API_URL or --api-url says otherwise)
    invoke hostwinds.probe --tenant acme        # also: do acme's image, location and size resolve?

Read-only: only listing actions are sent (``hostwinds.probe.ReadOnlyTransport`` refuses anything else before it
leaves the machine). Run it first with a new account; hostwinds/CONTRACT.md says what each line settles.
Exit status 0 when nothing contradicts the settings, 1 when something does, 2 when the API cannot be used.
"""

from __future__ import annotations

import json as jsonlib
from dataclasses import asdict
from pathlib import Path

from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task
from rich.console import Console
from rich.table import Table

from hostwinds.probe import ProbeReport, Wanted, probe
from hostwinds.settings import ClientSettings
from tasks_lib.day2 import connection_env
from toolkit import stack_files
from toolkit.errors import ToolkitError
from toolkit.tenant_config import TenantConfig, size_minimums

console = Console()
_STYLE = {"ok": "green", "differs": "red", "unknown": "yellow", "failed": "red"}


def _wanted(tenant: str, work_dir: str, firewall_profile: str) -> Wanted:
    defaults = TenantConfig.model_fields
    image, location = str(defaults["image"].default), str(defaults["location"].default)
    size, profile = "small", firewall_profile or "mail"
    if tenant:
        project = Path(work_dir).resolve() if work_dir else Path(__file__).resolve().parent.parent
        config = stack_files.load(project / "stacks", tenant)
        image, location, size = config.image, config.location, config.plan_id
        profile = firewall_profile or config.hostwinds.firewall_profile
    return Wanted(image=image, location=location, size=size, firewall_profile=profile, tiers=size_minimums())


def _table(report: ProbeReport) -> Table:
    table = Table(title=f"Hostwinds account at {report.url} (read-only: {len(report.sent)} listing calls)")
    for column in ("verdict", "assumption", "the account answered", "toolkit setting"):
        table.add_column(column, overflow="fold")
    for f in report.findings:
        table.add_row(f"[{_STYLE[f.verdict]}]{f.verdict}[/]", f.topic, f.answered, f.setting)
    return table


@task(name="probe", help={
    "api_url": "the API URL (default: HOSTWINDS_API_URL, else the real API)",
    "tenant": "also check that this tenant's stack file (image, location, size, firewall profile) resolves",
    "work_dir": "the Pulumi project directory holding stacks/ (default: this repository)",
    "firewall_profile": "the firewall profile name to look for (default: the stack's, else mail)",
    "json": "print the findings as JSON",
})
def probe_account(c: Context, api_url: str = "", tenant: str = "", work_dir: str = "", firewall_profile: str = "",
                  json: bool = False) -> None:
    """Ask a Hostwinds account, with listing actions only, whether the toolkit's assumptions hold."""
    try:
        settings = ClientSettings.from_env(connection_env(), api_url=api_url or None)
        report = probe(settings, _wanted(tenant, work_dir, firewall_profile))
    except ToolkitError as exc:
        console.print(f"[red]hostwinds.probe failed:[/] {exc}")
        raise Exit(code=2) from None
    if json:
        print(jsonlib.dumps({"url": report.url, "sent": report.sent,
                             "findings": [asdict(f) for f in report.findings]}, indent=2))
    else:
        console.print(_table(report))
        console.print("what each line settles: hostwinds/CONTRACT.md; settings: PM_HOSTWINDS_* (hostwinds/settings.py)")
    if report.exit_code:
        raise Exit(code=report.exit_code)
