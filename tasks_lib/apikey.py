"""`invoke apikey.create|list|revoke|rotate|revoke-all`: tenant API keys (logic in vault.apikeys).

Vault connection from the environment: VAULT_ADDRS (or VAULT_ADDR) and VAULT_TOKEN or VAULT_ROLE_ID +
VAULT_SECRET_ID; without an address, the sandbox's .sandbox/env is used. A new key is shown exactly once
(or, with --wrap-ttl, handed over as a single-use wrapping token instead of in clear).

Keys are issued (create, rotate) only for a tenant that exists: it has a stack file (``--stacks``, default
stacks/) and was provisioned in Vault (its ``vps/<tenant>/admin_ssh`` exists). Listing and revocation work for
any tenant id, so an emergency revocation never depends on the stack file. Records the system did not issue
(no valid integrity tag) are listed and skipped with the reason, never trusted; revocation goes on past them.
Every task appends an audit event to ``--audit-log`` (default $PM_AUDIT_LOG, else
~/.local/state/pm-mail-infra/audit.jsonl).
"""

from __future__ import annotations

import json as jsonlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task
from rich.console import Console
from rich.table import Table

from fleet.audit import AuditLog, audit_path
from toolkit import connection, stack_files
from toolkit.errors import ConfigError, ToolkitError
from toolkit.redact import Secret, scrub
from vault import apikeys, wrapping
from vault.client import VaultClient

console = Console(log_path=False)
REPO = Path(__file__).resolve().parent.parent
AUDIT_HELP = "audit log file (JSON lines; default $PM_AUDIT_LOG, else ~/.local/state/pm-mail-infra/audit.jsonl)"
STACKS_HELP = "directory of the tenant stack files (default: stacks/)"


def _client() -> VaultClient:
    return VaultClient.from_env(connection.resolve().env)


@contextmanager
def _audited(event: str, tenant: str, audit_log: str) -> Iterator[dict[str, Any]]:
    """Yields a details dict for the task to fill; writes one audit event whatever happens (outcome ``ok`` unless
    the task set one, ``refused`` for a ToolkitError, ``failed`` otherwise) and turns a ToolkitError into exit 1."""
    audit = AuditLog(audit_path(audit_log))
    details: dict[str, Any] = {}
    try:
        yield details
    except (ToolkitError, ValueError) as exc:
        audit.event(event, tenant=tenant, outcome="refused", error=f"{type(exc).__name__}: {exc}", **details)
        raise Exit(f"apikey: {scrub(str(exc))}", code=1) from None
    except BaseException as exc:
        audit.event(event, tenant=tenant, outcome="failed", error=type(exc).__name__, **details)
        raise
    outcome = str(details.pop("outcome", "ok"))
    audit.event(event, tenant=tenant, outcome=outcome, **details)


def _require_tenant(client: VaultClient, tenant: str, stacks: str) -> None:
    """A stack file (a tenant the fleet declares) AND a provisioned Vault tree (`pulumi up` ran for it)."""
    config = stack_files.load(Path(stacks) if stacks else REPO / "stacks", tenant)
    if config.tenant_id != tenant:
        raise ConfigError("tenant", f"the stack file of {tenant!r} declares tenant_id {config.tenant_id!r}")
    apikeys.require_provisioned(client, tenant)


def _show_key(client: VaultClient, info: apikeys.ApiKeyInfo, key: Secret, wrap_ttl: int) -> None:
    console.print(f"key id {info.key_id}  tenant {info.tenant_id}  tier {info.tier.value} "
                  f"({info.rate_limit_per_minute}/min, burst {info.burst})  scopes {','.join(info.scopes)}")
    if wrap_ttl:
        wrapped = wrapping.wrap_data(client, {"api_key": key.reveal()}, ttl=wrap_ttl)
        console.print(f"single-use wrapping token (valid {wrap_ttl} s; unwrap with `bao unwrap <token>`):")
        print(wrapped.token.reveal())
    else:
        console.print("[bold yellow]The key is shown once and cannot be recovered:[/]")
        print(key.reveal())


def _key_details(info: apikeys.ApiKeyInfo) -> dict[str, Any]:
    return {"key_id": info.key_id, "name": info.name, "tier": info.tier.value, "scopes": list(info.scopes)}


def _skipped(skipped: tuple[apikeys.SkippedRecord, ...]) -> list[dict[str, str]]:
    return [{"path": s.path, "reason": s.reason} for s in skipped]


def _print_skipped(skipped: tuple[apikeys.SkippedRecord, ...]) -> None:
    if not skipped:
        return
    table = Table("path", "reason", title=f"[bold red]{len(skipped)} stored entr(y/ies) refused and left as they are")
    for s in skipped:
        table.add_row(s.path, s.reason)
    console.print(table)


