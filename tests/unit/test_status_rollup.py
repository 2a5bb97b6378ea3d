"""Severity roll-up, probe isolation and the fleet summary of `invoke status`, with fake data sources."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from dnsrecords.verify import Check, VerifyReport
from fleet import status as fs
from fleet.intent import DkimIntent, SshIntent, TenantIntent
from fleet.key_age import KINDS, KeyAge, Kind, period_days, secret_paths
from fleet.status import Cell, FleetStatus, Severity, StatusSettings, TenantStatus, collect
from fleet.status_model import worst
from fleet.status_sources import KeyAges
from hostwinds.models import Instance
from toolkit import stack_files
from toolkit.clock import FrozenClock
from toolkit.redact import Secret
from toolkit.tenant_config import TenantConfig
from vault.client import VaultClient
from vault.nodes import NodeHealth

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
CLOCK = FrozenClock(NOW)


def _raw(tenant: str) -> dict[str, Any]:
    return {"tenant_id": tenant, "domain": f"{tenant}.example.test", "dkim_selector": "pm20260101",
            "dns": {"provider": "rfc2136", "server": "127.0.0.1", "tsig_key_name": "k"}}


class FakeSources:
    """Every source answers from memory; ``broken`` names sources that raise."""

    def __init__(self, broken: set[str] | None = None, status: str = "ACTIVE", outputs: bool = True,
                 no_intent: bool = False, absent: tuple[Kind, ...] = ()) -> None:
        self.broken = broken or set()
        self.status = status
        self.outputs = outputs
        self.no_intent = no_intent
        self.absent = absent
        self.dns_calls: list[tuple[str, bool]] = []
        self.admin_keys: list[str] = []

    def _check(self, name: str) -> None:
        if name in self.broken:
            raise RuntimeError(f"{name} is down (token s3cr3t-token-value)")

    def stack_outputs(self, tenant: str) -> Mapping[str, Any]:
        self._check("outputs")
        vault = {"admin_ssh": {"path": "vps/x/admin_ssh", "version": 4}, "dkim": {"path": "dkim/x/y", "version": 2}}
        return {"serviceid": "7", "main_ip": "192.0.2.7", "vault": vault} if self.outputs else {}

    def instances(self, config: TenantConfig) -> list[Instance]:
        self._check("hostwinds")
        return [Instance.from_api({"serviceid": "7", "srvrname": config.vps_label, "status": self.status,
                                   "main_ip": "192.0.2.7"}),
                Instance.from_api({"serviceid": "8", "srvrname": "pm-other-1", "status": "ACTIVE",
                                   "main_ip": "192.0.2.8"})]

    def vault(self) -> VaultClient:
        self._check("vault")
        return object()  # type: ignore[return-value]  # a handle the other fake methods receive, never used

    def intent(self, tenant: str, vault: VaultClient) -> TenantIntent | None:
        self._check("intent")
        if self.no_intent:
            return None
        return TenantIntent(tenant, DkimIntent("pm20260101", "nonce"), tenant_ssh=SshIntent(rotation_days=30))

    def key_ages(self, config: TenantConfig, current: TenantIntent, vault: VaultClient) -> KeyAges:
        wanted = secret_paths(config.tenant_id, config.domain, current.dkim.selector)
        ages = {kind: KeyAge(kind, wanted[kind].logical, period_days(kind, current), NOW - timedelta(days=10))
                for kind in KINDS if kind not in self.absent}
        return ages, tuple(wanted[kind].logical for kind in self.absent)

    def admin_key(self, tenant: str, vault: VaultClient) -> Secret:
        self.admin_keys.append(tenant)
        return Secret("fake-admin-private-key")

    def vault_nodes(self) -> list[NodeHealth]:
        self._check("vault-health")
        return [NodeHealth("http://127.0.0.1:8200", reachable=True, active=True)]

    def backups(self) -> tuple[list[datetime], str]:
        self._check("backups")
        return [NOW - timedelta(hours=3)], "/backups"

    def verify_dns(self, config: TenantConfig, mail_ip: str, serviceid: str,
                   vault: VaultClient | None) -> VerifyReport:
        self._check("dns")
        self.dns_calls.append((mail_ip, vault is not None))
        return VerifyReport([Check("A mail", "ok", mail_ip, mail_ip)])

    def read_certificate(self, host: str, private_key: Secret) -> bytes | None:
        self._check("ssh")
        return None


@pytest.fixture
def stacks(tmp_path: Path) -> Path:
    for tenant in ("acme", "beta"):
        stack_files.create(tmp_path, _raw(tenant))
    return tmp_path


def _settings(stacks: Path) -> StatusSettings:
    return StatusSettings(stacks_dir=stacks, env={}, workers=2)


def test_healthy_fleet(stacks: Path) -> None:
    result = collect(_settings(stacks), sources=FakeSources(), clock=CLOCK)
    assert [t.tenant for t in result.tenants] == ["acme", "beta"]
    acme = result.tenants[0]
    assert set(acme.cells) == set(fs.COLUMNS)
    assert {n: c.severity.value for n, c in acme.cells.items()} == {
        "vps": "ok", "keys": "ok", "backup": "ok", "dns": "ok", "vault": "ok", "certificate": "unknown"}
    assert acme.cells["vps"].details["source"] == "stack outputs"
    assert acme.severity is Severity.UNKNOWN  # "no certificate": shown as unknown, not as ok
    assert result.exit_code == 3
    assert result.summary() == {"tenants": {"ok": 0, "unknown": 2, "warning": 0, "critical": 0},
                                "checks": {"ok": 10, "unknown": 2, "warning": 0, "critical": 0}}
    document = result.to_json()
    assert document["tenants"][0]["checks"]["keys"]["keys"][0]["name"] == "admin_ssh"
    assert document["checked_at"] == "2026-06-01T12:00:00Z"


def test_one_failing_system_is_one_unknown_cell(stacks: Path) -> None:
    result = collect(_settings(stacks), ["acme"], sources=FakeSources({"backups"}), clock=CLOCK)
    cells = result.tenants[0].cells
    assert cells["backup"].severity is Severity.UNKNOWN
    assert "RuntimeError" in cells["backup"].details["error"]
    assert [cells[c].severity for c in ("vps", "keys", "dns", "vault")] == [Severity.OK] * 4


def test_errors_are_redacted(stacks: Path) -> None:
    from toolkit.redact import REDACTOR

    REDACTOR.register("s3cr3t-token-value")
    result = collect(_settings(stacks), ["acme"], sources=FakeSources({"vault-health"}), clock=CLOCK)
    assert "s3cr3t-token-value" not in str(result.to_json())


def test_vault_down_spares_vps_backup_and_dns(stacks: Path) -> None:
    sources = FakeSources({"vault", "vault-health"})
    cells = collect(_settings(stacks), ["acme"], sources=sources, clock=CLOCK).tenants[0].cells
    assert {n: c.severity.value for n, c in cells.items()} == {
        "vps": "ok", "keys": "unknown", "backup": "ok", "dns": "ok", "vault": "unknown", "certificate": "unknown"}
    assert sources.dns_calls == [("192.0.2.7", False)]  # DNS checked without the DKIM signing proof


def test_no_outputs_falls_back_to_the_label(stacks: Path) -> None:
    for sources in (FakeSources(outputs=False), FakeSources({"outputs"})):
        cell = collect(_settings(stacks), ["acme"], sources=sources, clock=CLOCK).tenants[0].cells["vps"]
        assert cell.severity is Severity.OK and cell.details["serviceid"] == "7"
        assert cell.details["source"].startswith("label lookup")


def test_stopped_vps_makes_the_fleet_critical(stacks: Path) -> None:
    result = collect(_settings(stacks), sources=FakeSources(status="STOPPED"), clock=CLOCK)
    assert all(t.cells["vps"].severity is Severity.CRITICAL for t in result.tenants)
    assert result.severity is Severity.CRITICAL and result.exit_code == 2
    assert result.summary()["tenants"]["critical"] == 2


def test_hostwinds_down_leaves_dns_on_the_stack_ip(stacks: Path) -> None:
    sources = FakeSources({"hostwinds"})
    cells = collect(_settings(stacks), ["acme"], sources=sources, clock=CLOCK).tenants[0].cells
    assert cells["vps"].severity is Severity.UNKNOWN and cells["dns"].severity is Severity.OK
    assert sources.dns_calls == [("192.0.2.7", True)]


def test_unreadable_stack_file_is_reported_not_raised(stacks: Path) -> None:
    (stacks / "Pulumi.bad.yaml").write_text("config:\n  pm:tenant_id: bad\n  pm:colour: blue\n")
    result = collect(_settings(stacks), sources=FakeSources(), clock=CLOCK)
    bad = next(t for t in result.tenants if t.tenant == "bad")
    assert bad.severity is Severity.UNKNOWN and "pm:colour" in bad.cells["vps"].details["error"]
    missing = collect(_settings(stacks), ["ghost"], sources=FakeSources(), clock=CLOCK).tenants[0]
    assert missing.cells["vps"].summary == "stack file unreadable"


def test_worst_and_exit_code() -> None:
    assert worst([]) is Severity.OK
    assert worst([Severity.OK, Severity.UNKNOWN]) is Severity.UNKNOWN
    assert worst([Severity.UNKNOWN, Severity.WARNING, Severity.OK]) is Severity.WARNING
    assert worst([Severity.WARNING, Severity.CRITICAL]) is Severity.CRITICAL
    warn = TenantStatus("a", {"vps": Cell(Severity.WARNING, "busy")})
    crit = TenantStatus("b", {"vps": Cell(Severity.CRITICAL, "stopped")})
    unknown = TenantStatus("c", {"vps": Cell(Severity.UNKNOWN, "no answer")})
    assert FleetStatus([warn], NOW).exit_code == 1
    assert FleetStatus([warn, crit], NOW).exit_code == 2
    assert FleetStatus([unknown], NOW).exit_code == 3
    assert FleetStatus([unknown, warn], NOW).exit_code == 1  # a warning outranks not knowing
    assert FleetStatus([], NOW).exit_code == 0


def test_keys_come_through_the_sources_with_the_intent_policy(stacks: Path) -> None:
    sources = FakeSources()
    cell = collect(_settings(stacks), ["acme"], sources=sources, clock=CLOCK).tenants[0].cells["keys"]
    entries = {e["name"]: e for e in cell.details["keys"]}
    assert {n: e["period_days"] for n, e in entries.items()} == {
        "admin_ssh": 90, "tenant_ssh": 30, "smtp": 180, "dkim": 365}  # tenant_ssh: the intent's 30 days
    assert {n: e["version"] for n, e in entries.items()} == {"admin_ssh": 4, "tenant_ssh": 0, "smtp": 0, "dkim": 2}
    assert entries["dkim"]["path"] == "dkim/acme.example.test/pm20260101"
    assert cell.severity is Severity.OK and cell.summary == "next: tenant_ssh in 20 d"
    assert sources.admin_keys == ["acme"]  # the certificate probe's admin key, read through the sources too


def test_missing_keys_and_missing_intent(stacks: Path) -> None:
    missing = collect(_settings(stacks), ["acme"], sources=FakeSources(absent=(Kind.DKIM,)), clock=CLOCK)
    cell = missing.tenants[0].cells["keys"]
    assert cell.severity is Severity.CRITICAL and cell.summary == "dkim missing in Vault"
    undeployed = collect(_settings(stacks), ["acme"], sources=FakeSources(no_intent=True), clock=CLOCK)
    cell = undeployed.tenants[0].cells["keys"]
    assert cell.severity is Severity.CRITICAL and "no day-2 intent" in cell.summary
    unreadable = collect(_settings(stacks), ["acme"], sources=FakeSources({"intent"}), clock=CLOCK)
    cells = unreadable.tenants[0].cells
    assert cells["keys"].severity is Severity.UNKNOWN and "day-2 intent" in cells["keys"].details["error"]
    assert cells["dns"].severity is Severity.OK  # the stack file's config is checked instead


def test_columns_are_the_probe_table() -> None:
    assert fs.COLUMNS == ("vps", "keys", "backup", "dns", "vault", "certificate")
    assert [name for name, _ in fs.PROBES] == list(fs.COLUMNS)
