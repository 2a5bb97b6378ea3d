"""`invoke sandbox.up|down|status`: the embedded local sandbox (all loopback, state under .sandbox/)."""

from __future__ import annotations

import shutil
import time

from invoke.context import Context
from invoke.tasks import task
from rich.console import Console
from rich.table import Table

from sandbox.environment import Sandbox
from sandbox.settings import SandboxSettings
from toolkit.redact import REDACTOR

console = Console()

_SHOWN = ("VAULT_ADDRS", "PM_DNS_SERVER", "PM_DNS_PORT", "PM_DNS_ZONE", "HOSTWINDS_API_URL", "PULUMI_BACKEND_URL")


@task(help={"vault_mode": "dev (in-memory, default) or raft (integrated storage, initialised and unsealed)"})
def up(c: Context, vault_mode: str = "") -> None:
    """Start OpenBao, BIND, the Hostwinds simulator and the Pulumi file backend (idempotent)."""
    settings = SandboxSettings.from_env(vault_mode or None)
    started = time.monotonic()
    env = Sandbox.default(settings).up()
    REDACTOR.register(*(env[k] for k in env if "TOKEN" in k or "SECRET" in k or "KEY" in k or "PASS" in k))
    table = Table(title=f"sandbox up in {time.monotonic() - started:.1f} s", show_header=False)
    for key in _SHOWN:
        table.add_row(key, env.get(key, ""))
    table.add_row("secrets and tokens", f"{settings.env_file} (mode 0600; `source` it to use pulumi by hand)")
    console.print(table)


@task(help={"purge": "also delete the sandbox directory (Vault data, Pulumi state, VPS files)"})
def down(c: Context, purge: bool = False) -> None:
    """Stop every sandbox process (nothing is left running); --purge removes its state too."""
    settings = SandboxSettings.from_env()
    stopped = Sandbox.default(settings).down()
    console.print(f"stopped: {', '.join(stopped) if stopped else 'nothing was running'}")
    if purge and settings.root.exists():
        shutil.rmtree(settings.root)
        console.print(f"removed {settings.root}")


@task
def status(c: Context) -> None:
    """Show which sandbox services run."""
    settings = SandboxSettings.from_env()
    table = Table(title=f"sandbox at {settings.root}")
    table.add_column("service")
    table.add_column("state")
    for name, running in Sandbox.default(settings).status().items():
        table.add_row(name, "[green]running[/]" if running else "[red]stopped[/]")
    console.print(table)
