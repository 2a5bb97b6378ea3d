"""Rotation policy and what is due: plain, clock-driven logic over the rotation fields stored in Vault.

Policies (requirements sections 2, 3, 5): SSH keys every 90 days (the secret's ``rotation_policy``, 30..365),
the Mailu admin password every 180 days, DKIM keys every 365 days. A key's age counts from ``last_rotated``
(else ``created_at``, else the KV version's ``created_time``).

Open windows come from the tenant's day-2 intent (``fleet.intent``): SSH grace keys (``until``), retired DKIM
selectors (``remove_after``) and a revoked tenant key waiting for ``regenerate``.

``due_items`` is pure: snapshot in, list of ``DueItem`` out. Reading the snapshots is ``read_snapshot``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from fleet import intent
from fleet.clock import parse_instant
from toolkit.errors import ConfigError, ToolkitError, ValidationError
from toolkit.tenant_config import TenantConfig
from vault import kv, paths
from vault.client import VaultClient
from vault.errors import SecretNotFound

SSH_DAYS_DEFAULT = 90
SSH_DAYS_RANGE = (30, 365)
SMTP_DAYS = 180
DKIM_DAYS = 365
SSH_GRACE = dt.timedelta(hours=24)
DKIM_OVERLAP = dt.timedelta(hours=48)
UPCOMING = dt.timedelta(days=7)
"""Monitoring hook: "rotation due within 7 days" is reported, not acted on."""
PRIVATE_FIELDS = frozenset({"private_key", "encrypted_password"})
_POLICY = re.compile(r"^(\d{1,3})_days$")


class RotationError(ToolkitError):
    """A rotation step failed or was refused; the message says which and what state things are in."""


class Kind(StrEnum):
    SSH_ADMIN = "ssh-admin"
    SSH_TENANT = "ssh-tenant"
    SMTP = "smtp"
    DKIM = "dkim"


class Action(StrEnum):
    ROTATE = "rotate"
    FINISH = "finish"  # a grace/overlap window is over: remove the old key / record
    REGENERATE = "regenerate"  # a revoked SSH key has no replacement yet


_SINCE_NAMES = {Kind.SSH_ADMIN: "admin_ssh", Kind.SSH_TENANT: "tenant_ssh", Kind.SMTP: "smtp_admin",
                Kind.DKIM: "dkim"}
SSH_KINDS: dict[Kind, paths.SshKeyKind] = {Kind.SSH_ADMIN: paths.SshKeyKind.ADMIN,
                                           Kind.SSH_TENANT: paths.SshKeyKind.TENANT}


def ssh_kind(name: str) -> paths.SshKeyKind:
    """``admin``/``tenant`` (or ``admin_ssh``/``tenant_ssh``) -> the Vault key kind."""
    text = str(name).strip().lower().removesuffix("_ssh")
    if text not in ("admin", "tenant"):
        raise ValidationError("kind", f"{name!r} must be admin or tenant")
    return paths.SshKeyKind(f"{text}_ssh")


def ssh_policy_days(value: object, default: int = SSH_DAYS_DEFAULT) -> int:
    """Days of an SSH ``rotation_policy`` (``"90_days"`` or an int), checked against 30..365."""
    if value in (None, ""):
        return default
    if isinstance(value, int):
        days = value
    else:
        match = _POLICY.fullmatch(str(value))
        if not match:
            raise ConfigError("rotation_policy", f"{value!r} must look like '90_days'")
        days = int(match.group(1))
    low, high = SSH_DAYS_RANGE
    if not low <= days <= high:
        raise ConfigError("rotation_policy", f"{days} days is outside {low}..{high}")
    return days


@dataclass(frozen=True)
class SecretSnapshot:
    """The non-secret fields of one rotated secret's current version (private fields are dropped on read)."""

    kind: Kind
    path: str
    version: int
    data: Mapping[str, Any]
    created_time: str = ""

    def instant(self, key: str) -> dt.datetime | None:
        value = self.data.get(key)
        return parse_instant(str(value), key) if value else None

    @property
    def rotated_at(self) -> dt.datetime | None:
        for key in ("last_rotated", "created_at"):
            value = self.instant(key)
            if value is not None:
                return value
        return parse_instant(self.created_time[:19] + "Z", "created_time") if self.created_time else None


@dataclass(frozen=True)
class RetiredSelector:
    selector: str
    remove_after: dt.datetime


@dataclass(frozen=True)
class TenantSnapshot:
    tenant: str
    domain: str
    dkim_selector: str
    secrets: dict[Kind, SecretSnapshot] = field(default_factory=dict)
    retired: tuple[RetiredSelector, ...] = ()
    grace: dict[Kind, tuple[dt.datetime, ...]] = field(default_factory=dict)
    revoked: tuple[Kind, ...] = ()
    missing: tuple[str, ...] = ()
    """Vault paths that do not exist (tenant not provisioned yet): reported, not rotated."""


@dataclass(frozen=True)
class DueItem:
    tenant: str
    kind: Kind
    action: Action
    due_at: dt.datetime
    reason: str
    selector: str = ""  # DKIM finish: the retired selector

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.tenant, self.kind.value, self.action.value, self.selector)


@dataclass(frozen=True)
class DuePlan:
    due: list[DueItem]
    upcoming: list[DueItem]
    waiting: list[DueItem]
    """Open windows not over yet (grace / overlap), with the instant they end."""
    notes: list[str]


def _days(delta: dt.timedelta) -> str:
    return f"{delta.total_seconds() / 86_400:.1f} d"


