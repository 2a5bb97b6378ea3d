"""`invoke ci.health-report`: the hourly job's summary from `invoke status --json`, failing on critical checks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]


def _tenant(name: str, severity: str, dns: str = "ok") -> dict[str, Any]:
    checks = {column: {"severity": "ok", "summary": "fine"} for column in ("vps", "keys", "backup", "vault")}
    checks["dns"] = {"severity": dns, "summary": "2 records differ" if dns != "ok" else "all records match"}
    return {"tenant": name, "severity": severity, "checks": checks}


def _report(tmp_path: Path, body: str | None) -> tuple[subprocess.CompletedProcess[str], str]:
    status, summary = tmp_path / "status.json", tmp_path / "summary.md"
    if body is not None:
        status.write_text(body)
    result = subprocess.run([sys.executable, "-m", "invoke", "ci.health-report", "--status-file", str(status)],
                            cwd=REPO, env={"PATH": "/usr/bin:/bin", "GITHUB_STEP_SUMMARY": str(summary)},
                            capture_output=True, text=True, timeout=120, check=False)
    return result, summary.read_text() if summary.exists() else ""


def test_a_critical_dns_drift_fails_the_job_and_is_named_in_the_summary(tmp_path: Path) -> None:
    report = {"checked_at": "2026-11-25T03:17:00Z", "severity": "critical",
              "summary": {"tenants": {"ok": 9998, "critical": 1, "warning": 1}, "checks": {"ok": 59998}},
              "tenants": [_tenant("t00001", "ok"), _tenant("t00002", "critical", "critical"),
                          _tenant("t00003", "warning", "warning")]}
    result, summary = _report(tmp_path, json.dumps(report))
    assert result.returncode == 2, result.stdout + result.stderr
    assert "| tenants | 1 | 0 | 1 | 9998 |" in summary
    assert "| t00002 | dns: critical - 2 records differ |" in summary and "t00003 |" not in summary


def test_warnings_pass_and_a_missing_report_fails(tmp_path: Path) -> None:
    report = {"checked_at": "x", "severity": "warning", "summary": {"tenants": {"warning": 1}, "checks": {}},
              "tenants": [_tenant("t00003", "warning", "warning")]}
    assert _report(tmp_path, json.dumps(report))[0].returncode == 0
    (tmp_path / "crashed").mkdir()  # `invoke status` died before writing its report
    result, summary = _report(tmp_path / "crashed", None)
    assert result.returncode == 2 and "no status report" in result.stdout + result.stderr
    assert "Fleet health: no report" in summary
