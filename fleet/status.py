"""Status report of tenants and the fleet: VPS, key ages, backups, DNS drift, Vault health, TLS certificate.

Each tenant gets one ``Cell`` per column. A cell is computed by a *probe* (``PROBES``: one row per column) from
what was read once for the tenant (``TenantView``: stack outputs, Vault, the day-2 intent) and what it reads itself
through ``Sources`` (``fleet.status_sources``); a probe that fails yields an ``unknown`` cell naming the error,
never a crash, so one broken system does not hide the others. Thresholds are plain functions of a value and
``now`` (``fleet.status_cells``, ``fleet.status_cert``); the model and roll-up are ``fleet.status_model``.

A new column is a probe here (a function of ``TenantView``) plus its row in ``PROBES``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from fleet import intent
from fleet.dmarc import schedule as dmarc_schedule
from fleet.intent import TenantIntent
from fleet.key_age import KINDS, SINCE_NAMES
from fleet.status_cells import KEY_NAMES, backup_cell, dns_cell, keys_cell, no_intent_cell, vault_cell, vps_cell
from fleet.status_cert import CERT_PATH, certificate_cell, parse_certificate
from fleet.status_model import Cell, FleetStatus, Severity, StatusError, TenantStatus
from fleet.status_sources import LiveSources, Sources, StatusSettings
from hostwinds.models import by_label, with_serviceid
from toolkit import stack_batch
from toolkit.clock import SYSTEM_CLOCK, Clock, FrozenClock, iso
from toolkit.redact import scrub
from toolkit.tenant_config import TenantConfig
from vault import paths
from vault.backup.freshness import assess
from vault.client import VaultClient
from vault.errors import VaultError

__all__ = ["COLUMNS", "PROBES", "Cell", "FleetStatus", "LiveSources", "Severity", "Sources", "StatusError",
           "StatusSettings", "TenantStatus", "TenantView", "collect", "guarded", "tenant_ids"]

T = TypeVar("T")


@dataclass
class TenantView:
    """What one tenant's probes share, read once before they run. The VPS probe runs first and refines
    ``serviceid`` and ``ip`` for the probes after it."""

    config: TenantConfig
    """The deployed configuration: the stack file with its day-2 intent (selector, VPS generation)."""
    sources: Sources
    now: datetime
    cert_path: str = CERT_PATH
    outputs: Mapping[str, Any] = field(default_factory=dict)
    outputs_error: str = ""
    vault: VaultClient | None = None
    vault_error: str = ""
    intent: TenantIntent | None = None
    intent_error: str = ""
    serviceid: str = ""
    ip: str = ""
    stack_dmarc_stage: str = ""
    """The stack file's ``pm:dmarc_stage`` (``config`` holds the stage in force)."""

    def require_vault(self, why: str = "Vault: {error}") -> VaultClient:
        if self.vault is None:
            raise StatusError(why.format(error=self.vault_error))
        return self.vault


def _try(fn: Callable[[], T], default: T) -> tuple[T, str]:
    """(value, "") or (default, error text): for inputs several probes share."""
    try:
        return fn(), ""
    except Exception as exc:
        return default, f"{type(exc).__name__}: {scrub(str(exc))[:300]}"


def read_view(config: TenantConfig, sources: Sources, now: datetime, cert_path: str = CERT_PATH) -> TenantView:
    view = TenantView(config, sources, now, cert_path, stack_dmarc_stage=config.dmarc_stage)
    no_outputs: dict[str, Any] = {}
    view.outputs, view.outputs_error = _try(lambda: dict(sources.stack_outputs(config.tenant_id)), no_outputs)
    view.serviceid = str(view.outputs.get("serviceid") or "")
    view.ip = str(view.outputs.get("main_ip") or "")
    view.vault, view.vault_error = _try(sources.vault, None)
    if view.vault is not None:
        vault = view.vault
        view.intent, view.intent_error = _try(lambda: sources.intent(config.tenant_id, vault), None)
    if view.intent is not None:
        view.config = intent.apply(config, view.intent)
    return view


# ============================================================================================ probes
def vps_probe(view: TenantView) -> Cell:
    config = view.config
    found = view.sources.instances(config)
    if view.serviceid:
        source = "stack outputs"
        instance = with_serviceid(found, view.serviceid)
    else:
        source = "label lookup" + (f" (no stack outputs: {view.outputs_error})" if view.outputs_error else
                                   " (stack has no outputs)" if not view.outputs else "")
        instance = by_label(found, config.vps_label)
    cell = vps_cell(instance, label=config.vps_label, expected_ip=view.ip, source=source)
    if instance is not None:
        view.serviceid = instance.serviceid
        view.ip = instance.main_ip or view.ip
    return cell


def keys_probe(view: TenantView) -> Cell:
    """Key ages as `rotate.due` computes them (``fleet.key_age``); versions from the stack outputs when the
    ages come from the intent."""
    vault = view.require_vault()
    if view.intent is None:
        if view.intent_error:
            raise StatusError(f"day-2 intent: {view.intent_error}")
        return no_intent_cell(paths.intent(view.config.tenant_id).logical)
    ages, _missing = view.sources.key_ages(view.config, view.intent, vault)
    refs = view.outputs.get("vault")
    versions = {str(name): ref.get("version") for name, ref in refs.items() if isinstance(ref, Mapping)} \
        if isinstance(refs, Mapping) else {}
    shown = [replace(age, version=age.version or int(versions.get(SINCE_NAMES[age.kind]) or 0))
             for age in ages.values()]
    return keys_cell(shown, [KEY_NAMES[kind] for kind in KINDS if kind not in ages], view.now)


