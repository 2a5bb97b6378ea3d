"""What is due: plain, clock-driven logic over a tenant's key ages (``fleet.key_age``) and day-2 windows.

Key ages and policies are ``fleet.key_age``'s (the same numbers `status` shows). Open windows come from the tenant's
day-2 intent (``fleet.intent``): SSH grace keys (``until``), retired DKIM selectors (``remove_after``) and a revoked
tenant key waiting for ``regenerate``.

``due_items`` is pure: snapshot in, list of ``DueItem`` out. Reading the snapshots is ``read_snapshot``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from fleet import intent
from fleet.key_age import KINDS, UPCOMING, AgeState, KeyAge, read_key_ages
from fleet.key_age import SSH_KINDS as SSH_KINDS
from fleet.key_age import Kind as Kind
from toolkit.clock import parse_instant
from toolkit.errors import ValidationError
from toolkit.tenant_config import TenantConfig
from vault import paths
from vault.client import VaultClient


class Action(StrEnum):
    ROTATE = "rotate"
    FINISH = "finish"  # a grace/overlap window is over: remove the old key / record
    REGENERATE = "regenerate"  # a revoked SSH key has no replacement yet


def ssh_kind(name: str) -> paths.SshKeyKind:
    """``admin``/``tenant`` (or ``admin_ssh``/``tenant_ssh``) -> the Vault key kind."""
    text = str(name).strip().lower().removesuffix("_ssh")
    if text not in ("admin", "tenant"):
        raise ValidationError("kind", f"{name!r} must be admin or tenant")
    return paths.SshKeyKind(f"{text}_ssh")


@dataclass(frozen=True)
class RetiredSelector:
    selector: str
    remove_after: dt.datetime


@dataclass(frozen=True)
class TenantSnapshot:
    tenant: str
    domain: str
    dkim_selector: str
    keys: dict[Kind, KeyAge] = field(default_factory=dict)
    retired: tuple[RetiredSelector, ...] = ()
    grace: dict[Kind, tuple[dt.datetime, ...]] = field(default_factory=dict)
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


def _key_item(tenant: str, age: KeyAge, now: dt.datetime) -> DueItem:
    if age.state(now) is AgeState.REVOKED:
        return DueItem(tenant, age.kind, Action.REGENERATE, now, f"{age.path}: revoked, no new key yet")
    if age.rotated_at is None:
        return DueItem(tenant, age.kind, Action.ROTATE, now, f"{age.path}: {age.problem}")
    version = f" v{age.version}" if age.version else ""
    return DueItem(tenant, age.kind, Action.ROTATE, age.due_at(now), f"{age.path}{version}: last rotated "
                   f"{_days(now - age.rotated_at)} ago, policy {age.period_days} days")


def tenant_items(snapshot: TenantSnapshot, now: dt.datetime) -> list[DueItem]:
    """Every scheduled event of one tenant (due or not): rotations, window ends, regenerations."""
    items: list[DueItem] = []
    tenant = snapshot.tenant
    for kind in KINDS:
        age = snapshot.keys.get(kind)
        if age is None:
            continue
        for until in snapshot.grace.get(kind, ()):
            items.append(DueItem(tenant, kind, Action.FINISH, until,
                                 f"{age.path}: previous key authorized until {until:%Y-%m-%d %H:%M}Z"))
        items.append(_key_item(tenant, age, now))
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
def snapshot_of(client: VaultClient, config: TenantConfig, current: intent.TenantIntent | None) -> TenantSnapshot:
    """The rotation-relevant state of one tenant from its (already read) intent: key ages (``fleet.key_age``) and
    open windows. No intent: the tenant was never deployed, which is noted."""
    if current is None:
        return TenantSnapshot(config.tenant_id, config.domain, config.dkim_selector,
                              missing=(paths.intent(config.tenant_id).logical,))
    keys, missing = read_key_ages(client, current, config.domain)
    retired = tuple(RetiredSelector(r.selector, parse_instant(r.remove_after, "remove_after"))
                    for r in current.dkim.retired)
    grace = {kind: tuple(parse_instant(g.until, "until") for g in current.ssh(key_kind).grace)
             for kind, key_kind in SSH_KINDS.items()}
    return TenantSnapshot(config.tenant_id, config.domain, current.dkim.selector, keys, retired, grace, missing)


def read_snapshot(client: VaultClient, config: TenantConfig) -> TenantSnapshot:
    """The rotation-relevant state of one tenant: its intent, then (only when the intent does not record every
    key's age) 4 KV reads."""
    return snapshot_of(client, config, intent.load(client, config.tenant_id))
