"""`invoke demo`: the main job on the local sandbox - provision tenant "demo" end to end with `pulumi up`,
then report what was created, the DNS check at the authoritative server, and where the secrets live.

A second run is a no-op: it previews, finds nothing to change, and reports again.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task
from rich.console import Console
from rich.table import Table

from fleet.stack_engine import NotConverged, StackEngine
from fleet.verify import verify_tenant
from sandbox.environment import Sandbox
from sandbox.settings import SandboxSettings
from toolkit import stack_files
from toolkit.errors import ToolkitError
from vault.client import VaultClient

REPO = Path(__file__).resolve().parent.parent
STACK = "demo"
console = Console()


def _env() -> tuple[SandboxSettings, dict[str, str]]:
    settings = SandboxSettings.from_env()
    sandbox_env = Sandbox.default(settings).up()
    env = {**os.environ, **sandbox_env}
    _point_demo_at(sandbox_env)
    return settings, env


def _point_demo_at(sandbox_env: dict[str, str]) -> None:
    """The demo's stack file names the sandbox's DNS primary and Hostwinds API; a sandbox on other ports
    (PM_SANDBOX_*_PORT) gets them edited in, through the one stack-file writer."""
    config = stack_files.load(REPO / "stacks", STACK)
    wanted = {"dns.server": sandbox_env["PM_DNS_SERVER"], "dns.port": int(sandbox_env["PM_DNS_PORT"]),
              "dns.zone": sandbox_env["PM_DNS_ZONE"], "dns.tsig_key_name": sandbox_env["PM_DNS_TSIG_NAME"],
              "hostwinds.api_url": sandbox_env["HOSTWINDS_API_URL"]}
    current = {"dns.server": config.dns.server, "dns.port": config.dns.port, "dns.zone": config.dns.zone,
               "dns.tsig_key_name": config.dns.tsig_key_name, "hostwinds.api_url": config.hostwinds.api_url}
    changes = {key: value for key, value in wanted.items() if current[key] != value}
    if changes:
        stack_files.edit(REPO / "stacks", STACK, changes)
        console.print(f"stacks/Pulumi.{STACK}.yaml now points at this sandbox ({', '.join(sorted(changes))})")


def _engine(env: dict[str, str]) -> StackEngine:
    """The demo stack (created on the first run), its engine output streamed to the console."""
    return StackEngine(REPO, STACK, env, create=True,
                       on_output=lambda line: console.print(line.rstrip(), markup=False, highlight=False))


@task(default=True)
def run(c: Context) -> None:
    """Start the sandbox and converge tenant "demo" with `pulumi up` (shows progress), then report."""
    started = time.monotonic()
    settings, env = _env()
    console.print(f"[bold]sandbox up[/] ({settings.root}); Pulumi state: {env['PULUMI_BACKEND_URL']}")
    engine = _engine(env)
    try:
        console.print("[bold]previewing[/] ...")
        try:
            StackEngine(REPO, STACK, env, create=True).preview_no_changes()
            console.print("[green]no changes: the demo tenant is already converged (a second run is a no-op)[/]")
        except NotConverged:
            console.print("[bold]pulumi up[/] (tenant demo: keys into Vault, VPS, Mailu over SSH, DNS, verification)")
            engine.up()
        outputs = engine.outputs()
    except ToolkitError as exc:
        raise Exit(f"demo: {exc}", 1) from None
    report(env, outputs)
    console.print(f"done in {time.monotonic() - started:.1f} s")


def report(env: dict[str, str], outputs: dict[str, Any]) -> None:
    config = stack_files.load(REPO / "stacks", STACK)
    created = Table(title="tenant demo: what was created", show_header=False)
    for key in ("serviceid", "main_ip", "vps_label", "vps_hostname", "mail_host", "tenant_user", "dkim_selector",
                "admin_ssh_fingerprint", "tenant_ssh_fingerprint"):
        created.add_row(key, str(outputs.get(key, "")))
    created.add_row("dns records", "\n".join(outputs.get("dns_records", [])))
    console.print(created)

    with VaultClient.from_env(env) as vault:
        result = verify_tenant(config, mail_ip=str(outputs["main_ip"]), vault=vault,
                               serviceid=str(outputs["serviceid"]), env=env)
    checks = Table(title="DNS check at the authoritative server (and DKIM proven with the key in Vault)")
    for column in ("status", "check", "detail"):
        checks.add_column(column, overflow="fold")
    for check in result.checks:
        colour = {"ok": "green", "skipped": "yellow"}.get(check.status, "red")
        checks.add_row(f"[{colour}]{check.status}[/]", check.subject, check.detail)
    console.print(checks)

    secrets = Table(title="where the secrets live (Vault KV v2; state holds only paths, versions, fingerprints)")
    secrets.add_column("secret")
    secrets.add_column("path")
    secrets.add_column("version")
    for name, ref in sorted(outputs.get("vault", {}).items()):
        secrets.add_row(name, str(ref["path"]), str(ref["version"]))
    console.print(secrets)
    console.print(
        "Mailu: compose file, env, DKIM key, admin account and hardening were installed over real SSH on the "
        "sandbox VPS; `docker`/`apt-get`/`systemctl` there are stand-ins that record calls (no Docker engine here)."
    )
    console.print(
        "Tear down: [bold]invoke demo.destroy[/] (VPS + DNS; Vault secrets kept for audit), then "
        "[bold]invoke sandbox.down --purge[/] (stops every sandbox process, removes .sandbox/)."
    )
    if not result.ok:
        raise Exit(f"{len(result.problems)} DNS problem(s)", 1)


@task
def destroy(c: Context) -> None:
    """`pulumi destroy` of tenant demo: removes the VPS and its DNS records (Vault secrets are kept)."""
    _settings, env = _env()
    try:
        _engine(env).destroy()
    except ToolkitError as exc:
        raise Exit(f"demo.destroy: {exc}", 1) from None
