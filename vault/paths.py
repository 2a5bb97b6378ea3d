"""Typed secret paths: the one place that knows the layout of the KV v2 mounts.

Layout (KV v2 mounts ``vps``, ``smtp``, ``api_keys``, ``dkim``, ``claims``)::

    vps/<tenant_id>/admin_ssh      vps/<tenant_id>/tenant_ssh      vps/<tenant_id>/intent (day-2 intent)
    smtp/<tenant_id>/admin
    api_keys/<tenant_id>/<key_id>  api_keys/_index/<key_id>   (lookup index, see vault.apikeys)
    dkim/<domain>/<selector>
    claims/domain/<domain>         claims/tenant/<tenant_id>   (ownership, system-only: see vault.claims)

Every segment a caller passes goes through ``toolkit.validate``: nothing can escape its path.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from toolkit import validate

VPS_MOUNT = "vps"
SMTP_MOUNT = "smtp"
API_KEYS_MOUNT = "api_keys"
DKIM_MOUNT = "dkim"
CLAIMS_MOUNT = "claims"
KV_MOUNTS: tuple[str, ...] = (VPS_MOUNT, SMTP_MOUNT, API_KEYS_MOUNT, DKIM_MOUNT, CLAIMS_MOUNT)

API_KEY_INDEX = "_index"
"""Folder of the API-key lookup index; the underscore keeps it out of the tenant id space."""


class SshKeyKind(StrEnum):
    ADMIN = "admin_ssh"
    TENANT = "tenant_ssh"


@dataclass(frozen=True)
class SecretPath:
    """A KV v2 secret: its mount and its path inside the mount (no ``data/`` or ``metadata/`` part)."""

    mount: str
    path: str

    def __post_init__(self) -> None:
        if self.mount not in KV_MOUNTS:
            raise ValueError(f"mount {self.mount!r} is not one of the KV mounts {KV_MOUNTS}")

    @property
    def logical(self) -> str:
        """``mount/path`` as people write it (``vps/acme/admin_ssh``)."""
        return f"{self.mount}/{self.path}"

    @property
    def data_api(self) -> str:
        """The KV v2 data endpoint (``vps/data/acme/admin_ssh``)."""
        return f"{self.mount}/data/{self.path}"

    @property
    def metadata_api(self) -> str:
        return f"{self.mount}/metadata/{self.path}"

    def __str__(self) -> str:
        return self.logical


def ssh_key(tenant_id: str, kind: SshKeyKind | str) -> SecretPath:
    kind = SshKeyKind(kind)
    return SecretPath(VPS_MOUNT, f"{validate.tenant_id(tenant_id)}/{kind.value}")


def admin_ssh(tenant_id: str) -> SecretPath:
    return ssh_key(tenant_id, SshKeyKind.ADMIN)


def tenant_ssh(tenant_id: str) -> SecretPath:
    return ssh_key(tenant_id, SshKeyKind.TENANT)


def intent(tenant_id: str) -> SecretPath:
    """The tenant's day-2 intent record (``fleet.intent``): system-only, never readable by the tenant."""
    return SecretPath(VPS_MOUNT, f"{validate.tenant_id(tenant_id)}/intent")


def smtp_admin(tenant_id: str) -> SecretPath:
    return SecretPath(SMTP_MOUNT, f"{validate.tenant_id(tenant_id)}/admin")


def api_key(tenant_id: str, key_id: str) -> SecretPath:
    return SecretPath(API_KEYS_MOUNT, f"{validate.tenant_id(tenant_id)}/{validate.key_id(key_id)}")


def api_key_folder(tenant_id: str) -> str:
    """The folder to list a tenant's API keys under (inside the ``api_keys`` mount)."""
    return validate.tenant_id(tenant_id)


def api_key_index(key_id: str) -> SecretPath:
    return SecretPath(API_KEYS_MOUNT, f"{API_KEY_INDEX}/{validate.key_id(key_id)}")


def dkim(domain: str, selector: str) -> SecretPath:
    return SecretPath(
        DKIM_MOUNT, f"{validate.domain(domain)}/{validate.dkim_selector(selector, field='selector')}"
    )
