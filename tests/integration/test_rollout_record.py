"""The rollout's progress record in real OpenBao, written with the system policy the deploy jobs log in with:
64 shard jobs of one stage report at once without losing an outcome, the gate judges the stage, a re-run deploys
only what has not succeeded, and a completed stage is not judged again."""

from __future__ import annotations

import datetime as dt
import secrets
from concurrent.futures import ThreadPoolExecutor

from pipeline.deploy import StackResult
from pipeline.rollout import Deploy, RolloutRecord, close_stage, deploy_stage
from pipeline.shards import Shard, slice_of
from pipeline.waves import Stage
from vault.client import VaultClient

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
