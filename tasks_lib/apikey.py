"""`invoke apikey.create|list|revoke|rotate|revoke-all`: tenant API keys (logic in vault.apikeys).

Vault connection from the environment: VAULT_ADDRS (or VAULT_ADDR) and VAULT_TOKEN or VAULT_ROLE_ID +
VAULT_SECRET_ID; without an address, the sandbox's .sandbox/env is used. A new key is shown exactly once
(or, with --wrap-ttl, handed over as a single-use wrapping token instead of in clear).
"""

from __future__ import annotations

import json as jsonlib

from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task
from rich.console import Console
from rich.table import Table

from toolkit.errors import ToolkitError
from toolkit.redact import Secret, scrub
from vault import apikeys
from vault.client import VaultClient

console = Console(log_path=False)


def _client() -> VaultClient:
    from sandbox.environment import connection_env

    env, _from_sandbox = connection_env()
    return VaultClient.from_env(env)


def _fail(exc: ToolkitError) -> Exit:
    return Exit(f"apikey: {scrub(str(exc))}", code=1)


def _show_key(client: VaultClient, info: apikeys.ApiKeyInfo, key: Secret, wrap_ttl: int) -> None:
    console.print(f"key id {info.key_id}  tenant {info.tenant_id}  tier {info.tier.value} "
                  f"({info.rate_limit_per_minute}/min, burst {info.burst})  scopes {','.join(info.scopes)}")
    if wrap_ttl:
        reply = client.write("sys/wrapping/wrap", {"api_key": key.reveal()}, wrap_ttl=f"{wrap_ttl}s")
        token = (reply or {}).get("wrap_info", {}).get("token", "")
        console.print(f"single-use wrapping token (valid {wrap_ttl} s; unwrap with `bao unwrap <token>`):")
        print(token)
    else:
        console.print("[bold yellow]The key is shown once and cannot be recovered:[/]")
        print(key.reveal())


def _table(keys: list[apikeys.ApiKeyInfo]) -> Table:
    table = Table("key id", "name", "tier", "limit/min", "burst", "scopes", "status", "created")
    for k in keys:
        table.add_row(k.key_id, k.name, k.tier.value, str(k.rate_limit_per_minute), str(k.burst),
                      ",".join(k.scopes), k.status.value, k.created_at)
    return table


@task(help={"tenant": "tenant id", "name": "a label for the key", "scopes": "comma list, e.g. send_email",
            "tier": "starter | pro | enterprise", "wrap_ttl": "hand over as a wrapping token valid N seconds"})
def create(_c: Context, tenant: str, name: str, scopes: str = "send_email", tier: str = "starter",
           wrap_ttl: int = 0) -> None:
    """Issue an API key (bcrypt cost 12 in Vault); prints it once."""
    try:
        with _client() as client:
            info, key = apikeys.create_api_key(client, tenant, name=name, scopes=scopes.split(","), tier=tier)
            _show_key(client, info, key, wrap_ttl)
    except (ToolkitError, ValueError) as exc:
        raise _fail(exc if isinstance(exc, ToolkitError) else ToolkitError(str(exc))) from None


@task(name="list", help={"tenant": "tenant id", "json": "machine-readable output"})
def list_(_c: Context, tenant: str, json: bool = False) -> None:
    """The tenant's keys (ids, scopes, tiers, status; never the keys)."""
    try:
        with _client() as client:
            keys = apikeys.list_api_keys(client, tenant)
    except ToolkitError as exc:
        raise _fail(exc) from None
    if json:
        print(jsonlib.dumps([{**k.__dict__, "tier": k.tier.value, "status": k.status.value} for k in keys],
                            indent=2))
    else:
        console.print(_table(keys))


@task(help={"tenant": "tenant id", "key_id": "the key id (see apikey.list)"})
def revoke(_c: Context, tenant: str, key_id: str) -> None:
    """Revoke one key (a new version marks it revoked; history is kept)."""
    try:
        with _client() as client:
            info = apikeys.revoke_api_key(client, tenant, key_id)
    except ToolkitError as exc:
        raise _fail(exc) from None
    console.print(f"revoked {info.key_id} of {info.tenant_id}")


@task(help={"tenant": "tenant id", "key_id": "the key to replace",
            "wrap_ttl": "hand over as a wrapping token valid N seconds"})
def rotate(_c: Context, tenant: str, key_id: str, wrap_ttl: int = 0) -> None:
    """Replace a key by a new one with the same name, scopes and tier; the old one is revoked."""
    try:
        with _client() as client:
            info, key = apikeys.rotate_api_key(client, tenant, key_id)
            _show_key(client, info, key, wrap_ttl)
    except ToolkitError as exc:
        raise _fail(exc) from None


@task(name="revoke-all", help={"tenant": "tenant id", "yes": "confirm the emergency revocation"})
def revoke_all(_c: Context, tenant: str, yes: bool = False) -> None:
    """Emergency: revoke every active key of the tenant."""
    if not yes:
        raise Exit("apikey.revoke-all: add --yes to revoke every key of the tenant", code=2)
    try:
        with _client() as client:
            count = apikeys.revoke_all(client, tenant)
    except ToolkitError as exc:
        raise _fail(exc) from None
    console.print(f"revoked {count} active key(s) of {tenant}")
