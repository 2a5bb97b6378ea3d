"""Day-2 intent of one tenant: what rotation, revocation and migration want, stored in Vault, carried out by the engine.

The stack file (``stacks/Pulumi.<tenant>.yaml``) is the operator's configuration; this record is the day-2 state on
top of it: key generations, SSH grace windows, the DKIM selector in service with the retired and burned ones, the VPS
generation of a migration. Day-2 tasks change only this record (check-and-set) and then run ``pulumi up``; the
program reads it, so ``pulumi up`` alone rebuilds the intended world and a deploy from ``main`` never undoes a
rotation. Time never enters the program: a task decides, with its clock, that a window has ended and records it.

The record lives at ``vps/<tenant>/intent``: the system side writes it, a tenant can neither read nor write it.
"""

from __future__ import annotations

import datetime as dt
import secrets
import string
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from dnsrecords.dmarc import STAGES
from toolkit import validate
from toolkit.errors import ToolkitError, ValidationError
from toolkit.tenant_config import MigrationSettings, TenantConfig
from vault import kv, paths
from vault.client import VaultClient
from vault.errors import CasConflict, SecretNotFound

RECORD_VERSION = 1
SECRET_NAMES = ("admin_ssh", "tenant_ssh", "smtp_admin", "mailu_secret_key", "dkim")
"""The secrets of a tenant, named as the stack's ``vault`` output names them."""
_CAS_ATTEMPTS = 5


class IntentError(ToolkitError):
    """The intent record is malformed, or a change to it was refused."""


@dataclass(frozen=True)
class GraceKey:
    """An earlier SSH key that stays authorized until ``until`` (a task removes it once that instant passed)."""

    public_key: str
    fingerprint: str
    vault_version: int
    until: str


@dataclass(frozen=True)
class SshIntent:
    generation: int = 1
    """Each new generation is a new key (version) in Vault, made by the engine."""
    grace: tuple[GraceKey, ...] = ()
    revoked: bool = False
    """Tenant key revoked and not regenerated yet: no tenant key is authorized."""
    connect_versions: tuple[int, ...] = ()
    """Earlier Vault versions of the admin key that may still open root (tried after the current one)."""
    rotation_days: int = 90
    """The key's rotation policy (30..365 days)."""

    @property
    def trigger(self) -> str:
        """The key resource's ``rotation_trigger``: empty for the first generation (stacks made before intent)."""
        return "" if self.generation == 1 else f"generation-{self.generation}"


@dataclass(frozen=True)
class RetiredDkim:
    """A selector no longer signing whose TXT record stays published until a task ends its overlap."""

    selector: str
    public_key: str
    remove_after: str


@dataclass(frozen=True)
class DkimIntent:
    selector: str
    nonce: str
    """Written into the key when the engine creates it: only a key with this nonce is ever taken over (resume)."""
    retired: tuple[RetiredDkim, ...] = ()
    burned: tuple[str, ...] = ()
    """Selectors whose key was exposed: never published again, marked ``compromised`` in Vault."""
    history: tuple[str, ...] = ()
    """Every selector this tenant ever used: none is used twice."""


@dataclass(frozen=True)
class DmarcIntent:
    """The DMARC policy stage in force and when each stage began (``rotate.due`` moves it: ``fleet.dmarc``)."""

    stage: str
    stack_stage: str
    """The stack's ``pm:dmarc_stage`` when the schedule (re)started: a later edit of that setting is the operator's
    decision and wins (``in_force``) until ``rotate.due`` restarts the schedule from it."""
    began: Mapping[str, str] = field(default_factory=dict)
    """When each stage was put in force (the latest time, for a stage entered twice)."""

    def in_force(self, stack_stage: str) -> str:
        return self.stage if stack_stage == self.stack_stage else stack_stage