def _age_item(tenant: str, snap: SecretSnapshot, days: int, now: dt.datetime) -> DueItem:
    rotated = snap.rotated_at
    if rotated is None:
        return DueItem(tenant, snap.kind, Action.ROTATE, now, f"{snap.path}: no rotation date recorded")
    due_at = rotated + dt.timedelta(days=days)
    return DueItem(tenant, snap.kind, Action.ROTATE, due_at,
                   f"{snap.path} v{snap.version}: last rotated {_days(now - rotated)} ago, policy {days} days")


def tenant_items(snapshot: TenantSnapshot, now: dt.datetime) -> list[DueItem]:
    """Every scheduled event of one tenant (due or not): rotations, window ends, regenerations."""
    items: list[DueItem] = []
    tenant = snapshot.tenant
    for kind in (Kind.SSH_ADMIN, Kind.SSH_TENANT):
        snap = snapshot.secrets.get(kind)
        if snap is None:
            continue
        for until in snapshot.grace.get(kind, ()):
            items.append(DueItem(tenant, kind, Action.FINISH, until,
                                 f"{snap.path}: previous key authorized until {until:%Y-%m-%d %H:%M}Z"))
        if kind in snapshot.revoked:
            items.append(DueItem(tenant, kind, Action.REGENERATE, now, f"{snap.path}: revoked, no new key yet"))
        else:
            items.append(_age_item(tenant, snap, ssh_policy_days(snap.data.get("rotation_policy")), now))
    smtp = snapshot.secrets.get(Kind.SMTP)
    if smtp is not None:
        items.append(_age_item(tenant, smtp, SMTP_DAYS, now))
    dkim = snapshot.secrets.get(Kind.DKIM)
    if dkim is not None:
        items.append(_age_item(tenant, dkim, DKIM_DAYS, now))
    for retired in snapshot.retired:
        items.append(DueItem(tenant, Kind.DKIM, Action.FINISH, retired.remove_after,
                             f"selector {retired.selector} published until {retired.remove_after:%Y-%m-%d %H:%M}Z",
                             selector=retired.selector))
    return items


def due_items(snapshots: Iterable[TenantSnapshot], now: dt.datetime, *, upcoming: dt.timedelta = UPCOMING) -> DuePlan:
    """Split every tenant's events into due now, upcoming (within ``upcoming``) and open windows."""
    due: list[DueItem] = []
    soon: list[DueItem] = []
    waiting: list[DueItem] = []
    notes: list[str] = []
    for snapshot in snapshots:
        notes += [f"{snapshot.tenant}: {path} not found in Vault (not provisioned?)" for path in snapshot.missing]
        for item in tenant_items(snapshot, now):
            if item.due_at <= now:
                due.append(item)
            elif item.action is Action.FINISH:
                waiting.append(item)
            elif item.due_at <= now + upcoming:
                soon.append(item)
    order = {Action.REGENERATE: 0, Action.FINISH: 1, Action.ROTATE: 2}
    due.sort(key=lambda i: (i.tenant, order[i.action], i.kind.value))
    soon.sort(key=lambda i: i.due_at)
    waiting.sort(key=lambda i: i.due_at)
    return DuePlan(due, soon, waiting, notes)


# --------------------------------------------------------------------------------------------- reading Vault
def public_fields(data: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k not in PRIVATE_FIELDS}


def read_secret(client: VaultClient, kind: Kind, path: paths.SecretPath) -> SecretSnapshot:
    record = kv.read(client, path)
    return SecretSnapshot(kind, path.logical, record.version, public_fields(record.data), record.created_time)


def read_snapshot(client: VaultClient, config: TenantConfig) -> TenantSnapshot:
    """The rotation-relevant state of one tenant: its intent, then 4 KV reads (admin/tenant SSH, SMTP, DKIM)."""
    current = intent.load(client, config.tenant_id)
    if current is None:
        return TenantSnapshot(config.tenant_id, config.domain, config.dkim_selector,
                              missing=(paths.intent(config.tenant_id).logical,))
    secrets: dict[Kind, SecretSnapshot] = {}
    missing: list[str] = []
    retired = tuple(RetiredSelector(r.selector, parse_instant(r.remove_after, "remove_after"))
                    for r in current.dkim.retired)
    grace = {kind: tuple(parse_instant(g.until, "until") for g in current.ssh(key_kind).grace)
             for kind, key_kind in SSH_KINDS.items()}
    revoked = (Kind.SSH_TENANT,) if current.tenant_ssh.revoked else ()
    if all(name in current.since for name in _SINCE_NAMES.values()):  # one read: ages recorded in the intent
        for kind, name in _SINCE_NAMES.items():
            policy = {"rotation_policy": f"{current.ssh(SSH_KINDS[kind]).rotation_days}_days"} \
                if kind in SSH_KINDS else {}
            secrets[kind] = SecretSnapshot(kind, f"{paths.intent(config.tenant_id).logical}#{name}", 0,
                                           {"last_rotated": current.since[name], **policy})
        return TenantSnapshot(config.tenant_id, config.domain, current.dkim.selector, secrets, retired, grace,
                              revoked)
    wanted: list[tuple[Kind, paths.SecretPath]] = [
        (Kind.SSH_ADMIN, paths.admin_ssh(config.tenant_id)), (Kind.SSH_TENANT, paths.tenant_ssh(config.tenant_id)),
        (Kind.SMTP, paths.smtp_admin(config.tenant_id)), (Kind.DKIM, paths.dkim(config.domain, current.dkim.selector)),
    ]
    for kind, path in wanted:
        try:
            secrets[kind] = read_secret(client, kind, path)
        except SecretNotFound:
            missing.append(path.logical)
    return TenantSnapshot(config.tenant_id, config.domain, current.dkim.selector, secrets, retired, grace, revoked,
                          tuple(missing))