def backup_probe(view: TenantView) -> Cell:
    stamps, where = view.sources.backups()
    return backup_cell(assess(stamps, FrozenClock(view.now)), len(stamps), where)


def dns_probe(view: TenantView) -> Cell:
    """The records at the authoritative servers, and where the DMARC rollout stands (``fleet.dmarc``)."""
    cell = _dns_records(view)
    if view.intent is None:
        return cell
    stack = view.config.model_copy(update={"dmarc_stage": view.stack_dmarc_stage or view.config.dmarc_stage})
    where = dmarc_schedule(stack, view.intent)
    dmarc = {"stage": where.stage, "since": iso(where.since) if where.since else None, "next_stage": where.next_stage,
             "next_at": iso(where.next_at) if where.next_at else None, "held": where.held}
    return Cell(cell.severity, f"{cell.summary}; DMARC {where.describe()}", {**cell.details, "dmarc": dmarc})


def _dns_records(view: TenantView) -> Cell:
    if not view.ip:
        raise StatusError("the VPS IP is unknown (no stack outputs and no instance found)")
    sources, config = view.sources, view.config
    try:
        return dns_cell(sources.verify_dns(config, view.ip, view.serviceid, view.vault))
    except VaultError as exc:  # the DKIM key could not be read: check the records without the signing proof
        cell = dns_cell(sources.verify_dns(config, view.ip, view.serviceid, None))
        note = f"DKIM signing proof skipped ({type(exc).__name__})"
        return Cell(cell.severity, f"{cell.summary}; {note}", {**cell.details, "dkim_proof": note})


def vault_probe(view: TenantView) -> Cell:
    return vault_cell(view.sources.vault_nodes())


def certificate_probe(view: TenantView) -> Cell:
    if not view.ip:
        raise StatusError("the VPS IP is unknown")
    key = view.sources.admin_key(view.config.tenant_id, view.require_vault("no admin key (Vault: {error})"))
    pem = view.sources.read_certificate(view.ip, key)
    info = parse_certificate(pem) if pem else None
    return certificate_cell(info, view.now, host=view.config.mail_host,
                            path=f"served by {view.ip} (TLS 443/465/993), else {view.cert_path}")


Probe = Callable[[TenantView], Cell]
PROBES: tuple[tuple[str, Probe], ...] = (
    ("vps", vps_probe),  # first: it finds the serviceid and IP the others use
    ("keys", keys_probe),
    ("backup", backup_probe),
    ("dns", dns_probe),
    ("vault", vault_probe),
    ("certificate", certificate_probe),
)
COLUMNS: tuple[str, ...] = tuple(name for name, _ in PROBES)


# ============================================================================================ collection
def guarded(probe: Callable[[], Cell]) -> Cell:
    """Run one probe; any failure becomes an ``unknown`` cell with the (redacted) error."""
    try:
        return probe()
    except Exception as exc:
        text = scrub(str(exc)).splitlines()[0][:300] if str(exc).strip() else ""
        short = f"{type(exc).__name__}: {text[:60]}{'...' if len(text) > 60 else ''}" if text else type(exc).__name__
        return Cell(Severity.UNKNOWN, f"error: {short}", {"error": f"{type(exc).__name__}: {text}"})


def collect_tenant(config: TenantConfig, sources: Sources, now: datetime, cert_path: str = CERT_PATH) -> TenantStatus:
    view = read_view(config, sources, now, cert_path)
    cells: dict[str, Cell] = {}
    for name, probe in PROBES:  # in order: the VPS probe refines what the later ones use
        cells[name] = guarded(lambda probe=probe: probe(view))  # type: ignore[misc]
    return TenantStatus(config.tenant_id, cells)


def tenant_ids(stacks_dir: Path) -> list[str]:
    """Tenants with a stack file (``Pulumi.<tenant>.yaml``), sorted."""
    return sorted(p.name[len("Pulumi."):-len(".yaml")] for p in stacks_dir.glob("Pulumi.*.yaml"))


def _config_error_status(tenant: str, problem: str) -> TenantStatus:
    cell = Cell(Severity.UNKNOWN, "stack file unreadable", {"error": scrub(problem)[:300]})
    return TenantStatus(tenant, dict.fromkeys(COLUMNS, cell))


def collect(settings: StatusSettings, tenants: Sequence[str] | None = None, *, sources: Sources | None = None,
            clock: Clock = SYSTEM_CLOCK) -> FleetStatus:
    """Status of ``tenants`` (default: every stack file in ``settings.stacks_dir``)."""
    names = list(tenants) if tenants else tenant_ids(settings.stacks_dir)
    live: LiveSources | None = None
    if sources is None:
        sources = live = LiveSources(settings)
    active: Sources = sources

    def one(entry: tuple[str, TenantConfig | str]) -> TenantStatus:
        tenant, config = entry
        if isinstance(config, str):
            return _config_error_status(tenant, config)
        return collect_tenant(config, active, clock.now(), settings.cert_path)

    loaded = stack_batch.load_many(settings.stacks_dir, names)  # before any thread: it may fork workers
    try:
        with ThreadPoolExecutor(max(1, settings.workers)) as pool:
            results = list(pool.map(one, loaded))
    finally:
        if live is not None:
            live.close()
    return FleetStatus(results, clock.now())
