"""Response-wrapped one-time retrieval: the secret travels as a single-use token with a TTL.

- Tenant SSH private key download: the KV read itself is wrapped, so the key never passes through us.
- SMTP credential view (900 s): the transit *decrypt* is wrapped; the unwrapper gets the clear password.
- Any other value (a new API key): ``wrap_data`` (``sys/wrapping/wrap``).
A wrapping token unwraps exactly once; after use or expiry ``unwrap`` raises ``WrappingTokenInvalid``.

A handover (``vault.handover``, ``vault.handover_smtp``) puts the wrapped secret in an **envelope**: a second
single-use token whose data says what is inside (kind, tenant, secret path, version, the inner token's accessor) and
holds the inner token. Whoever opens the envelope learns what to audit before spending the inner token; whoever
opened it first (an interceptor) leaves the legitimate holder an "already used" token.
"""

from __future__ import annotations

import base64
import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from toolkit.redact import REDACTOR, Secret
from vault import kv, paths
from vault.client import VaultClient
from vault.config import VaultConfig
from vault.errors import VaultError, WrappingTokenInvalid
from vault.smtp import TRANSIT_KEY, TRANSIT_MOUNT

SMTP_VIEW_TTL = 900
SSH_DOWNLOAD_TTL = 900
ENVELOPE_FORMAT = "pm-handover/1"
USED_OR_EXPIRED = "the wrapping token was already used, has expired, or never existed"


@dataclass(frozen=True)
class Wrapped:
    token: Secret
    ttl: int
    creation_path: str
    accessor: str
    creation_time: str = ""


@dataclass(frozen=True)
class WrappedSmtpView:
    username: str
    webmail_url: str
    password: Wrapped
    version: int = 0
    """The version of ``smtp/<tenant>/admin`` whose ciphertext was decrypted."""


@dataclass(frozen=True)
class Envelope:
    """An opened envelope: what it says about the secret inside (never the secret) and the inner token."""

    kind: str
    tenant: str
    secret: str
    version: int
    accessor: str
    """The inner token's accessor: names the handover in audit events without being a credential."""
    fields: Mapping[str, str]
    inner: Secret


def _wrapped(reply: dict[str, Any] | None, what: str) -> Wrapped:
    info = (reply or {}).get("wrap_info")
    if not info:
        raise VaultError(f"{what}: Vault returned no wrapped response")
    token = Secret(str(info["token"]))
    REDACTOR.register(token)
    return Wrapped(token, int(info["ttl"]), str(info.get("creation_path", "")), str(info.get("accessor", "")),
                   str(info.get("creation_time", "")))


def client_without_token(env: Mapping[str, str]) -> VaultClient:
    """A client for the Vault nodes named in ``env`` (``VAULT_ADDRS``/``VAULT_ADDR``) that holds no credential: for
    unwrapping and logging in, where each request brings its own. Credentials in ``env`` are ignored."""
    config = VaultConfig.from_env(env, token=Secret(""), role_id=None, secret_id=None)
    return VaultClient(config, manage_token=False)


def wrap_data(client: VaultClient, data: Mapping[str, Any], *, ttl: int) -> Wrapped:
    """``data`` behind a single-use token valid ``ttl`` seconds (``sys/wrapping/wrap``)."""
    return _wrapped(client.write("sys/wrapping/wrap", dict(data), wrap_ttl=f"{ttl}s"), "wrap data")


def wrap_tenant_ssh_private_key(client: VaultClient, tenant_id: str, *, ttl: int = SSH_DOWNLOAD_TTL,
                                version: int | None = None) -> Wrapped:
    """A one-time token for downloading the tenant's SSH key pair (wrapped KV read; ``version`` pins one)."""
    path = paths.tenant_ssh(tenant_id)
    api = path.data_api + (f"?version={int(version)}" if version else "")
    return _wrapped(client.read(api, wrap_ttl=f"{ttl}s"), f"wrap {path}")


