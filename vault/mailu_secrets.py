"""Vault-backed ``mailu.secrets.MailuSecrets``: fetches the installer's four secrets from Vault on demand.

``load(refs)`` is the loader named in the Pulumi wrapper's state (``"vault.mailu_secrets:load"``); it builds
the client from the environment (VAULT_ADDRS/VAULT_ADDR + VAULT_TOKEN or AppRole) at run time. Refs carry
logical paths (``vps/<tenant>/admin_ssh``, ``dkim/<domain>/<selector>``, ``smtp/<tenant>/admin``,
``smtp/<tenant>/mailu``) and versions (0 = latest); each path is re-validated against the known layout.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from mailu.secrets import MailuSecrets, SecretRefs
from toolkit import validate
from toolkit.errors import ValidationError
from toolkit.redact import REDACTOR, Secret
from vault import kv, paths, smtp
from vault.client import VaultClient
from vault.errors import SecretNotFound
from vault.keys import now_iso

MAILU_SECRET_KEY_BYTES = 24


def mailu_secret_key_path(tenant_id: str) -> paths.SecretPath:
    return paths.SecretPath(paths.SMTP_MOUNT, f"{validate.tenant_id(tenant_id)}/mailu")


def parse_path(logical: str, field: str) -> paths.SecretPath:
    """A logical path from refs, accepted only if it is one of the layout's shapes (re-validated)."""
    parts = logical.split("/") if isinstance(logical, str) else []
    if len(parts) == 3:
        mount, first, second = parts
        try:
            if mount == paths.VPS_MOUNT and second in ("admin_ssh", "tenant_ssh"):
                return paths.ssh_key(first, second)
            if mount == paths.SMTP_MOUNT and second == "admin":
                return paths.smtp_admin(first)
            if mount == paths.SMTP_MOUNT and second == "mailu":
                return mailu_secret_key_path(first)
            if mount == paths.DKIM_MOUNT:
                return paths.dkim(first, second)
        except ValidationError as exc:
            raise ValidationError(field, exc.problem) from None
    raise ValidationError(field, f"{logical!r} is not a secret path of the toolkit's Vault layout")


def store_mailu_secret_key(client: VaultClient, tenant_id: str, trigger: str = "") -> tuple[str, int]:
    """Create (or rotate) Mailu's SECRET_KEY at ``smtp/<tenant>/mailu``. Returns (path, version).

    A version already written for the same non-empty ``trigger`` (an interrupted update) is returned as it is."""
    path = mailu_secret_key_path(tenant_id)
    if trigger:
        try:
            existing = kv.read(client, path)
        except SecretNotFound:
            existing = None
        if existing is not None and existing.data.get("rotation_trigger") == trigger:
            return path.logical, existing.version
    value = secrets.token_urlsafe(MAILU_SECRET_KEY_BYTES)
    REDACTOR.register(value)
    try:
        current = kv.read(client, path)
        version, created = current.version, current.data.get("created_at")
    except SecretNotFound:
        version, created = kv.current_version(client, path), None
    stamp = now_iso()
    new_version = kv.write(client, path, {"secret_key": value, "created_at": created or stamp,
                                          "last_rotated": stamp, "rotation_trigger": trigger}, cas=version)
    return path.logical, new_version


def _version(value: int) -> int | None:
    return value or None


@dataclass
class VaultMailuSecrets:
    """``MailuSecrets`` read from Vault; each call fetches (nothing is cached beyond the returned Secret)."""

    client: VaultClient
    refs: SecretRefs

    def _private(self, logical: str, version: int, field: str) -> Secret:
        record = kv.read(self.client, parse_path(logical, field), _version(version))
        value = Secret(str(record.data["private_key"]))
        REDACTOR.register(value)
        return value

    def admin_ssh_private_key(self) -> Secret:
        return self._private(self.refs.admin_ssh_path, self.refs.admin_ssh_version, "admin_ssh_path")

    def dkim_private_key(self) -> Secret:
        return self._private(self.refs.dkim_path, self.refs.dkim_version, "dkim_path")

    def admin_password(self) -> Secret:
        path = parse_path(self.refs.smtp_admin_path, "smtp_admin_path")
        record = kv.read(self.client, path, _version(self.refs.smtp_admin_version))
        return smtp.decrypt(self.client, str(record.data["encrypted_password"]))

    def mailu_secret_key(self) -> Secret:
        path = parse_path(self.refs.mailu_secret_key_path, "mailu_secret_key_path")
        record = kv.read(self.client, path, _version(self.refs.mailu_secret_key_version))
        value = Secret(str(record.data["secret_key"]))
        REDACTOR.register(value)
        return value


def load(refs: SecretRefs) -> MailuSecrets:
    """The loader for ``mailu.secrets.resolve_loader("vault.mailu_secrets:load")``."""
    return VaultMailuSecrets(VaultClient.from_env(), refs)
