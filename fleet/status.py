"""Status report of tenants and the fleet: VPS, key ages, backups, DNS drift, Vault health, TLS certificate.

Each tenant gets one ``Cell`` per column. A cell is computed by a *probe* that talks to one outside system; a
probe that fails yields an ``unknown`` cell naming the error, never a crash, so one broken system does not hide
the others. Thresholds are plain functions of a value and ``now`` (the injectable ``clock``); the severity of a
tenant is the worst of its cells, and the fleet's exit code is non-zero when anything is critical.

Thresholds (requirements sections 8, 9, 11):

- keys: admin/tenant SSH every 90 d, SMTP 180 d, DKIM 365 d (a ``rotation_policy`` of ``<n>_days`` stored with
  the key overrides the default); due within 7 days -> warning, overdue -> critical, key missing -> critical.
- backups: < 24 h ok, 24-48 h warning, > 48 h or none critical; ``alert`` once older than 25 h.
- certificate: more than 30 days left ok, <= 30 warning, <= 7 and <= 1 critical (the crossed threshold is
  reported), expired critical; a certificate that does not name the mail host is a warning.
- Vault: a sealed node or no active node critical, an unreachable or uninitialised node warning.
- VPS: ACTIVE and idle ok, busy (task_state) or label/IP different from the stack's warning, stopped or gone
  critical.
- DNS: any record missing or wrong on the authoritative servers critical.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol, TypeVar

from cryptography import x509
from cryptography.x509.oid import NameOID

from dnsrecords.verify import VerifyReport
from fleet import intent
from fleet.rotation import DKIM_DAYS, SMTP_DAYS, SSH_DAYS_DEFAULT, UPCOMING
from fleet.stack_outputs import StackOutputsError, stack_outputs
from fleet.verify import hostwinds_client, verify_tenant
from hostwinds.client import HostwindsClient
from hostwinds.models import READY_STATUS, Instance, by_label, with_serviceid
from hostwinds.settings import RetryPolicy
from toolkit import stack_files
from toolkit.errors import ToolkitError
from toolkit.redact import Secret, scrub
from toolkit.ssh import KnownHosts, SshExecutor
from toolkit.tenant_config import TenantConfig
from vault import keys as vault_keys
from vault import kv, paths
from vault.backup import list_backups, open_store
from vault.backup.freshness import Clock, FreshnessReport, assess, utc_now
from vault.client import NodeHealth, VaultClient, VaultConfig
from vault.errors import SecretNotFound, VaultError

T = TypeVar("T")

COLUMNS: tuple[str, ...] = ("vps", "keys", "backup", "dns", "vault", "certificate")
CERT_PATH = "/mailu/certs/cert.pem"
ROTATION_DAYS: dict[str, int] = {
    "admin_ssh": SSH_DAYS_DEFAULT, "tenant_ssh": SSH_DAYS_DEFAULT, "smtp": SMTP_DAYS, "dkim": DKIM_DAYS,
}
DUE_SOON = UPCOMING
CERT_THRESHOLDS_DAYS: tuple[int, ...] = (30, 7, 1)
_POLICY = re.compile(r"^(\d{1,4})_days$")


class StatusError(ToolkitError):
    """A status probe could not get its data (the cell becomes ``unknown``)."""


class Severity(StrEnum):
    OK = "ok"
    UNKNOWN = "unknown"
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {Severity.OK: 0, Severity.UNKNOWN: 1, Severity.WARNING: 2, Severity.CRITICAL: 3}


def worst(severities: Iterable[Severity]) -> Severity:
    return max(severities, key=lambda s: s.rank, default=Severity.OK)


@dataclass(frozen=True)
class Cell:
    """One check of one tenant: a severity, a short text for the table, JSON-able details."""

    severity: Severity
    summary: str
    details: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"severity": self.severity.value, "summary": self.summary, **self.details}


@dataclass(frozen=True)
class TenantStatus:
    tenant: str
    cells: Mapping[str, Cell]

    @property
    def severity(self) -> Severity:
        return worst(c.severity for c in self.cells.values())

    def to_json(self) -> dict[str, Any]:
        return {"tenant": self.tenant, "severity": self.severity.value,
                "checks": {name: cell.to_json() for name, cell in self.cells.items()}}


@dataclass(frozen=True)
class FleetStatus:
    tenants: Sequence[TenantStatus]
    checked_at: datetime

    @property
    def severity(self) -> Severity:
        return worst(t.severity for t in self.tenants)

    def summary(self) -> dict[str, dict[str, int]]:
        """Tenants per overall severity, and checks (cells) per severity."""
        tenants = dict.fromkeys((s.value for s in Severity), 0)
        checks = dict.fromkeys((s.value for s in Severity), 0)
        for status in self.tenants:
            tenants[status.severity.value] += 1
            for cell in status.cells.values():
                checks[cell.severity.value] += 1
        return {"tenants": tenants, "checks": checks}

    @property
    def exit_code(self) -> int:
        """2 when anything is critical, else 0 (warnings and unknowns are shown, not failed on)."""
        return 2 if self.severity is Severity.CRITICAL else 0

    def to_json(self) -> dict[str, Any]:
        return {"checked_at": _iso(self.checked_at), "severity": self.severity.value, "exit_code": self.exit_code,
                "summary": self.summary(), "tenants": [t.to_json() for t in self.tenants]}


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _days(delta: timedelta) -> float:
    return round(delta.total_seconds() / 86_400, 2)


# ============================================================================================ thresholds (pure)
@dataclass(frozen=True)
class KeyRecord:
    """What Vault says about one key: when it was last rotated and its rotation period."""

    name: str
    path: str
    last_rotated: datetime | None
    period_days: int
    version: int = 0


def key_rotation(record: KeyRecord, now: datetime) -> dict[str, Any]:
    """Age, next rotation and severity of one key."""
    if record.last_rotated is None:
        return {"name": record.name, "path": record.path, "severity": Severity.UNKNOWN.value,
                "detail": "no created_at/last_rotated stamp"}
    due = record.last_rotated + timedelta(days=record.period_days)
    left = due - now
    if left < timedelta(0):
        severity, note = Severity.CRITICAL, "overdue"
    elif left <= DUE_SOON:
        severity, note = Severity.WARNING, "due within 7 days"
    else:
        severity, note = Severity.OK, ""
    return {"name": record.name, "path": record.path, "version": record.version, "severity": severity.value,
            "last_rotated": _iso(record.last_rotated), "age_days": _days(now - record.last_rotated),
            "period_days": record.period_days, "next_rotation": _iso(due), "due_in_days": _days(left),
            "detail": note}


def keys_cell(records: Sequence[KeyRecord], missing: Sequence[str], now: datetime) -> Cell:
    entries = [key_rotation(r, now) for r in records]
    entries += [{"name": name, "severity": Severity.CRITICAL.value, "detail": "missing in Vault"} for name in missing]
    severity = worst(Severity(e["severity"]) for e in entries)
    dated = [e for e in entries if "due_in_days" in e]
    flagged = [f"{e['name']} {e['detail']}" for e in entries if e["detail"]]
    if flagged:
        summary = "; ".join(flagged)
    elif dated:
        soonest = min(dated, key=lambda e: float(e["due_in_days"]))
        summary = f"next: {soonest['name']} in {float(soonest['due_in_days']):.0f} d"
    else:
        summary = "no keys"
    return Cell(severity, summary, {"keys": entries})


def backup_cell(report: FreshnessReport, backups: int, where: str) -> Cell:
    severity = {"ok": Severity.OK, "warning": Severity.WARNING, "critical": Severity.CRITICAL}[report.status.value]
    if report.age is None or report.latest is None:
        return Cell(severity, "no backup", {"alert": report.alert, "backups": 0, "store": where})
    hours = report.age.total_seconds() / 3600
    summary = f"{hours:.1f} h old" + (" (alert > 25 h)" if report.alert else "")
    return Cell(severity, summary, {"alert": report.alert, "backups": backups, "latest": _iso(report.latest),
                                    "age_hours": round(hours, 2), "store": where})


def vault_cell(nodes: Sequence[NodeHealth]) -> Cell:
    reachable = [n for n in nodes if n.reachable]
    sealed = [n for n in reachable if n.sealed]
    active = [n for n in reachable if n.active]
    standby = [n for n in reachable if n.standby]
    other = [n for n in reachable if not (n.sealed or n.active or n.standby)]
    details = {"nodes": len(nodes), "reachable": len(reachable), "active": len(active), "standby": len(standby),
               "sealed": len(sealed), "node_states": [_node_state(n) for n in nodes]}
    counts = f"{len(reachable)}/{len(nodes)} reachable"
    if sealed:
        return Cell(Severity.CRITICAL, f"{len(sealed)} sealed, {counts}", details)
    if not active:
        return Cell(Severity.CRITICAL, f"no active node, {counts}", details)
    if len(reachable) < len(nodes) or other:
        return Cell(Severity.WARNING, f"{counts}, {len(standby)} standby", details)
    return Cell(Severity.OK, f"active, {len(standby)} standby, {counts}", details)


def _node_state(node: NodeHealth) -> dict[str, Any]:
    state = ("unreachable" if not node.reachable else "sealed" if node.sealed else "active" if node.active
             else "standby" if node.standby else "unhealthy")
    return {"address": node.address, "state": state}


def vps_cell(instance: Instance | None, *, label: str, expected_ip: str, source: str) -> Cell:
    if instance is None:
        return Cell(Severity.CRITICAL, "no instance", {"label": label, "source": source})
    label_ok = instance.label == label
    ip_ok = not expected_ip or instance.main_ip == expected_ip
    details = {"serviceid": instance.serviceid, "status": instance.status, "task_state": instance.task_state,
               "main_ip": instance.main_ip, "label": instance.label, "expected_label": label,
               "label_matches": label_ok, "ip_matches_stack": ip_ok, "source": source}
    text = f"{instance.status}{f' ({instance.task_state})' if instance.task_state else ''} {instance.main_ip}"
    if instance.gone or (instance.status != READY_STATUS and not instance.task_state):
        return Cell(Severity.CRITICAL, text, details)
    notes = [] if label_ok else [f"label {instance.label!r} != {label!r}"]
    notes += [] if ip_ok else [f"stack says {expected_ip}"]
    if instance.task_state or notes:
        return Cell(Severity.WARNING, "; ".join([text, *notes]), details)
    return Cell(Severity.OK, text, details)


def dns_cell(report: VerifyReport) -> Cell:
    problems = report.problems
    details = {"checks": len(report.checks), "problems": [
        {"subject": c.subject, "status": c.status, "expected": c.expected, "found": c.found} for c in problems]}
    if not problems:
        return Cell(Severity.OK, f"all {len(report.checks)} checks ok", details)
    missing = sum(1 for c in problems if c.status == "missing")
    wrong = len(problems) - missing
    return Cell(Severity.CRITICAL, f"{missing} missing, {wrong} wrong", details)


@dataclass(frozen=True)
class CertificateInfo:
    not_after: datetime
    subject: str
    names: tuple[str, ...]


def parse_certificate(pem: bytes) -> CertificateInfo:
    """Expiry, subject CN and DNS names of the first certificate of a PEM file (a chain starts with the leaf)."""
    try:
        cert = x509.load_pem_x509_certificate(pem)
    except ValueError as exc:
        raise StatusError(f"not a PEM certificate: {exc}") from None
    cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    subject = str(cns[0].value) if cns else cert.subject.rfc4514_string()
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = tuple(str(n) for n in san.get_values_for_type(x509.DNSName))
    except x509.ExtensionNotFound:
        names = (subject,) if cns else ()
    return CertificateInfo(cert.not_valid_after_utc, subject, names)


def _covers(names: Iterable[str], host: str) -> bool:
    host = host.lower().rstrip(".")
    for name in (n.lower().rstrip(".") for n in names):
        if name == host or (name.startswith("*.") and host.partition(".")[2] == name[2:]):
            return True
    return False


def certificate_cell(info: CertificateInfo | None, now: datetime, *, host: str, path: str = CERT_PATH) -> Cell:
    if info is None:
        return Cell(Severity.UNKNOWN, "no certificate", {"path": path})
    left = info.not_after - now
    crossed = [d for d in CERT_THRESHOLDS_DAYS if left <= timedelta(days=d)]
    threshold = min(crossed) if crossed else None
    details = {"path": path, "not_after": _iso(info.not_after), "days_left": _days(left), "subject": info.subject,
               "names": list(info.names), "threshold_days": threshold, "covers_host": _covers(info.names, host)}
    if left <= timedelta(0):
        return Cell(Severity.CRITICAL, f"expired {_iso(info.not_after)}", details)
    text = f"{_days(left):.0f} d left" if left >= timedelta(days=1) else f"{left.total_seconds() / 3600:.0f} h left"
    if threshold is not None:
        severity = Severity.WARNING if threshold == CERT_THRESHOLDS_DAYS[0] else Severity.CRITICAL
        return Cell(severity, f"{text} (< {threshold} d)", details)
    if not details["covers_host"]:
        return Cell(Severity.WARNING, f"{text}; does not name {host}", details)
    return Cell(Severity.OK, text, details)


def parse_stamp(value: object) -> datetime | None:
    """An ISO-8601 stamp (``...Z`` or with offset, Vault's nanoseconds tolerated) as an aware UTC datetime."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip().replace("Z", "+00:00")
    text = re.sub(r"(\.\d{6})\d+", r"\1", text)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def rotation_days(data: Mapping[str, Any], default: int) -> int:
    match = _POLICY.match(str(data.get("rotation_policy") or ""))
    return int(match.group(1)) if match else default


# ============================================================================================ data sources
@dataclass(frozen=True)
class StatusSettings:
    """Where the data comes from. ``env`` holds the connection settings (VAULT_ADDR(S), VAULT_TOKEN,
    HOSTWINDS_API_URL/KEY, PM_DNS_*, PULUMI_*); ``work_dir`` is the Pulumi project folder whose stacks hold the
    outputs (None: always look the VPS up by label)."""

    stacks_dir: Path
    env: Mapping[str, str]
    work_dir: Path | None = None
    backup_dest: str | None = None
    s3_endpoint: str | None = None
    cert_path: str = CERT_PATH
    ssh_port: int = 22
    ssh_timeout: float = 10.0
    http_timeout: float = 10.0
    vault_deadline: float = 10.0
    workers: int = 4


class Sources(Protocol):
    """What the collector needs from the outside systems (``LiveSources``; unit tests pass fakes)."""

    def stack_outputs(self, tenant: str) -> Mapping[str, Any]: ...

    def instances(self, config: TenantConfig) -> list[Instance]: ...

    def vault(self) -> VaultClient: ...

    def vault_nodes(self) -> list[NodeHealth]: ...

    def intent(self, tenant: str, vault: VaultClient) -> intent.TenantIntent | None: ...

    def backups(self) -> tuple[list[datetime], str]: ...

    def verify_dns(self, config: TenantConfig, mail_ip: str, serviceid: str,
                   vault: VaultClient | None) -> VerifyReport: ...

    def read_certificate(self, host: str, private_key: Secret) -> bytes | None: ...


class _Memo:
    """Thread-safe memo of zero-argument results by key (errors are remembered too: fail once per run)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._keys: dict[str, threading.Lock] = {}
        self._values: dict[str, tuple[bool, Any]] = {}

    def get(self, key: str, make: Callable[[], T]) -> T:
        with self._lock:
            key_lock = self._keys.setdefault(key, threading.Lock())
        with key_lock:
            if key not in self._values:
                try:
                    self._values[key] = (True, make())
                except Exception as exc:
                    self._values[key] = (False, exc)
            ok, value = self._values[key]
        if not ok:
            raise value
        return value  # type: ignore[no-any-return]


class LiveSources:
    """The real systems: Pulumi CLI, Hostwinds API, Vault, the backup store, DNS servers, the VPS over SSH."""

    def __init__(self, settings: StatusSettings) -> None:
        self.settings = settings
        self._memo = _Memo()
        self._vault_client: VaultClient | None = None

    def stack_outputs(self, tenant: str) -> Mapping[str, Any]:
        """``pulumi stack output --json`` in the work dir (secret outputs stay masked); {} when there are none."""
        if self.settings.work_dir is None:
            return {}
        try:
            return stack_outputs(tenant, work_dir=self.settings.work_dir, env=self.settings.env)
        except StackOutputsError as exc:
            raise StatusError(str(exc)) from None

    def _hostwinds(self, config: TenantConfig) -> HostwindsClient:
        def make() -> HostwindsClient:
            return hostwinds_client(config, self.settings.env, http_timeout=self.settings.http_timeout,
                                    retry=RetryPolicy(attempts=2, base_delay=0.5, max_delay=2.0))

        return self._memo.get(f"hostwinds:{config.hostwinds.api_url or ''}", make)

    def instances(self, config: TenantConfig) -> list[Instance]:
        """Every instance of the account, listed once per run (one API call for the whole fleet)."""
        client = self._hostwinds(config)
        return self._memo.get(f"instances:{client.settings.url}", client.list_instances)

    def close(self) -> None:
        if self._vault_client is not None:
            self._vault_client.close()

    def vault(self) -> VaultClient:
        def make() -> VaultClient:
            config = VaultConfig.from_env(self.settings.env, op_deadline=self.settings.vault_deadline,
                                          timeout=min(self.settings.http_timeout, 5.0))
            self._vault_client = VaultClient(config, manage_token=False)
            return self._vault_client

        return self._memo.get("vault", make)

    def intent(self, tenant: str, vault: VaultClient) -> intent.TenantIntent | None:
        return intent.load(vault, tenant)

    def vault_nodes(self) -> list[NodeHealth]:
        def make() -> list[NodeHealth]:
            # sys/health needs no token: probe without logging in, so health shows even when auth fails.
            config = VaultConfig.from_env(self.settings.env, probe_timeout=min(self.settings.http_timeout, 3.0))
            unauthenticated = replace(config, token=config.token or Secret("-"), role_id=None, secret_id=None)
            with VaultClient(unauthenticated, manage_token=False) as client:
                return client.probe()

        return self._memo.get("vault-nodes", make)

    def backups(self) -> tuple[list[datetime], str]:
        def make() -> tuple[list[datetime], str]:
            dest = self.settings.backup_dest or self.settings.env.get("PM_BACKUP_DEST")
            if not dest:
                raise StatusError("no backup destination (set PM_BACKUP_DEST or --backup-dest)")
            store = open_store(dest, s3_endpoint=self.settings.s3_endpoint or None)
            return [ref.created for ref in list_backups(store)], store.description

        return self._memo.get("backups", make)

    def verify_dns(self, config: TenantConfig, mail_ip: str, serviceid: str,
                   vault: VaultClient | None) -> VerifyReport:
        return verify_tenant(config, mail_ip=mail_ip, vault=vault, serviceid=serviceid,
                             hostwinds=lambda: self._hostwinds(config))

    def read_certificate(self, host: str, private_key: Secret) -> bytes | None:
        """The certificate file on the VPS, or None when there is none. Read-only, so a host key seen for the
        first time is accepted (nothing secret is sent: public-key authentication)."""
        timeout = self.settings.ssh_timeout
        with SshExecutor(host, private_key, port=self.settings.ssh_port, known_hosts=KnownHosts(
                trust_on_first_use=True), connect_timeout=timeout, boot_timeout=timeout,
                command_timeout=timeout * 3) as ssh:
            return ssh.read_file_if_exists(self.settings.cert_path)


# ============================================================================================ collection
def guarded(probe: Callable[[], Cell]) -> Cell:
    """Run one probe; any failure becomes an ``unknown`` cell with the (redacted) error."""
    try:
        return probe()
    except Exception as exc:
        text = scrub(str(exc)).splitlines()[0][:300] if str(exc).strip() else ""
        short = f"{type(exc).__name__}: {text[:60]}{'...' if len(text) > 60 else ''}" if text else type(exc).__name__
        return Cell(Severity.UNKNOWN, f"error: {short}", {"error": f"{type(exc).__name__}: {text}"})


@dataclass
class _Vps:
    """What the VPS probe learned, for the probes after it."""

    serviceid: str = ""
    ip: str = ""


class TenantCollector:
    def __init__(self, sources: Sources, clock: Clock = utc_now, cert_path: str = CERT_PATH) -> None:
        self.sources = sources
        self.clock = clock
        self.cert_path = cert_path

    def collect(self, config: TenantConfig) -> TenantStatus:
        no_outputs: dict[str, Any] = {}
        outputs, outputs_error = _try(lambda: dict(self.sources.stack_outputs(config.tenant_id)), no_outputs)
        vps = _Vps(str(outputs.get("serviceid") or ""), str(outputs.get("main_ip") or ""))
        no_vault: VaultClient | None = None
        vault, vault_error = _try(self.sources.vault, no_vault)
        config = self._deployed_config(config, vault)  # the selector and VPS generation in force
        cells = {
            "vps": guarded(lambda: self._vps(config, vps, bool(outputs), outputs_error)),
            "keys": guarded(lambda: self._keys(config, vault, vault_error, outputs)),
            "backup": guarded(self._backup),
            "dns": guarded(lambda: self._dns(config, vps, vault)),
            "vault": guarded(lambda: vault_cell(self.sources.vault_nodes())),
            "certificate": guarded(lambda: self._certificate(config, vps, vault, vault_error)),
        }
        return TenantStatus(config.tenant_id, cells)

    def _vps(self, config: TenantConfig, vps: _Vps, from_outputs: bool, outputs_error: str) -> Cell:
        found = self.sources.instances(config)
        if vps.serviceid:
            source = "stack outputs"
            instance = with_serviceid(found, vps.serviceid)
        else:
            source = "label lookup" + (f" (no stack outputs: {outputs_error})" if outputs_error else
                                       " (stack has no outputs)" if not from_outputs else "")
            instance = by_label(found, config.vps_label)
        cell = vps_cell(instance, label=config.vps_label, expected_ip=vps.ip, source=source)
        if instance is not None:
            vps.serviceid = instance.serviceid
            vps.ip = instance.main_ip or vps.ip
        return cell

    def _deployed_config(self, config: TenantConfig, vault: VaultClient | None) -> TenantConfig:
        """The configuration the stack deploys: the stack file with its day-2 intent (selector, VPS generation)."""
        if vault is None:
            return config
        try:
            current = self.sources.intent(config.tenant_id, vault)
        except ToolkitError:
            return config
        return config if current is None else intent.apply(config, current)

    def _keys(self, config: TenantConfig, vault: VaultClient | None, vault_error: str,
              outputs: Mapping[str, Any]) -> Cell:
        if vault is None:
            raise StatusError(f"Vault: {vault_error}")
        selector = str(outputs.get("dkim_selector") or config.dkim_selector)
        wanted = [("admin_ssh", paths.admin_ssh(config.tenant_id)), ("tenant_ssh", paths.tenant_ssh(config.tenant_id)),
                  ("smtp", paths.smtp_admin(config.tenant_id)), ("dkim", paths.dkim(config.domain, selector))]
        records, missing = [], []
        for name, path in wanted:
            record = read_key_record(vault, name, path)
            if record is None:
                missing.append(name)
            else:
                records.append(record)
        return keys_cell(records, missing, self.clock())

    def _backup(self) -> Cell:
        stamps, where = self.sources.backups()
        return backup_cell(assess(stamps, self.clock), len(stamps), where)

    def _dns(self, config: TenantConfig, vps: _Vps, vault: VaultClient | None) -> Cell:
        if not vps.ip:
            raise StatusError("the VPS IP is unknown (no stack outputs and no instance found)")
        try:
            return dns_cell(self.sources.verify_dns(config, vps.ip, vps.serviceid, vault))
        except VaultError as exc:  # the DKIM key could not be read: check the records without the signing proof
            cell = dns_cell(self.sources.verify_dns(config, vps.ip, vps.serviceid, None))
            note = f"DKIM signing proof skipped ({type(exc).__name__})"
            return Cell(cell.severity, f"{cell.summary}; {note}", {**cell.details, "dkim_proof": note})

    def _certificate(self, config: TenantConfig, vps: _Vps, vault: VaultClient | None, vault_error: str) -> Cell:
        if not vps.ip:
            raise StatusError("the VPS IP is unknown")
        if vault is None:
            raise StatusError(f"no admin key (Vault: {vault_error})")
        key = vault_keys.read_private(vault, paths.admin_ssh(config.tenant_id))
        pem = self.sources.read_certificate(vps.ip, key)
        info = parse_certificate(pem) if pem else None
        return certificate_cell(info, self.clock(), host=config.mail_host, path=self.cert_path)


def read_key_record(vault: VaultClient, name: str, path: paths.SecretPath) -> KeyRecord | None:
    """Rotation facts of one key (its private half is read by KV but dropped here); None when it is absent."""
    try:
        secret = kv.read(vault, path)
    except SecretNotFound:
        return None
    data = secret.data
    stamp = parse_stamp(data.get("last_rotated")) or parse_stamp(data.get("created_at")) or parse_stamp(
        secret.created_time)
    return KeyRecord(name, path.logical, stamp, rotation_days(data, ROTATION_DAYS[name]), secret.version)


def _try(fn: Callable[[], T], default: T) -> tuple[T, str]:
    """(value, "") or (default, error text): for inputs several probes share."""
    try:
        return fn(), ""
    except Exception as exc:
        return default, f"{type(exc).__name__}: {scrub(str(exc))[:300]}"


# ============================================================================================ entry points
def tenant_ids(stacks_dir: Path) -> list[str]:
    """Tenants with a stack file (``Pulumi.<tenant>.yaml``), sorted."""
    return sorted(p.name[len("Pulumi."):-len(".yaml")] for p in stacks_dir.glob("Pulumi.*.yaml"))


def _config_error_status(tenant: str, exc: Exception) -> TenantStatus:
    text = f"{type(exc).__name__}: {scrub(str(exc))[:300]}"
    cell = Cell(Severity.UNKNOWN, "stack file unreadable", {"error": text})
    return TenantStatus(tenant, dict.fromkeys(COLUMNS, cell))


def collect(settings: StatusSettings, tenants: Sequence[str] | None = None, *, sources: Sources | None = None,
            clock: Clock = utc_now) -> FleetStatus:
    """Status of ``tenants`` (default: every stack file in ``settings.stacks_dir``)."""
    names = list(tenants) if tenants else tenant_ids(settings.stacks_dir)
    live: LiveSources | None = None
    if sources is None:
        sources = live = LiveSources(settings)
    collector = TenantCollector(sources, clock, settings.cert_path)

    def one(tenant: str) -> TenantStatus:
        try:
            config = stack_files.load(settings.stacks_dir, tenant)
        except Exception as exc:
            return _config_error_status(tenant, exc)
        return collector.collect(config)

    try:
        with ThreadPoolExecutor(max(1, settings.workers)) as pool:
            results = list(pool.map(one, names))
    finally:
        if live is not None:
            live.close()
    return FleetStatus(results, clock())
