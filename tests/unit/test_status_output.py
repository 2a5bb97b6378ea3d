"""Rendering of `invoke status` (rich tables, detail lines) and the offline parts of the live sources."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from rich.console import Console

from fleet.status import Cell, FleetStatus, LiveSources, Severity, StatusError, StatusSettings, TenantStatus, guarded
from tasks_lib.status import detail_lines, fleet_table, summary_line, tenant_table
from vault.backup.manifest import backup_name, blob_key, manifest_key
from vault.backup.stores import LocalStore

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
KEY = {"name": "smtp", "version": 3, "severity": "warning", "age_days": 175.0, "period_days": 180,
       "next_rotation": "2026-06-06T12:00:00Z", "due_in_days": 5.0, "detail": "due within 7 days"}


def _render(renderable: object) -> str:
    console = Console(width=200, record=True, color_system=None)
    console.print(renderable)
    return console.export_text()


def _fleet() -> FleetStatus:
    cells = {"vps": Cell(Severity.CRITICAL, "STOPPED 192.0.2.7 [x]"), "keys": Cell(Severity.WARNING, "smtp due",
             {"keys": [KEY]}), "backup": Cell(Severity.OK, "2.0 h old"), "dns": Cell(Severity.OK, "all 12 checks ok"),
             "vault": Cell(Severity.OK, "active"), "certificate": Cell(Severity.UNKNOWN, "no certificate")}
    return FleetStatus([TenantStatus("acme", cells)], NOW)


def test_tables_show_every_column_and_the_summary() -> None:
    fleet = _fleet()
    text = _render(fleet_table(fleet))
    for word in ("acme", "critical", "STOPPED 192.0.2.7 [x]", "smtp due", "2.0 h old", "no certificate"):
        assert word in text
    assert "1 critical" in _render(summary_line(fleet))
    detail = _render(tenant_table(fleet.tenants[0]))
    assert "smtp v3: 175 d old, every 180 d, next 2026-06-06 (in 5 d) [due within 7 days]" in detail


def test_detail_lines() -> None:
    lines = detail_lines({"checks": 3, "problems": [{"subject": "A mail", "status": "missing", "found": ""}],
                          "empty": "", "keys": [{"name": "dkim", "severity": "critical", "detail": "missing"}]})
    assert lines == ["checks: 3", "problems:", "  subject=A mail, status=missing", "dkim: critical (missing)"]


def test_guarded_turns_errors_into_unknown_cells() -> None:
    def boom() -> Cell:
        raise ValueError("x" * 100 + "\nsecond line")

    cell = guarded(boom)
    assert cell.severity is Severity.UNKNOWN and cell.summary.startswith("error: ValueError: xxx")
    assert cell.summary.endswith("...") and "second line" not in cell.details["error"]


def test_live_sources_offline_parts(tmp_path: Path) -> None:
    assert LiveSources(StatusSettings(stacks_dir=tmp_path, env={})).stack_outputs("acme") == {}
    with pytest.raises(StatusError, match="no backup destination"):
        LiveSources(StatusSettings(stacks_dir=tmp_path, env={})).backups()
    store = LocalStore(tmp_path / "b")
    stamp = NOW - timedelta(hours=30)
    store.put_bytes(blob_key(backup_name(stamp)), b"x")
    store.put_bytes(manifest_key(backup_name(stamp)), b"{}")
    store.put_bytes(blob_key(backup_name(NOW)), b"x")  # no manifest: incomplete, not counted
    sources = LiveSources(StatusSettings(stacks_dir=tmp_path, env={"PM_BACKUP_DEST": str(tmp_path / "b")}))
    assert sources.backups() == ([stamp], str(tmp_path / "b"))


def test_missing_pulumi_project_is_an_error_not_a_crash(tmp_path: Path) -> None:
    sources = LiveSources(StatusSettings(stacks_dir=tmp_path, env={"PATH": ""}, work_dir=tmp_path))
    with pytest.raises(StatusError, match="cannot read outputs of acme"):
        sources.stack_outputs("acme")
