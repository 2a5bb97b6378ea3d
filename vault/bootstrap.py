"""Idempotent setup of a Vault/OpenBao server for the toolkit (needs an admin or root token).

Enables the four KV v2 mounts (with a long version history), transit with the ``smtp-admin`` key and the
``apikey-records`` HMAC key (integrity tags of API-key records, see vault.apikey_records),
writes the admin/system/tenant policies from ``vault/policies/*.hcl``, the AppRole role of the system
account, userpass and the TOTP engine for admins, and the ``tenant`` token role. Running it again
changes nothing. Audit devices cannot be enabled over the API on OpenBao: they are declared in the server
config; ``bootstrap`` reports the ones it finds and warns when there is none.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from toolkit.errors import ConfigError
from toolkit.redact import REDACTOR, Secret
from vault import paths
from vault.apikey_records import TRANSIT_HMAC_KEY as APIKEY_RECORDS_KEY
from vault.client import VaultClient
from vault.errors import VaultError
from vault.smtp import TRANSIT_KEY, TRANSIT_MOUNT

log = logging.getLogger(__name__)

POLICY_DIR = Path(__file__).with_name("policies")
POLICIES = ("admin", "system", "tenant")
APPROLE_MOUNT = "approle"
USERPASS_MOUNT = "userpass"
TOTP_MOUNT = "totp"
SYSTEM_ROLE = "system"
TENANT_TOKEN_ROLE = "tenant"  # noqa: S105 - a role name, not a secret
KV_MAX_VERSIONS = 100
"""Versions kept per secret (KV v2 defaults to 10, which would drop rotation history after 10 rotations)."""


@dataclass
class BootstrapResult:
    system_role_id: str
    changed: list[str] = field(default_factory=list)
    audit_devices: list[str] = field(default_factory=list)


def policy_text(name: str) -> str:
    return (POLICY_DIR / f"{name}.hcl").read_text()


def _mounts(client: VaultClient) -> dict[str, dict[str, object]]:
    reply = client.read("sys/mounts") or {}
    data = reply.get("data", reply)
    return {k.rstrip("/"): v for k, v in data.items() if isinstance(v, dict)}


def _auths(client: VaultClient) -> dict[str, dict[str, object]]:
    reply = client.read("sys/auth") or {}
    data = reply.get("data", reply)
    return {k.rstrip("/"): v for k, v in data.items() if isinstance(v, dict)}


def _ensure_kv(client: VaultClient, result: BootstrapResult, max_versions: int) -> None:
    mounts = _mounts(client)
    for mount in paths.KV_MOUNTS:
        existing = mounts.get(mount)
        if existing is None:
            client.write(f"sys/mounts/{mount}", {"type": "kv", "options": {"version": "2"},
                                                  "description": f"pm toolkit: {mount}"})
            result.changed.append(f"enabled KV v2 at {mount}/")
        else:
            options = existing.get("options") or {}
            version = options.get("version") if isinstance(options, dict) else None
            if existing.get("type") != "kv" or str(version) != "2":
                raise ConfigError(
                    f"vault mount {mount}/",
                    f"exists as type {existing.get('type')!r} version {version!r}; a KV v2 mount is required",
                )
        config = client.read(f"{mount}/config") or {}
        if (config.get("data") or {}).get("max_versions") != max_versions:
            client.write(f"{mount}/config", {"max_versions": max_versions})
            result.changed.append(f"{mount}/ keeps {max_versions} versions")


def _ensure_transit(client: VaultClient, result: BootstrapResult) -> None:
    if TRANSIT_MOUNT not in _mounts(client):
        client.write(f"sys/mounts/{TRANSIT_MOUNT}", {"type": "transit"})
        result.changed.append("enabled transit/")
    wanted: tuple[tuple[str, dict[str, object]], ...] = (
        (TRANSIT_KEY, {"type": "aes256-gcm96"}), (APIKEY_RECORDS_KEY, {"type": "hmac", "key_size": 32}))
    for key, settings in wanted:
        if client.read(f"{TRANSIT_MOUNT}/keys/{key}") is None:
            client.write(f"{TRANSIT_MOUNT}/keys/{key}", settings)
            result.changed.append(f"created transit key {key} ({settings['type']})")
    if TOTP_MOUNT not in _mounts(client):
        client.write(f"sys/mounts/{TOTP_MOUNT}", {"type": "totp"})
        result.changed.append("enabled totp/")


def _ensure_policies(client: VaultClient, result: BootstrapResult) -> None:
    for name in POLICIES:
        text = policy_text(name)
        current = client.read(f"sys/policies/acl/{name}")
        if current is None or (current.get("data") or {}).get("policy") != text:
            client.write(f"sys/policies/acl/{name}", {"policy": text})
            result.changed.append(f"policy {name}")


def _ensure_auth(client: VaultClient, result: BootstrapResult) -> None:
    auths = _auths(client)
    for mount, kind in ((APPROLE_MOUNT, "approle"), (USERPASS_MOUNT, "userpass")):
        if mount not in auths:
            client.write(f"sys/auth/{mount}", {"type": kind})
            result.changed.append(f"enabled auth {kind} at {mount}/")


def _ensure_role(client: VaultClient, path: str, wanted: dict[str, object], result: BootstrapResult) -> None:
    current = (client.read(path) or {}).get("data") or {}
    if any(current.get(k) != v for k, v in wanted.items()):
        client.write(path, wanted)
        result.changed.append(path)


def bootstrap(
    client: VaultClient,
    *,
    system_token_ttl: int = 3600,
    system_token_max_ttl: int = 4 * 3600,
    system_secret_id_ttl: int = 24 * 3600,
    tenant_token_max_ttl: int = 24 * 3600,
    kv_max_versions: int = KV_MAX_VERSIONS,
) -> BootstrapResult:
    """Bring the server to the toolkit's layout; idempotent. Returns the system role id and what changed."""
    result = BootstrapResult(system_role_id="")
    _ensure_kv(client, result, kv_max_versions)
    _ensure_transit(client, result)
    _ensure_policies(client, result)
    _ensure_auth(client, result)
    _ensure_role(client, f"auth/{APPROLE_MOUNT}/role/{SYSTEM_ROLE}", {
        "token_policies": ["system"], "token_ttl": system_token_ttl, "token_max_ttl": system_token_max_ttl,
        "secret_id_ttl": system_secret_id_ttl, "bind_secret_id": True,
    }, result)
    _ensure_role(client, f"auth/token/roles/{TENANT_TOKEN_ROLE}", {
        "allowed_policies": ["tenant"], "orphan": True, "renewable": True,
        "allowed_entity_aliases": ["tenant-*"], "token_explicit_max_ttl": tenant_token_max_ttl,
    }, result)
    role = client.read(f"auth/{APPROLE_MOUNT}/role/{SYSTEM_ROLE}/role-id") or {}
    result.system_role_id = str((role.get("data") or {}).get("role_id", ""))
    audit = client.read("sys/audit") or {}
    result.audit_devices = sorted(k for k, v in (audit.get("data") or audit).items() if isinstance(v, dict))
    if not result.audit_devices:
        log.warning("vault: no audit device is enabled; declare a file audit device in the server config")
    for line in result.changed:
        log.info("vault bootstrap: %s", line)
    return result


def issue_system_secret_id(client: VaultClient, *, wrap_ttl: str | None = None) -> Secret:
    """A new secret id for the system AppRole; with ``wrap_ttl`` the wrapping token instead (hand that over:
    it unwraps once to the secret id)."""
    reply = client.write(f"auth/{APPROLE_MOUNT}/role/{SYSTEM_ROLE}/secret-id", {}, wrap_ttl=wrap_ttl)
    if reply is None:
        raise VaultError("issue system secret id: empty reply")
    value = reply["wrap_info"]["token"] if wrap_ttl else reply["data"]["secret_id"]
    secret = Secret(str(value))
    REDACTOR.register(secret)
    return secret


def bootstrap_sandbox(address: str, root_token: str) -> BootstrapResult:
    """Bootstrap a local sandbox server (one address, its root token). Used by ``sandbox.environment``."""
    from vault.client import VaultConfig

    with VaultClient(VaultConfig(addresses=(address,), token=Secret(root_token))) as client:
        return bootstrap(client)
