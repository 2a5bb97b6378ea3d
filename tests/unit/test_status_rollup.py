"""Severity roll-up, probe isolation and the fleet summary of `invoke status`, with fake data sources."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from dnsrecords.verify import Check, VerifyReport
from fleet import status as fs
from fleet.status import Cell, FleetStatus, KeyRecord, Severity, StatusSettings, TenantStatus, collect, worst
from hostwinds.models import Instance
from toolkit import stack_files
from toolkit.redact import Secret
from toolkit.tenant_config import TenantConfig
from vault.client import NodeHealth, VaultClient
from vault.paths import SecretPath

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def _raw(tenant: str) -> dict[str, Any]:
    return {"tenant_id": tenant, "domain": f"{tenant}.example.test", "dkim_selector": "pm20260101",
            "dns": {"provider": "rfc2136", "server": "127.0.0.1", "tsig_key_name": "k"}}


class FakeSources:
    """Every source answers from memory; ``broken`` names sources that raise."""

    def __init__(self, broken: set[str] | None = None, status: str = "ACTIVE", outputs: bool = True) -> None:
        self.broken = broken or set()
        self.status = status
        self.outputs = outputs
        self.dns_calls: list[tuple[str, bool]] = []

    def _check(self, name: str) -> None:
        if name in self.broken:
            raise RuntimeError(f"{name} is down (token s3cr3t-token-value)")

    def stack_outputs(self, tenant: str) -> Mapping[str, Any]:
        self._check("outputs")
        return {"serviceid": "7", "main_ip": "192.0.2.7"} if self.outputs else {}

    def instances(self, config: TenantConfig) -> list[Instance]:
        self._check("hostwinds")
        return [Instance.from_api({"serviceid": "7", "srvrname": config.vps_label, "status": self.status,
                                   "main_ip": "192.0.2.7"}),
                Instance.from_api({"serviceid": "8", "srvrname": "pm-other-1", "status": "ACTIVE",
                                   "main_ip": "192.0.2.8"})]

    def vault(self) -> VaultClient:
        self._check("vault")
        return object()  # type: ignore[return-value]  # read_key_record is replaced in these tests

    def intent(self, tenant: str, vault: VaultClient) -> None:
        return None  # no day-2 intent: the stack file's values are in force

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
def stacks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for tenant in ("acme", "beta"):
        stack_files.create(tmp_path, _raw(tenant))

    def fake_record(vault: VaultClient, name: str, path: SecretPath) -> KeyRecord:
        return KeyRecord(name, path.logical, NOW - timedelta(days=10), fs.ROTATION_DAYS[name], 1)

    monkeypatch.setattr(fs, "read_key_record", fake_record)
    monkeypatch.setattr(fs.vault_keys, "read_private", lambda vault, path: Secret("fake-admin-private-key"))
    return tmp_path


def _settings(stacks: Path) -> StatusSettings:
    return StatusSettings(stacks_dir=stacks, env={}, workers=2)


def test_healthy_fleet(stacks: Path) -> None:
    result = collect(_settings(stacks), sources=FakeSources(), clock=lambda: NOW)
    assert [t.tenant for t in result.tenants] == ["acme", "beta"]
    acme = result.tenants[0]
    assert set(acme.cells) == set(fs.COLUMNS)
    assert {n: c.severity.value for n, c in acme.cells.items()} == {
        "vps": "ok", "keys": "ok", "backup": "ok", "dns": "ok", "vault": "ok", "certificate": "unknown"}
    assert acme.cells["vps"].details["source"] == "stack outputs"
    assert acme.severity is Severity.UNKNOWN  # "no certificate" in the sandbox is unknown, not a failure
    assert result.exit_code == 0
    assert result.summary() == {"tenants": {"ok": 0, "unknown": 2, "warning": 0, "critical": 0},
                                "checks": {"ok": 10, "unknown": 2, "warning": 0, "critical": 0}}
    document = result.to_json()
    assert document["tenants"][0]["checks"]["keys"]["keys"][0]["name"] == "admin_ssh"
    assert document["checked_at"] == "2026-06-01T12:00:00Z"


def test_one_failing_system_is_one_unknown_cell(stacks: Path) -> None:
    result = collect(_settings(stacks), ["acme"], sources=FakeSources({"backups"}), clock=lambda: NOW)
    cells = result.tenants[0].cells
    assert cells["backup"].severity is Severity.UNKNOWN
    assert "RuntimeError" in cells["backup"].details["error"]
    assert [cells[c].severity for c in ("vps", "keys", "dns", "vault")] == [Severity.OK] * 4


def test_errors_are_redacted(stacks: Path) -> None:
    from toolkit.redact import REDACTOR

    REDACTOR.register("s3cr3t-token-value")
    result = collect(_settings(stacks), ["acme"], sources=FakeSources({"vault-health"}), clock=lambda: NOW)
    assert "s3cr3t-token-value" not in str(result.to_json())


def test_vault_down_spares_vps_backup_and_dns(stacks: Path) -> None:
    sources = FakeSources({"vault", "vault-health"})
    cells = collect(_settings(stacks), ["acme"], sources=sources, clock=lambda: NOW).tenants[0].cells
    assert {n: c.severity.value for n, c in cells.items()} == {
        "vps": "ok", "keys": "unknown", "backup": "ok", "dns": "ok", "vault": "unknown", "certificate": "unknown"}
    assert sources.dns_calls == [("192.0.2.7", False)]  # DNS checked without the DKIM signing proof


def test_no_outputs_falls_back_to_the_label(stacks: Path) -> None:
    for sources in (FakeSources(outputs=False), FakeSources({"outputs"})):
        cell = collect(_settings(stacks), ["acme"], sources=sources, clock=lambda: NOW).tenants[0].cells["vps"]
        assert cell.severity is Severity.OK and cell.details["serviceid"] == "7"
        assert cell.details["source"].startswith("label lookup")


def test_stopped_vps_makes_the_fleet_critical(stacks: Path) -> None:
    result = collect(_settings(stacks), sources=FakeSources(status="STOPPED"), clock=lambda: NOW)
    assert all(t.cells["vps"].severity is Severity.CRITICAL for t in result.tenants)
    assert result.severity is Severity.CRITICAL and result.exit_code == 2
    assert result.summary()["tenants"]["critical"] == 2


def test_hostwinds_down_leaves_dns_on_the_stack_ip(stacks: Path) -> None:
    sources = FakeSources({"hostwinds"})
    cells = collect(_settings(stacks), ["acme"], sources=sources, clock=lambda: NOW).tenants[0].cells
    assert cells["vps"].severity is Severity.UNKNOWN and cells["dns"].severity is Severity.OK
    assert sources.dns_calls == [("192.0.2.7", True)]


def test_unreadable_stack_file_is_reported_not_raised(stacks: Path) -> None:
    (stacks / "Pulumi.bad.yaml").write_text("config:\n  pm:tenant_id: bad\n  pm:colour: blue\n")
    result = collect(_settings(stacks), sources=FakeSources(), clock=lambda: NOW)
    bad = next(t for t in result.tenants if t.tenant == "bad")
    assert bad.severity is Severity.UNKNOWN and "pm:colour" in bad.cells["vps"].details["error"]
    missing = collect(_settings(stacks), ["ghost"], sources=FakeSources(), clock=lambda: NOW).tenants[0]
    assert missing.cells["vps"].summary == "stack file unreadable"


def test_worst_and_exit_code() -> None:
    assert worst([]) is Severity.OK
    assert worst([Severity.OK, Severity.UNKNOWN]) is Severity.UNKNOWN
    assert worst([Severity.UNKNOWN, Severity.WARNING, Severity.OK]) is Severity.WARNING
    assert worst([Severity.WARNING, Severity.CRITICAL]) is Severity.CRITICAL
    warn = TenantStatus("a", {"vps": Cell(Severity.WARNING, "busy")})
    crit = TenantStatus("b", {"vps": Cell(Severity.CRITICAL, "stopped")})
    assert FleetStatus([warn], NOW).exit_code == 0
    assert FleetStatus([warn, crit], NOW).exit_code == 2
    assert FleetStatus([], NOW).exit_code == 0
