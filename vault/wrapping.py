"""Response-wrapped one-time retrieval: the secret travels as a single-use token with a TTL.

- Tenant SSH private key download: the KV read itself is wrapped, so the key never passes through us.
- SMTP credential view (900 s): the transit *decrypt* is wrapped; the unwrapper gets the clear password.
A wrapping token unwraps exactly once; after use or expiry ``unwrap`` raises ``WrappingTokenInvalid``.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from toolkit.redact import REDACTOR, Secret
from vault import kv, paths
from vault.client import VaultClient
from vault.errors import VaultError, WrappingTokenInvalid
from vault.smtp import TRANSIT_KEY, TRANSIT_MOUNT

SMTP_VIEW_TTL = 900
SSH_DOWNLOAD_TTL = 900


@dataclass(frozen=True)
class Wrapped:
    token: Secret
    ttl: int
    creation_path: str
    accessor: str


@dataclass(frozen=True)
class WrappedSmtpView:
    username: str
    webmail_url: str
    password: Wrapped


def _wrapped(reply: dict[str, Any] | None, what: str) -> Wrapped:
    info = (reply or {}).get("wrap_info")
    if not info:
        raise VaultError(f"{what}: Vault returned no wrapped response")
    token = Secret(str(info["token"]))
    REDACTOR.register(token)
    return Wrapped(token, int(info["ttl"]), str(info.get("creation_path", "")), str(info.get("accessor", "")))


def wrap_tenant_ssh_private_key(client: VaultClient, tenant_id: str, *, ttl: int = SSH_DOWNLOAD_TTL) -> Wrapped:
    """A one-time token for downloading the tenant's SSH key pair (wrapped KV read)."""
    path = paths.tenant_ssh(tenant_id)
    return _wrapped(client.read(path.data_api, wrap_ttl=f"{ttl}s"), f"wrap {path}")


def wrap_smtp_credential(client: VaultClient, tenant_id: str, *, ttl: int = SMTP_VIEW_TTL) -> WrappedSmtpView:
    """A one-time, ``ttl``-limited view of the Mailu admin password (wrapped transit decrypt)."""
    record = kv.read(client, paths.smtp_admin(tenant_id))
    reply = client.write(f"{TRANSIT_MOUNT}/decrypt/{TRANSIT_KEY}",
                         {"ciphertext": record.data["encrypted_password"]}, wrap_ttl=f"{ttl}s")
    return WrappedSmtpView(str(record.data["username"]), str(record.data["webmail_url"]),
                           _wrapped(reply, f"wrap {record.path}"))


def unwrap(client: VaultClient, token: Secret | str) -> dict[str, Any]:
    """The wrapped response's ``data``. Works once per token; needs no other credentials."""
    wrapper = client.with_token(token, manage_token=False)
    try:
        reply = wrapper.write("sys/wrapping/unwrap")
    except VaultError as exc:
        raise WrappingTokenInvalid(
            "the wrapping token was already used, has expired, or never existed"
        ) from exc.__cause__
    finally:
        wrapper.close()
    if not reply:
        raise WrappingTokenInvalid("unwrapping returned nothing")
    data = reply.get("data") or {}
    return dict(data.get("data", data)) if "metadata" in data else dict(data)


def lookup(client: VaultClient, token: Secret | str) -> dict[str, Any] | None:
    """Creation time, TTL and path of a wrapping token (without spending it); None once used or expired."""
    raw = token.reveal() if isinstance(token, Secret) else token
    try:
        reply = client.write("sys/wrapping/lookup", {"token": raw})
    except VaultError:
        return None
    return dict((reply or {}).get("data") or {}) or None


def unwrap_ssh_private_key(client: VaultClient, token: Secret | str) -> Secret:
    key = Secret(str(unwrap(client, token)["private_key"]))
    REDACTOR.register(key)
    return key


def unwrap_smtp_password(client: VaultClient, token: Secret | str) -> Secret:
    password = Secret(base64.b64decode(unwrap(client, token)["plaintext"]).decode())
    REDACTOR.register(password)
    return password
