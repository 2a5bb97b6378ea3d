"""The GitHub workflows are linted with actionlint (installed by scripts/setup.sh) and call invoke tasks."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

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


def _load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((REPO / ".github" / "workflows" / name).read_text())
    return data


def _runs(data: dict[str, Any]) -> list[str]:
    return [step.get("run", "") for job in data["jobs"].values() for step in job.get("steps", [])]


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_every_matrix_job_deploys_a_shard_and_runs_of_a_workflow_do_not_overlap(path: Path) -> None:
    data = yaml.safe_load(path.read_text())
    triggers = data.get(True, data.get("on"))  # YAML 1.1 reads the key `on` as True
    if "workflow_call" not in triggers:  # a called workflow runs inside its caller's group
        assert data["concurrency"]["group"]
    for job in data["jobs"].values():
        if "matrix" in job.get("strategy", {}):
            assert all("--shard" in step.get("run", "") for step in job["steps"] if "invoke ci.deploy" in step.get(
                "run", ""))


def test_previews_plan_log_in_and_preview_shards() -> None:
    data = _load("tenant-preview.yml")
    runs = _runs(data)
    assert any("invoke ci.plan" in run for run in runs)
    assert any("invoke ci.vault-login --role ci-preview" in run for run in runs)
    assert any("invoke ci.deploy --operation preview" in run and "--shard" in run for run in runs)
    assert data["permissions"]["id-token"] == "write"


def test_deploys_go_stage_by_stage_through_shards_and_gates() -> None:
    from pipeline.waves import MAX_STAGES

    deploy = _load("tenant-deploy.yml")
    assert any("invoke ci.plan" in run for run in _runs(deploy))
    stages = [name for name in deploy["jobs"] if name.startswith("stage-")]
    assert len(stages) == MAX_STAGES  # one job per stage ci.plan can emit
    for number, name in enumerate(stages, 1):
        job = deploy["jobs"][name]
        assert job["uses"] == "./.github/workflows/tenant-deploy-stage.yml"
        assert f"stage{number}" in job["if"] and f"matrix{number}" in job["with"]["matrix"]
        if number > 1:  # a halted stage (its gate failed) skips every later one
            assert f"stage-{number - 1}" in job["needs"]
    stage = _load("tenant-deploy-stage.yml")
    runs = _runs(stage)
    assert any("invoke ci.deploy --operation up --stage" in run and "--shard" in run for run in runs)
    assert any("invoke ci.rollout-gate" in run for run in runs)
    assert any("invoke ci.vault-login --role ci-deploy" in run for run in runs)
    assert stage["jobs"]["gate"]["needs"] == "deploy" and "!cancelled()" in stage["jobs"]["gate"]["if"]
    assert deploy["permissions"]["id-token"] == "write" and stage["permissions"]["id-token"] == "write"


@pytest.mark.parametrize(("name", "cron", "tasks"), [
    ("vault-backup.yml", "0 2 * * *", ["invoke ci.locked --name vault-backup --task vault.backup --task "
                                       "vault.backup-status"]),
    ("rotate-due.yml", "30 3 * * *", ["invoke rotate.due"]),  # holds the lock rotate-due itself
    ("fleet-health.yml", "17 * * * *", ["invoke status --json", "invoke ci.health-report --status-file"]),
    ("dr-drill.yml", "0 4 1 1,4,7,10 *", ['invoke ci.locked --name dr-drill --task "dr.drill']),
])
def test_scheduled_jobs_run_their_tasks_queued_and_locked(name: str, cron: str, tasks: list[str]) -> None:
    data = _load(name)
    triggers = data.get(True, data.get("on"))
    assert triggers["schedule"] == [{"cron": cron}] and "workflow_dispatch" in triggers  # by hand after a miss
    assert data["concurrency"] == {"group": name.removesuffix(".yml"), "cancel-in-progress": False}
    runs = _runs(data)
    assert any("invoke ci.vault-login" in run for run in runs)
    for wanted in tasks:
        assert any(wanted in run for run in runs), wanted
