"""Key ages and next rotations: the one computation behind `rotate.due` (what to rotate now) and `status` (how old
each key is and when it is next due).

Policies (requirements sections 2, 3, 5), from the tenant's day-2 intent (``fleet.intent``): the SSH keys' period
is ``SshIntent.rotation_days`` (30..365, default 90, checked when the intent is read); the Mailu admin password is
rotated every 180 days and DKIM keys every 365 days. A ``rotation_policy`` field stored with a secret in Vault is
informational: the intent is the source.

A key's age counts from when its current version went into service: the intent's ``since`` when it records all
four keys (one read per tenant), else the secret's ``last_rotated``, else ``created_at``, else the KV version's
``created_time``. The first stamp present decides. Stamps are ISO 8601 (Vault's nanoseconds allowed); one without
a zone is UTC (the toolkit writes only UTC); one that cannot be read is reported and the key counts as due (its
rotation writes a fresh stamp).

At ``now``: ``due`` once the next rotation is at or before ``now`` (also when the date is unknown), ``soon``
within ``UPCOMING`` (7 days: reported, not acted on), else ``ok``; a revoked SSH key with no replacement yet is
``revoked`` (its regeneration is due now).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from fleet.intent import TenantIntent
from vault import kv, paths
from vault.client import VaultClient
from vault.errors import SecretNotFound

SSH_DAYS_DEFAULT = 90
SMTP_DAYS = 180
DKIM_DAYS = 365
UPCOMING = dt.timedelta(days=7)


class Kind(StrEnum):
    SSH_ADMIN = "ssh-admin"
    SSH_TENANT = "ssh-tenant"
    SMTP = "smtp"
    DKIM = "dkim"


class AgeState(StrEnum):
    OK = "ok"
    SOON = "soon"
    DUE = "due"
    REVOKED = "revoked"


KINDS: tuple[Kind, ...] = (Kind.SSH_ADMIN, Kind.SSH_TENANT, Kind.SMTP, Kind.DKIM)
SSH_KINDS: dict[Kind, paths.SshKeyKind] = {Kind.SSH_ADMIN: paths.SshKeyKind.ADMIN,
                                           Kind.SSH_TENANT: paths.SshKeyKind.TENANT}
SINCE_NAMES: dict[Kind, str] = {Kind.SSH_ADMIN: "admin_ssh", Kind.SSH_TENANT: "tenant_ssh", Kind.SMTP: "smtp_admin",
                                Kind.DKIM: "dkim"}
"""The names under which the intent's ``since`` records each key."""


@dataclass(frozen=True)
class KeyAge:
    """One key's rotation clock: when its current version went into service, and its period."""

    kind: Kind
    path: str
    """The secret's Vault path (``vps/acme/admin_ssh``)."""
    period_days: int
    rotated_at: dt.datetime | None
    version: int = 0
    """The KV version the age was read from; 0 when it came from the intent."""
    problem: str = ""
    """Why ``rotated_at`` is unknown."""
    revoked: bool = False

    def due_at(self, now: dt.datetime) -> dt.datetime:
        """The next rotation; ``now`` when the key is revoked or its age is unknown."""
        if self.revoked or self.rotated_at is None:
            return now
        return self.rotated_at + dt.timedelta(days=self.period_days)

    def state(self, now: dt.datetime, upcoming: dt.timedelta = UPCOMING) -> AgeState:
        if self.revoked:
            return AgeState.REVOKED
        due = self.due_at(now)
        if due <= now:
            return AgeState.DUE
        return AgeState.SOON if due <= now + upcoming else AgeState.OK


def period_days(kind: Kind, intent: TenantIntent) -> int:
    """The rotation period of ``kind``: the intent's for SSH keys, the fixed ones for SMTP and DKIM."""
    if kind in SSH_KINDS:
        return intent.ssh(SSH_KINDS[kind]).rotation_days
    return SMTP_DAYS if kind is Kind.SMTP else DKIM_DAYS


def stamp(value: str) -> dt.datetime | None:
    """A stored ISO 8601 instant as aware UTC (no zone: UTC); None when it is not one."""
    try:
        moment = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def key_age(kind: Kind, path: str, days: int, stamps: Mapping[str, Any], *, version: int = 0,
            revoked: bool = False) -> KeyAge:
    """The age from the first stamp present in ``stamps`` (field -> value, in the order to try)."""
    for field, value in stamps.items():
        if value in (None, ""):
            continue
        moment = stamp(str(value))
        problem = "" if moment is not None else f"{field} {str(value)[:40]!r} is not an ISO 8601 instant"
        return KeyAge(kind, path, days, moment, version, problem, revoked)
    return KeyAge(kind, path, days, None, version, "no rotation date recorded", revoked)


def secret_paths(tenant: str, domain: str, selector: str) -> dict[Kind, paths.SecretPath]:
    return {Kind.SSH_ADMIN: paths.admin_ssh(tenant), Kind.SSH_TENANT: paths.tenant_ssh(tenant),
            Kind.SMTP: paths.smtp_admin(tenant), Kind.DKIM: paths.dkim(domain, selector)}


def read_key_ages(client: VaultClient, intent: TenantIntent, domain: str) -> tuple[dict[Kind, KeyAge], tuple[str, ...]]:
    """Every key's age (and the Vault paths of keys that do not exist): from the intent alone when its ``since``
    records all four, else one KV read per key (the private fields are read by KV and dropped here)."""
    wanted = secret_paths(intent.tenant, domain, intent.dkim.selector)
    revoked = {kind: intent.ssh(ssh).revoked for kind, ssh in SSH_KINDS.items()}
    if all(name in intent.since for name in SINCE_NAMES.values()):
        return {kind: key_age(kind, path.logical, period_days(kind, intent), {"since": intent.since[SINCE_NAMES[kind]]},
                              revoked=revoked.get(kind, False)) for kind, path in wanted.items()}, ()
    ages: dict[Kind, KeyAge] = {}
    missing: list[str] = []
    for kind, path in wanted.items():
        try:
            secret = kv.read(client, path)
        except SecretNotFound:
            missing.append(path.logical)
            continue
        stamps = {"last_rotated": secret.data.get("last_rotated"), "created_at": secret.data.get("created_at"),
                  "created_time": secret.created_time}
        ages[kind] = key_age(kind, path.logical, period_days(kind, intent), stamps, version=secret.version,
                             revoked=revoked.get(kind, False))
    return ages, tuple(missing)