def _table(keys: tuple[apikeys.ApiKeyInfo, ...]) -> Table:
    table = Table("key id", "name", "tier", "limit/min", "burst", "scopes", "status", "created")
    for k in keys:
        table.add_row(k.key_id, k.name, k.tier.value, str(k.rate_limit_per_minute), str(k.burst),
                      ",".join(k.scopes), k.status.value, k.created_at)
    return table


@task(help={"tenant": "tenant id", "name": "a label for the key", "scopes": "comma list, e.g. send_email",
            "tier": "starter | pro | enterprise", "wrap_ttl": "hand over as a wrapping token valid N seconds",
            "stacks": STACKS_HELP, "audit_log": AUDIT_HELP})
def create(_c: Context, tenant: str, name: str, scopes: str = "send_email", tier: str = "starter",
           wrap_ttl: int = 0, stacks: str = "", audit_log: str = "") -> None:
    """Issue an API key (bcrypt cost 12 in Vault) for an existing tenant; prints it once."""
    with _audited("apikey.create", tenant, audit_log) as details, _client() as client:
        details.update(name=name, tier=tier, scopes=scopes.split(","))
        _require_tenant(client, tenant, stacks)
        info, key = apikeys.create_api_key(client, tenant, name=name, scopes=scopes.split(","), tier=tier)
        details.update(_key_details(info))
        _show_key(client, info, key, wrap_ttl)


@task(name="list", help={"tenant": "tenant id", "json": "machine-readable output", "audit_log": AUDIT_HELP})
def list_(_c: Context, tenant: str, json: bool = False, audit_log: str = "") -> None:
    """The tenant's keys (ids, scopes, tiers, status; never the keys) and any stored entry refused as tampered."""
    with _audited("apikey.list", tenant, audit_log) as details, _client() as client:
        listing = apikeys.scan_api_keys(client, tenant)
        details.update(keys=len(listing.keys), skipped=_skipped(listing.skipped))
        if listing.skipped:
            details["outcome"] = "ok_with_skips"
    if json:
        print(jsonlib.dumps({
            "keys": [{**k.__dict__, "tier": k.tier.value, "status": k.status.value} for k in listing.keys],
            "skipped": _skipped(listing.skipped),
        }, indent=2))
    else:
        console.print(_table(listing.keys))
        _print_skipped(listing.skipped)


@task(help={"tenant": "tenant id", "key_id": "the key id (see apikey.list)", "audit_log": AUDIT_HELP})
def revoke(_c: Context, tenant: str, key_id: str, audit_log: str = "") -> None:
    """Revoke one key (a new version marks it revoked; history is kept). A tampered record is left as it is."""
    with _audited("apikey.revoke", tenant, audit_log) as details, _client() as client:
        details["key_id"] = key_id
        info = apikeys.revoke_api_key(client, tenant, key_id)
    console.print(f"revoked {info.key_id} of {info.tenant_id}")


@task(help={"tenant": "tenant id", "key_id": "the key to replace",
            "wrap_ttl": "hand over as a wrapping token valid N seconds", "stacks": STACKS_HELP,
            "audit_log": AUDIT_HELP})
def rotate(_c: Context, tenant: str, key_id: str, wrap_ttl: int = 0, stacks: str = "", audit_log: str = "") -> None:
    """Replace a key by a new one with the same name, scopes and tier; the old one is revoked."""
    with _audited("apikey.rotate", tenant, audit_log) as details, _client() as client:
        details["old_key_id"] = key_id
        _require_tenant(client, tenant, stacks)
        info, key = apikeys.rotate_api_key(client, tenant, key_id)
        details.update(_key_details(info))
        _show_key(client, info, key, wrap_ttl)


@task(name="revoke-all", help={"tenant": "tenant id", "yes": "confirm the emergency revocation",
                               "audit_log": AUDIT_HELP})
def revoke_all(_c: Context, tenant: str, yes: bool = False, audit_log: str = "") -> None:
    """Emergency: revoke every active key of the tenant; entries that are not genuine keys are reported."""
    if not yes:
        raise Exit("apikey.revoke-all: add --yes to revoke every key of the tenant", code=2)
    with _audited("apikey.revoke-all", tenant, audit_log) as details, _client() as client:
        report = apikeys.revoke_all(client, tenant)
        details.update(revoked=list(report.revoked), already_revoked=len(report.already_revoked),
                       skipped=_skipped(report.skipped))
        if report.skipped:
            details["outcome"] = "ok_with_skips"
    console.print(f"revoked {len(report.revoked)} active key(s) of {tenant}")
    _print_skipped(report.skipped)
