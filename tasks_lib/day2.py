"""What every day-2 task shares: its connection settings checked before anything changes, the day-2 context
(Vault, clock, audit log, the engine of a stack), and printing a result.

Connection settings follow the one rule of ``toolkit.connection`` (task options, then the process environment, then
the env file the sandbox writes). The engine runs ``pulumi`` with that
environment: the program's providers need the same Vault, Hostwinds and DNS credentials as ``pulumi up``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from invoke.exceptions import Exit
from rich.console import Console
from rich.table import Table

from fleet.audit import AuditLog, audit_path
from fleet.clock import clock_from
from fleet.day2 import Day2Context, Engine
from fleet.stack_engine import StackEngine
from toolkit import connection, stack_files
from toolkit.errors import ConfigError, ToolkitError
from toolkit.redact import scrub
from toolkit.tenant_config import TenantConfig
from vault.client import VaultClient

console = Console(log_path=False)
REPO = Path(__file__).resolve().parent.parent
COMMON_HELP = {
    "work_dir": "the Pulumi project directory (default: this repository); stack files in <work_dir>/stacks",
    "audit_log": "audit log file (JSON lines; default $PM_AUDIT_LOG, else ~/.local/state/pm-mail-infra/audit.jsonl)",
    "now": "pretend the current time is this ISO 8601 instant (which windows have ended, which keys are due)",
    "verbose": "show the engine's output",
}
EXIT_FAILED = 2
EXIT_UNVERIFIED = 3


def connection_env() -> dict[str, str]:
    """The settings by the one rule (``toolkit.connection``): options > process environment > env file."""
    return connection.resolve().env


def require_settings(env: Mapping[str, str], config: TenantConfig) -> None:
    """Every credential the program's providers will need, checked before the intent changes."""
    missing: list[str] = []
    if not (env.get("VAULT_ADDRS") or env.get("VAULT_ADDR")):
        missing.append("VAULT_ADDR (or VAULT_ADDRS)")
    if not (env.get("VAULT_TOKEN") or (env.get("VAULT_ROLE_ID") and env.get("VAULT_SECRET_ID"))):
        missing.append("VAULT_TOKEN (or VAULT_ROLE_ID + VAULT_SECRET_ID)")
    if not env.get("HOSTWINDS_API_KEY"):
        missing.append("HOSTWINDS_API_KEY")
    if config.dns.provider == "rfc2136" and not env.get("PM_DNS_TSIG_SECRET"):
        missing.append("PM_DNS_TSIG_SECRET (the TSIG secret of the tenant's DNS zone)")
    if config.dns.provider == "cloudflare" and not env.get("CLOUDFLARE_API_TOKEN"):
        missing.append("CLOUDFLARE_API_TOKEN")
    if not env.get("PULUMI_BACKEND_URL"):
        missing.append("PULUMI_BACKEND_URL")
    if not (env.get("PULUMI_CONFIG_PASSPHRASE") or env.get("PULUMI_CONFIG_PASSPHRASE_FILE")):
        missing.append("PULUMI_CONFIG_PASSPHRASE (or PULUMI_CONFIG_PASSPHRASE_FILE)")
    if missing:
        raise ConfigError("environment", "missing " + ", ".join(missing) + ": export them, or start the sandbox "
                          "(`invoke sandbox.up`) whose .sandbox/env the tasks read; nothing was changed")


def require_pretend_time_allowed(env: Mapping[str, str], now: str, dry_run: bool) -> None:
    """``--now`` moves windows and ages for planning, drills and tests: real changes at a pretended time are only
    allowed against a local (loopback) Vault, never against production."""
    if not now or dry_run:
        return
    addresses = [a for a in (env.get("VAULT_ADDRS") or env.get("VAULT_ADDR") or "").split(",") if a.strip()]
    hosts = [urlparse(a.strip()).hostname or "" for a in addresses]
    if not hosts or not all(host == "localhost" or host.startswith("127.") for host in hosts):
        raise ConfigError("now", "a pretended time is for --dry-run, drills and the local sandbox: with a real "
                          "Vault it would record windows that end at the wrong time; drop --now or add --dry-run")


@contextmanager
def fleet_context(*, work_dir: str = "", audit_log: str = "", now: str = "", verbose: bool = False,
                  dry_run: bool = False) -> Iterator[tuple[Day2Context, Path, dict[str, str]]]:
    """The day-2 context for a project: (context, project directory, connection environment)."""
    env = connection_env()
    require_pretend_time_allowed(env, now, dry_run)
    project = Path(work_dir).resolve() if work_dir else REPO
    clock = clock_from(now)
    vault = VaultClient.from_env(env)
    echo = (lambda line: console.print(line.rstrip(), markup=False, highlight=False)) if verbose else None

    def engine_for(stack: str) -> Engine:
        return StackEngine(project, stack, env, on_output=echo)

    ctx = Day2Context(vault=vault, clock=clock, audit=AuditLog(audit_path(audit_log, env=env), clock),
                      engine_for=engine_for, progress=lambda message: console.log(scrub(message)))
    try:
        yield ctx, project, env
    finally:
        vault.close()


@contextmanager
def day2_context(tenant: str, *, work_dir: str = "", audit_log: str = "", now: str = "",
                 verbose: bool = False) -> Iterator[tuple[Day2Context, TenantConfig]]:
    """Settings checked (stack file valid, credentials present), then the context of one tenant's task."""
    with fleet_context(work_dir=work_dir, audit_log=audit_log, now=now, verbose=verbose) as (ctx, project, env):
        config = stack_files.load(project / "stacks", tenant)
        require_settings(env, config)
        yield ctx, config


def fail(exc: ToolkitError, code: int = EXIT_FAILED) -> Exit:
    console.print(f"[red]FAILED[/] {type(exc).__name__}: {scrub(str(exc))}")
    return Exit(code=code)


def report(title: str, summary: Mapping[str, Any]) -> None:
    table = Table(title=title, show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    for key, value in summary.items():
        if key == "checks":
            continue
        table.add_row(key, scrub(str(value)))
    for check in summary.get("checks", []):
        table.add_row("check", scrub(str(check)))
    console.print(table)


@contextmanager
def audited(event: str, *, tenant: str = "*", audit_log: str = "",
            env: Mapping[str, str] | None = None) -> Iterator[dict[str, Any]]:
    """One audit event for a task, whatever happens: yields a details dict to fill (never secrets); the outcome is
    ``ok``, ``refused`` for a ToolkitError (re-raised), ``failed`` otherwise. ``tenant="*"``: fleet-wide."""
    log = AuditLog(audit_path(audit_log, env=env if env is not None else connection_env()))
    details: dict[str, Any] = {}
    try:
        yield details
    except ToolkitError as exc:
        log.event(event, tenant=tenant, outcome="refused", error=f"{type(exc).__name__}: {exc}", **details)
        raise
    except BaseException as exc:
        log.event(event, tenant=tenant, outcome="failed", error=type(exc).__name__, **details)
        raise
    log.event(event, tenant=tenant, outcome=str(details.pop("outcome", "ok")), **details)
