"""The one-time handover of a tenant's SSH private key, and the record that makes "once" hold across runs.

``issue_tenant_key`` pins the current version of ``vps/<tenant>/tenant_ssh``, wraps a read of exactly that version
(the key never passes through the issuer), seals it in an envelope token (``vault.wrapping``) and records the handover
at ``vps/<tenant>/handover`` with check-and-set. A key version is identified by its number **and** the time Vault
created it, so a tenant purged and created again under the same id starts with nothing handed over.

Why a record of its own there: the system credential writes ``vps/data/*``; the tenant policy grants a tenant
nothing on this path (no read, no write, no delete, no metadata), so a tenant can neither reset "handed over" to get
its key again nor hide a download. The system policy cannot delete versions or write metadata, so every earlier
state of the record stays in the KV history.

A second handover of the same key version is refused (``AlreadyHandedOver``) unless the caller gives an override
reason, which the record keeps. Two handovers racing: the second CAS write fails and its tokens are spent unread.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

from toolkit import validate
from toolkit.redact import REDACTOR, Secret
from vault import kv, paths, wrapping
from vault.client import VaultClient
from vault.errors import CasConflict, SecretNotFound, VaultError, WrappingTokenInvalid

RECORD_VERSION = 1
KIND = "tenant_ssh"


class HandoverRefused(VaultError):
    """A handover that must not happen (nothing to hand over, already handed over, lost a race)."""


class AlreadyHandedOver(HandoverRefused):
    """This key version was handed over before; ``previous`` says when, by whom, under which token accessor."""

    def __init__(self, message: str, previous: tuple[Handover, ...]) -> None:
        super().__init__(message)
        self.previous = previous


def record_path(tenant_id: str) -> paths.SecretPath:
    """``vps/<tenant>/handover``: written by the system side only (no tenant policy rule names it)."""
    return paths.SecretPath(paths.VPS_MOUNT, f"{validate.tenant_id(tenant_id)}/handover")


@dataclass(frozen=True)
class Handover:
    secret: str
    """``vps/<tenant>/tenant_ssh``."""
    version: int
    key_created: str
    """When Vault created that version (tells a re-created tenant's version 1 from the old one)."""
    at: str
    by: str
    accessor: str
    """Accessor of the wrapped read (the token that reveals the key)."""
    envelope_accessor: str
    expires_at: str
    override_reason: str = ""


@dataclass(frozen=True)
class HandoverRecord:
    tenant: str
    handovers: tuple[Handover, ...] = ()
    revision: int = 0
    """The KV version this was read from (0: no record yet); the next write checks it."""

    def of_key(self, version: int, key_created: str) -> tuple[Handover, ...]:
        return tuple(h for h in self.handovers if h.version == version and h.key_created == key_created)

    def to_data(self) -> dict[str, Any]:
        return {"record_version": RECORD_VERSION, "handovers": [asdict(h) for h in self.handovers]}


@dataclass(frozen=True)
class IssuedKey:
    envelope: wrapping.Wrapped
    """The one token to hand to the tenant."""
    handover: Handover
    previous: tuple[Handover, ...]
    """Earlier handovers of the same key version (non-empty only with an override)."""
    record_version: int


@dataclass(frozen=True)
class ReceivedKey:
    tenant: str
    secret: str
    version: int
    accessor: str
    private_key: Secret
    public_key: str
    fingerprint: str


def _handover(raw: Mapping[str, Any]) -> Handover:
    return Handover(str(raw["secret"]), int(raw["version"]), str(raw["key_created"]), str(raw["at"]), str(raw["by"]),
                    str(raw["accessor"]), str(raw["envelope_accessor"]), str(raw["expires_at"]),
                    str(raw.get("override_reason") or ""))


def from_data(tenant: str, data: Mapping[str, Any], revision: int) -> HandoverRecord:
    try:
        handovers = tuple(_handover(h) for h in data.get("handovers") or ())
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise HandoverRefused(f"the handover record of {tenant} is malformed ({exc}); an operator must repair "
                              f"{record_path(tenant)}") from None
    return HandoverRecord(tenant, handovers, revision)


def load(client: VaultClient, tenant_id: str) -> HandoverRecord:
    """The tenant's handover record (empty when nothing was ever handed over)."""
    try:
        record = kv.read(client, record_path(tenant_id))
    except SecretNotFound:
        return HandoverRecord(tenant_id, (), kv.current_version(client, record_path(tenant_id)))
    return from_data(tenant_id, record.data, record.version)


def current_key(client: VaultClient, tenant_id: str) -> kv.KvVersionInfo:
    """The current version of the tenant key (metadata only: the key itself is never read here)."""
    path = paths.tenant_ssh(tenant_id)
    try:
        history = kv.versions(client, path)
    except SecretNotFound:
        history = []
    if not history:
        raise HandoverRefused(f"{path} does not exist: {tenant_id} was never provisioned (`pulumi up`) or the "
                              "tenant id is wrong; nothing was handed over")
    current = history[-1]
    if current.destroyed or current.deletion_time:
        raise HandoverRefused(f"{path} v{current.version} was deleted: regenerate the key "
                              f"(`invoke ssh.regenerate --tenant {tenant_id} --kind tenant`) and hand that over")
    return current


def describe(previous: tuple[Handover, ...]) -> str:
    return "; ".join(f"{h.at} by {h.by} (token accessor {h.accessor}, valid until {h.expires_at}"
                     + (f", override: {h.override_reason}" if h.override_reason else "") + ")" for h in previous)


def already_handed_over(tenant: str, key: kv.KvVersionInfo, previous: tuple[Handover, ...]) -> AlreadyHandedOver:
    path = paths.tenant_ssh(tenant)
    return AlreadyHandedOver(
        f"{path} v{key.version} was already handed over: {describe(previous)}. A key is handed over once. If the "
        f"tenant's unwrap said 'already used', someone else opened the token: revoke the key (`invoke ssh.revoke "
        f"--tenant {tenant} --kind tenant`), issue a new one (`invoke ssh.regenerate --tenant {tenant} --kind "
        f"tenant`) and download that. If the token expired unused, hand it over again with --force --reason "
        "'<why>' (audited)", previous)


def _stamp(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def issue_tenant_key(client: VaultClient, tenant_id: str, *, by: str, ttl: int = wrapping.SSH_DOWNLOAD_TTL,
                     override_reason: str = "", now: dt.datetime | None = None) -> IssuedKey:
    """Hand over the current tenant key once: an envelope token (single use, ``ttl`` seconds) and the record.

    Raises ``AlreadyHandedOver`` when this key version was handed over before and no ``override_reason`` is given,
    ``HandoverRefused`` when there is no key or another handover was recorded meanwhile."""
    tenant = validate.tenant_id(tenant_id)
    if ttl < 1:
        raise HandoverRefused(f"the token's TTL must be at least 1 second, not {ttl}")
    record = load(client, tenant)
    key = current_key(client, tenant)
    previous = record.of_key(key.version, key.created_time)
    if previous and not override_reason.strip():
        raise already_handed_over(tenant, key, previous)
    path = paths.tenant_ssh(tenant)
    inner = wrapping.wrap_tenant_ssh_private_key(client, tenant, ttl=ttl, version=key.version)
    envelope = wrapping.seal(client, inner, kind=KIND, tenant=tenant, secret=path.logical, version=key.version,
                             ttl=ttl)
    at = now or dt.datetime.now(dt.UTC)
    handover = Handover(path.logical, key.version, key.created_time, _stamp(at), by, inner.accessor,
                        envelope.accessor, _stamp(at + dt.timedelta(seconds=ttl)), override_reason.strip())
    try:
        written = kv.write(client, record_path(tenant), replace(record, handovers=(*record.handovers, handover))
                           .to_data(), cas=record.revision)
    except CasConflict:
        wrapping.discard(client, envelope.token)
        raise HandoverRefused(f"another handover of {tenant}'s key was recorded at the same moment: this one was "
                              "cancelled (its token spent unread); run the download again to see the record") from None
    except BaseException:
        wrapping.discard(client, envelope.token)
        raise
    return IssuedKey(envelope, handover, previous, written)


def receive_tenant_key(client: VaultClient, token: Secret | str, tenant_id: str) -> ReceivedKey:
    """The tenant side: open the envelope, then unwrap the key it holds. Needs no credential but the token.

    Raises ``WrappingTokenInvalid`` when the token was already used or expired (or is not a key handover of this
    tenant), ``HandoverRefused`` when the handed-over version holds no private key (revoked)."""
    tenant = validate.tenant_id(tenant_id)
    envelope = wrapping.open_envelope(client, token, kind=KIND)
    if envelope.tenant != tenant or envelope.secret != paths.tenant_ssh(tenant).logical:
        raise WrappingTokenInvalid(f"this token holds the key of tenant {envelope.tenant!r}, not {tenant!r}: it was "
                                   "opened and cannot be used again")
    data, version = wrapping.unwrap_kv(client, envelope.inner)
    if "private_key" not in data:
        raise HandoverRefused(f"{envelope.secret} v{version} holds no private key (revoked): ask for the "
                              "regenerated key")
    private = Secret(str(data["private_key"]))
    REDACTOR.register(private)
    return ReceivedKey(tenant, envelope.secret, version, envelope.accessor, private,
                       str(data.get("public_key", "")), str(data.get("fingerprint", "")))