@dataclass(frozen=True)
class SmtpEmergency:
    """The emergency reset that made SMTP generation ``generation``: its password is 48 bytes and the version it
    replaced is marked compromised with ``incident_id`` (the key resource's trigger carries it: ``vault.smtp``)."""

    generation: int
    incident_id: str
    started_at: str


@dataclass(frozen=True)
class PendingOp:
    """A task that wrote its intent and has not confirmed the outcome yet: a re-run resumes it, never repeats it."""

    op: str
    id: str
    started_at: str
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TenantIntent:
    tenant: str
    dkim: DkimIntent
    admin_ssh: SshIntent = SshIntent()
    tenant_ssh: SshIntent = SshIntent()
    smtp_generation: int = 1
    secret_key_generation: int = 1
    vps_generation: int | None = None
    copy_from: str | None = None
    pending: PendingOp | None = None
    since: Mapping[str, str] = field(default_factory=dict)
    """When each secret's current version was confirmed in service (``admin_ssh``, ``tenant_ssh``, ``smtp_admin``,
    ``mailu_secret_key``, ``dkim``): the ages `rotate.due` and `status` compute, with one read per tenant."""
    dmarc: DmarcIntent | None = None
    """None in records written before the DMARC schedule existed: the stack's stage is in force."""
    smtp_emergency: SmtpEmergency | None = None
    revision: int = 0
    """The Vault version this was read from (0: not stored yet); the next write checks it (CAS)."""

    def ssh(self, kind: paths.SshKeyKind) -> SshIntent:
        return self.admin_ssh if kind is paths.SshKeyKind.ADMIN else self.tenant_ssh

    def with_ssh(self, kind: paths.SshKeyKind, value: SshIntent) -> TenantIntent:
        return replace(self, admin_ssh=value) if kind is paths.SshKeyKind.ADMIN else replace(self, tenant_ssh=value)

    def to_data(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("revision")
        data["record_version"] = RECORD_VERSION
        return data


# --------------------------------------------------------------------------------------------- (de)serialising
def _int(data: Mapping[str, Any], key: str, default: int, low: int = 1) -> int:
    value = data.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise IntentError(f"intent field {key!r}: {value!r} is not an integer >= {low}")
    return value


def _ssh(data: Mapping[str, Any]) -> SshIntent:
    grace = tuple(GraceKey(str(g["public_key"]), str(g["fingerprint"]), int(g["vault_version"]), str(g["until"]))
                  for g in data.get("grace") or ())
    days = _int(data, "rotation_days", 90, low=30)
    if days > 365:
        raise IntentError(f"intent field 'rotation_days': {days} is outside 30..365")
    return SshIntent(_int(data, "generation", 1), grace, bool(data.get("revoked", False)),
                     tuple(int(v) for v in data.get("connect_versions") or ()), days)


def _dmarc(data: Mapping[str, Any] | None) -> DmarcIntent | None:
    if not data:
        return None
    stages = set(STAGES)
    dmarc = DmarcIntent(str(data["stage"]), str(data["stack_stage"]),
                        {str(k): str(v) for k, v in (data.get("began") or {}).items()})
    if dmarc.stage not in stages or dmarc.stack_stage not in stages or not set(dmarc.began) <= stages:
        raise ValueError(f"DMARC stages must be {', '.join(STAGES)}: {dict(data)!r}")
    return dmarc


def _emergency(data: Mapping[str, Any] | None) -> SmtpEmergency | None:
    if not data:
        return None
    return SmtpEmergency(_int(data, "generation", 1), validate.key_id(data["incident_id"], "incident_id"),
                         str(data["started_at"]))


def from_data(tenant: str, data: Mapping[str, Any], revision: int) -> TenantIntent:
    try:
        dkim = data["dkim"]
        pending = data.get("pending")
        return TenantIntent(
            tenant=tenant,
            dkim=DkimIntent(
                selector=str(dkim["selector"]), nonce=str(dkim["nonce"]),
                retired=tuple(RetiredDkim(str(r["selector"]), str(r["public_key"]), str(r["remove_after"]))
                              for r in dkim.get("retired") or ()),
                burned=tuple(str(s) for s in dkim.get("burned") or ()),
                history=tuple(str(s) for s in dkim.get("history") or ()),
            ),
            admin_ssh=_ssh(data.get("admin_ssh") or {}),
            tenant_ssh=_ssh(data.get("tenant_ssh") or {}),
            smtp_generation=_int(data, "smtp_generation", 1),
            secret_key_generation=_int(data, "secret_key_generation", 1),
            vps_generation=None if data.get("vps_generation") is None else _int(data, "vps_generation", 1),
            copy_from=str(data["copy_from"]) if data.get("copy_from") else None,
            pending=None if not pending else PendingOp(str(pending["op"]), str(pending["id"]),
                                                        str(pending["started_at"]), dict(pending.get("details") or {})),
            since={str(k): str(v) for k, v in (data.get("since") or {}).items()},
            dmarc=_dmarc(data.get("dmarc")),
            smtp_emergency=_emergency(data.get("smtp_emergency")),
            revision=revision,
        )
    except (KeyError, TypeError, ValueError, ValidationError) as exc:
        raise IntentError(f"the intent record of {tenant} is malformed ({type(exc).__name__}: {exc}); "
                          "an operator must repair vps/{tenant}/intent") from None


# ------------------------------------------------------------------------------------------------ selectors
def fresh_selector(day: dt.date, taken: set[str]) -> str:
    """A dated selector (``pmYYYYMMDD``, then ``b``, ``c``, ...) that was never used."""
    base = f"pm{day:%Y%m%d}"
    for suffix in ("", *string.ascii_lowercase[1:]):
        candidate = validate.dkim_selector(base + suffix, "selector")
        if candidate not in taken:
            return candidate
    raise IntentError(f"no free DKIM selector left for {day:%Y-%m-%d} ({base}..{base}z are all taken)")


def selectors_in_vault(client: VaultClient, domain: str) -> set[str]:
    """Every selector Vault holds any history for under ``dkim/<domain>/`` (deleted versions included)."""
    return {name.rstrip("/") for name in kv.list_keys(client, paths.DKIM_MOUNT, validate.domain(domain))}


def taken_selectors(client: VaultClient, domain: str, intent: TenantIntent | None) -> set[str]:
    taken = selectors_in_vault(client, domain)
    if intent is not None:
        taken |= {intent.dkim.selector, *intent.dkim.history, *intent.dkim.burned,
                  *(r.selector for r in intent.dkim.retired)}
    return taken


# ---------------------------------------------------------------------------------------------- Vault access
def load(client: VaultClient, tenant: str) -> TenantIntent | None:
    try:
        record = kv.read(client, paths.intent(tenant))
    except SecretNotFound:
        return None
    return from_data(tenant, record.data, record.version)


def save(client: VaultClient, intent: TenantIntent) -> TenantIntent:
    """Write ``intent`` over the version it was read from (CAS): a concurrent change makes this fail."""
    version = kv.write(client, paths.intent(intent.tenant), intent.to_data(), cas=intent.revision)
    return replace(intent, revision=version)


def initial(config: TenantConfig, taken: set[str], today: dt.date) -> TenantIntent:
    """Day 0: the stack's ``dkim_selector`` if it was never used, else a fresh dated one."""
    wanted = config.dkim_selector
    selector = wanted if wanted and wanted not in taken else fresh_selector(today, taken)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return TenantIntent(config.tenant_id, DkimIntent(selector, secrets.token_hex(8), history=(selector,)),
                        since=dict.fromkeys(SECRET_NAMES, stamp), dmarc=first_dmarc(config, stamp))


def first_dmarc(config: TenantConfig, stamp: str) -> DmarcIntent:
    """A new domain's DMARC schedule: the stack's stage (``none`` by default), in force from ``stamp``."""
    return DmarcIntent(config.dmarc_stage, config.dmarc_stage, {config.dmarc_stage: stamp})


def archived(intent: TenantIntent) -> TenantIntent:
    """After ``pulumi destroy`` (secrets kept): a stack created again later starts with fresh keys and a fresh
    selector; the history of selectors and burned ones stays, so nothing is ever used twice."""
    def fresh(ssh: SshIntent) -> SshIntent:
        return SshIntent(generation=ssh.generation + 1, rotation_days=ssh.rotation_days)
    return replace(intent, admin_ssh=fresh(intent.admin_ssh), tenant_ssh=fresh(intent.tenant_ssh),
                   smtp_generation=intent.smtp_generation + 1, secret_key_generation=intent.secret_key_generation + 1,
                   dkim=replace(intent.dkim, selector="", nonce="", retired=()), vps_generation=None,
                   copy_from=None, pending=None, dmarc=None)


def ensure(client: VaultClient, config: TenantConfig, *, write: bool, today: dt.date) -> TenantIntent:
    """The intent the program builds from: stored, else the day-0 one (stored first when ``write``: an ``up``).
    An archived intent (its stack was destroyed) gets a fresh selector the same way."""
    for _ in range(_CAS_ATTEMPTS):
        current = load(client, config.tenant_id)
        if current is not None and current.dkim.selector:
            return current
        if current is not None:
            selector = fresh_selector(today, taken_selectors(client, config.domain, current))
            revived = replace(current, dkim=replace(current.dkim, selector=selector, nonce=secrets.token_hex(8),
                                                    history=(*current.dkim.history, selector)),
                              dmarc=current.dmarc or first_dmarc(
                                  config, dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")))
            if not write:
                return revived
            try:
                return save(client, revived)
            except CasConflict:
                continue
        fresh = initial(config, taken_selectors(client, config.domain, None), today)
        if not write:
            return fresh
        try:
            return save(client, fresh)
        except CasConflict:
            continue  # another run stored it first: use theirs
    raise IntentError(f"could not store the intent of {config.tenant_id}: concurrent writers")


def change(client: VaultClient, tenant: str, edit: Callable[[TenantIntent], TenantIntent]) -> TenantIntent:
    """Read, edit, write with CAS (retried on a concurrent change). The tenant must have been deployed."""
    for _ in range(_CAS_ATTEMPTS):
        current = load(client, tenant)
        if current is None:
            raise IntentError(f"{tenant} has no intent record: deploy it first (`pulumi up --stack {tenant}`)")
        updated = edit(current)
        if updated == current:
            return current
        try:
            return save(client, updated)
        except CasConflict:
            continue
    raise IntentError(f"could not change the intent of {tenant}: concurrent writers")


def apply(config: TenantConfig, intent: TenantIntent) -> TenantConfig:
    """The configuration the program deploys: the stack's, with the day-2 values of the intent in force."""
    update: dict[str, Any] = {"dkim_selector": intent.dkim.selector,
                              "dmarc_stage": intent.dmarc.in_force(config.dmarc_stage) if intent.dmarc
                              else config.dmarc_stage,
                              "migration": MigrationSettings(copy_from=intent.copy_from) if intent.copy_from else None}
    if intent.vps_generation is not None:
        update["hostwinds"] = config.hostwinds.model_copy(update={"vps_generation": intent.vps_generation})
    return config.model_copy(update=update)


def open_grace(keys: Sequence[GraceKey], now: dt.datetime) -> tuple[GraceKey, ...]:
    """The grace keys whose window has not ended at ``now``."""
    return tuple(g for g in keys if dt.datetime.fromisoformat(g.until.replace("Z", "+00:00")) > now)


def for_program(config: TenantConfig, *, dry_run: bool) -> TenantIntent:
    """The intent the Pulumi program deploys (Vault credentials from the environment of ``pulumi``)."""
    with VaultClient.from_env() as client:
        return ensure(client, config, write=not dry_run, today=dt.datetime.now(dt.UTC).date())