def wrap_smtp_credential(client: VaultClient, tenant_id: str, *, ttl: int = SMTP_VIEW_TTL) -> WrappedSmtpView:
    """A one-time, ``ttl``-limited view of the Mailu admin password (wrapped transit decrypt)."""
    record = kv.read(client, paths.smtp_admin(tenant_id))
    reply = client.write(f"{TRANSIT_MOUNT}/decrypt/{TRANSIT_KEY}",
                         {"ciphertext": record.data["encrypted_password"]}, wrap_ttl=f"{ttl}s")
    return WrappedSmtpView(str(record.data["username"]), str(record.data["webmail_url"]),
                           _wrapped(reply, f"wrap {record.path}"), record.version)


def _unwrap_reply(client: VaultClient, token: Secret | str) -> dict[str, Any]:
    wrapper = client.with_token(token, manage_token=False)
    try:
        reply = wrapper.write("sys/wrapping/unwrap")
    except VaultError as exc:
        raise WrappingTokenInvalid(USED_OR_EXPIRED) from exc.__cause__
    finally:
        wrapper.close()
    if not reply:
        raise WrappingTokenInvalid("unwrapping returned nothing")
    return dict(reply.get("data") or {})


def unwrap(client: VaultClient, token: Secret | str) -> dict[str, Any]:
    """The wrapped response's ``data``. Works once per token; needs no other credentials."""
    data = _unwrap_reply(client, token)
    return dict(data.get("data", data)) if "metadata" in data else dict(data)


def unwrap_kv(client: VaultClient, token: Secret | str) -> tuple[dict[str, Any], int]:
    """A wrapped KV v2 read: its data and the version it read."""
    data = _unwrap_reply(client, token)
    if "metadata" not in data:
        raise WrappingTokenInvalid("the token does not hold a KV read")
    return dict(data.get("data") or {}), int((data.get("metadata") or {}).get("version") or 0)


def lookup(client: VaultClient, token: Secret | str) -> dict[str, Any] | None:
    """Creation time, TTL and path of a wrapping token (without spending it); None once used or expired."""
    raw = token.reveal() if isinstance(token, Secret) else token
    try:
        reply = client.write("sys/wrapping/lookup", {"token": raw})
    except VaultError:
        return None
    return dict((reply or {}).get("data") or {}) or None


def discard(client: VaultClient, token: Secret | str) -> None:
    """Spend a token that will never be handed out (its response is dropped). Best effort: a token Vault cannot
    be reached to spend dies at the end of its TTL, and nobody but this process ever held it."""
    with contextlib.suppress(VaultError):
        unwrap(client, token)


def seal(client: VaultClient, inner: Wrapped, *, kind: str, tenant: str, secret: str, version: int, ttl: int,
         **fields: str) -> Wrapped:
    """The envelope token around ``inner`` (see the module doc). ``inner`` is spent if sealing fails."""
    data = {"format": ENVELOPE_FORMAT, "kind": kind, "tenant": tenant, "secret": secret, "version": version,
            "accessor": inner.accessor, "fields": dict(fields), "token": inner.token.reveal()}
    try:
        return wrap_data(client, data, ttl=ttl)
    except BaseException:
        discard(client, inner.token)
        raise


def open_envelope(client: VaultClient, token: Secret | str, *, kind: str) -> Envelope:
    """Spend the envelope token and return what it holds; the inner token is still unspent."""
    data = unwrap(client, token)
    if data.get("format") != ENVELOPE_FORMAT or not data.get("token"):
        raise WrappingTokenInvalid("this token is not a handover token of this toolkit (no envelope inside)")
    inner = Secret(str(data["token"]))
    REDACTOR.register(inner)
    if data.get("kind") != kind:
        raise WrappingTokenInvalid(f"this token holds a {data.get('kind')!r} handover, not {kind!r}: it was opened "
                                   "and cannot be used again; ask for a new one")
    fields = data.get("fields") or {}
    return Envelope(str(data["kind"]), str(data.get("tenant", "")), str(data.get("secret", "")),
                    int(data.get("version") or 0), str(data.get("accessor", "")),
                    {str(k): str(v) for k, v in fields.items()}, inner)


def unwrap_ssh_private_key(client: VaultClient, token: Secret | str) -> Secret:
    key = Secret(str(unwrap(client, token)["private_key"]))
    REDACTOR.register(key)
    return key


def unwrap_smtp_password(client: VaultClient, token: Secret | str) -> Secret:
    password = Secret(base64.b64decode(unwrap(client, token)["plaintext"]).decode())
    REDACTOR.register(password)
    return password
