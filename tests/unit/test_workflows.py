"""The GitHub workflows are linted with actionlint (installed by scripts/setup.sh) and call invoke tasks."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))


def _actionlint() -> str | None:
    cached = Path.home() / ".cache" / "pm-toolkit" / "bin" / "actionlint"
    return str(cached) if cached.exists() else shutil.which("actionlint")


def test_workflows_pass_actionlint() -> None:
    binary = _actionlint()
    if binary is None:
        if os.environ.get("CI") == "true":
            pytest.fail("actionlint is not installed: scripts/setup.sh should have built it")
        pytest.skip("actionlint not installed (scripts/setup.sh builds it with Go)")
    result = subprocess.run([binary, *map(str, WORKFLOWS)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_runs_stacks_through_invoke_with_a_guard(path: Path) -> None:
    data = yaml.safe_load(path.read_text())
    jobs = data["jobs"]
    runs = [step.get("run", "") for job in jobs.values() for step in job.get("steps", [])]
    assert any("invoke ci.plan" in run for run in runs)
    assert any("invoke ci.deploy" in run for run in runs)
    assert any("invoke ci.vault-login" in run for run in runs)
    stack_jobs = [job for job in jobs.values() if "matrix" in job.get("strategy", {})]
    assert stack_jobs and all("--shard" in step.get("run", "") for job in stack_jobs for step in job["steps"]
                              if "invoke ci.deploy" in step.get("run", ""))
    assert data["concurrency"]["group"]  # one run of the workflow at a time (per pull request for previews)
    assert data["permissions"]["id-token"] == "write"
