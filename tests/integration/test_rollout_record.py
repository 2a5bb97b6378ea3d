"""The rollout's progress record in real OpenBao, written with the system policy the deploy jobs log in with:
64 shard jobs of one stage report at once without losing an outcome, the gate judges the stage, a re-run deploys
only what has not succeeded, and a completed stage is not judged again."""

from __future__ import annotations

import datetime as dt
import secrets
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from pipeline.deploy import StackResult
from pipeline.rollout import Deploy, RolloutRecord, close_stage, deploy_stage
from pipeline.shards import Shard, slice_of
from pipeline.waves import Stage, rollout_plan
from vault.client import VaultClient

REPO = Path(__file__).resolve().parents[2]
NOW = dt.datetime(2026, 11, 25, 2, 0, tzinfo=dt.UTC)


def _deployer(failing: set[str], seen: list[str]) -> Deploy:
    """Stands in for the engine (its e2e is tests/e2e/test_rollout_e2e.py): what is under test is the record."""
    def deploy(stacks: list[str]) -> list[StackResult]:
        seen.extend(stacks)
        return [StackResult(s, "up", s not in failing, 0.1, error="Exception: boom" if s in failing else None)
                for s in stacks]
    return deploy


def test_shards_report_concurrently_and_the_gate_judges_the_whole_stage(vault_system: VaultClient) -> None:
    stage = Stage("wave-3", tuple(f"t{i:04d}" for i in range(640)))
    record = RolloutRecord(vault_system, f"test-{secrets.token_hex(4)}")
    failing = {"t0003", "t0400"}
    seen: list[str] = []
    shards = [Shard(i, 64) for i in range(1, 65)]
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda shard: deploy_stage(record, stage, slice_of(stage.stacks, shard),
                                                 _deployer(failing, seen)), shards))
    current = record.stage("wave-3")
    assert len(current.ok) == 638 and set(current.failed) == failing and current.failed["t0003"] == "Exception: boom"
    verdict = close_stage(record, stage, NOW, max_failure_ratio=0.05)
    assert not verdict.halted and (verdict.ok, verdict.failed) == (638, 2)
    assert record.stage("wave-3").completed


def test_a_halted_stage_run_again_deploys_only_what_did_not_succeed(vault_system: VaultClient) -> None:
    stage = Stage("wave-1", ("a1", "a2", "a3", "a4"))
    record = RolloutRecord(vault_system, f"test-{secrets.token_hex(4)}")
    deploy_stage(record, stage, stage.stacks[:2], _deployer({"a2"}, []))  # shard 2 never reported
    verdict = close_stage(record, stage, NOW)
    assert verdict.halted and verdict.missing == 2 and "no result" in verdict.reason
    assert record.stage("wave-1").closed == {"state": "halted", "reason": verdict.reason, "at": NOW.isoformat()}
    again: list[str] = []
    deploy_stage(record, stage, stage.stacks, _deployer(set(), again))
    assert again == ["a2", "a3", "a4"]  # a1 succeeded in the first run
    assert not close_stage(record, stage, NOW).halted
    assert close_stage(record, stage, NOW).reason == "completed by an earlier run"


def test_the_gate_of_the_ci_stage_jobs_halts_until_every_stack_reported(vault_system: VaultClient,
                                                                          tmp_path: Path) -> None:
    """`invoke ci.rollout-gate` as the workflow runs it after a stage's shard jobs (here: the repository's own
    stack, its one shard's outcome recorded the way `ci.deploy --stage` records it)."""
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True,
                          check=True).stdout.strip()
    planned = rollout_plan(REPO, "", head, ["demo"])
    stage = planned.stages[0]
    assert stage.stacks == ("demo",)
    summary = tmp_path / "summary.md"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "VAULT_ADDR": vault_system.config.addresses[0],
           "VAULT_TOKEN": vault_system.token.reveal(), "GITHUB_STEP_SUMMARY": str(summary), "COLUMNS": "200"}
    gate = [sys.executable, "-m", "invoke", "ci.rollout-gate", "--stage", stage.name, "--stacks", "demo",
            "--head", head]

    early = subprocess.run(gate, cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert early.returncode == 1, early.stdout + early.stderr
    assert "1 stack(s) have no result" in early.stdout + early.stderr

    RolloutRecord(vault_system, planned.rollout).report(stage.name, [StackResult("demo", "up", True, 1.0)])
    done = subprocess.run(gate, cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "deployed 1, failed 0, not deployed 0" in done.stdout + done.stderr
    assert f"### Rollout `{planned.rollout}`" in summary.read_text()
    assert f"| {stage.name} | 1 | 1 | 0 | 0 | completed |" in summary.read_text()
