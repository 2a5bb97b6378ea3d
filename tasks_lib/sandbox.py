"""`invoke sandbox.up|down|status`: the embedded local sandbox (all loopback, state under .sandbox/)."""

from __future__ import annotations

import shutil
import time

from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task
from rich.console import Console
from rich.table import Table

from sandbox.environment import Sandbox
from sandbox.settings import SandboxSettings
from toolkit import connection
from toolkit.errors import ToolkitError
from toolkit.redact import REDACTOR

console = Console()
_STATES = {"pulumi-backend": ("ready", "not set up"), "backups": ("ready", "not set up")}  # directories, not processes


@task(help={
    "vault_mode": "raft (integrated storage, initialised and unsealed: snapshots, backups and drills work; the "
                  "default) or dev (in memory, faster, no backups)",
    "vault_nodes": "raft nodes: 1 (default) or 3 (failover)",
})
def up(c: Context, vault_mode: str = "", vault_nodes: int = 0) -> None:
    """Start OpenBao, BIND, the Hostwinds simulator, the Pulumi file backend and the backup store (idempotent)."""
    try:
        settings = SandboxSettings.from_env(vault_mode or None, vault_nodes or None)
    except ToolkitError as exc:
        raise Exit(f"sandbox.up: {exc}", code=2) from None
    started = time.monotonic()
    env = Sandbox.default(settings).up()
    REDACTOR.register(*(env[k] for k in env if "TOKEN" in k or "SECRET" in k or "KEY" in k or "PASS" in k))
    table = Table(title=f"sandbox up in {time.monotonic() - started:.1f} s", show_header=False)
    for label, value in connection.resolve(env, settings.env_file).endpoints().items():
        table.add_row(label, value)
    table.add_row("Vault storage", f"{settings.vault_mode}" + (f", {settings.vault_nodes} node(s)"
                                                              if settings.vault_mode == "raft" else ""))
    table.add_row("secrets and tokens", f"{settings.env_file} (mode 0600): every task reads it when no Vault is "
                  "exported; `source` it to run pulumi by hand")
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
    """Show which sandbox services run, and which endpoints the tasks will use (and where that comes from)."""
    settings = SandboxSettings.from_env()
    table = Table(title=f"sandbox at {settings.root} (Vault {settings.vault_mode})")
    table.add_column("service")
    table.add_column("state")
    for name, running in Sandbox.default(settings).status().items():
        up, down = _STATES.get(name, ("running", "stopped"))
        table.add_row(name, f"[green]{up}[/]" if running else f"[red]{down}[/]")
    console.print(table)
    used = Table(title="tasks and pulumi will use", show_header=False)
    for label, value in connection.resolve().endpoints().items():
        used.add_row(label, value)
    console.print(used)
