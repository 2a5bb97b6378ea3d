"""`invoke ci.plan` on a repository of 300 stacks: a shared-code change is 64 jobs whose shards `ci.deploy --shard`
recomputes from the same revisions; a non-stack file in stacks/ (the canary list) is no stack."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pipeline.plan import PlanError, plan_for, resolve
from pipeline.shards import Shard, slice_of
from pipeline.stack_checks import stack_file_problems

REPO = Path(__file__).resolve().parents[2]


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.email=t@t", "-c", "user.name=t", *args], cwd=repo, check=True,
                          capture_output=True, text=True).stdout.strip()


@pytest.fixture(scope="module")
def fleet_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = tmp_path_factory.mktemp("fleet")
    stacks = repo / "stacks"
    stacks.mkdir()
    for i in range(300):
        tenant = f"t{i:03d}"
        config = {"tenant_id": tenant, "domain": f"{tenant}.sandbox.test", "dkim_selector": "pm20261125",
                  "dns": {"provider": "rfc2136", "server": "127.0.0.1", "zone": "sandbox.test", "tsig_key_name": "k"}}
        (stacks / f"Pulumi.{tenant}.yaml").write_text(yaml.safe_dump({"config": {f"pm:{k}": v
                                                                                  for k, v in config.items()}}))
    (stacks / "canary.txt").write_text("# canary stacks, deployed first\nt007\n")
    (repo / "fleet").mkdir()
    (repo / "fleet" / "x.py").write_text("A = 1\n")
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "fleet")
    (repo / "fleet" / "x.py").write_text("A = 2\n")
    _git(repo, "commit", "-qam", "shared code")
    one = stacks / "Pulumi.t042.yaml"
    one.write_text(one.read_text().replace("pm20261125", "pm20261126"))
    _git(repo, "commit", "-qam", "one stack")
    return repo


def _plan(repo: Path, *args: str, tmp_path: Path) -> tuple[dict[str, object], dict[str, str]]:
    output = tmp_path / "github_output"
    output.write_text("")
    result = subprocess.run([sys.executable, "-m", "invoke", "ci.plan", "--repo", str(repo), *args], cwd=REPO,
                            capture_output=True, text=True, timeout=120, check=False,
                            env={"PATH": "/usr/bin:/bin", "GITHUB_OUTPUT": str(output)})
    assert result.returncode == 0, result.stdout + result.stderr
    values = dict(line.split("=", 1) for line in output.read_text().splitlines())
    return json.loads(result.stdout), values


def test_a_shared_code_change_is_canaries_then_waves_of_at_most_64_jobs(fleet_repo: Path, tmp_path: Path) -> None:
    printed, out = _plan(fleet_repo, "--base", "HEAD~2", "--head", "HEAD~1", tmp_path=tmp_path)
    assert printed["matrix"] == {"include": [{"shard": f"{i}/64"} for i in range(1, 65)]}  # the previews' jobs
    stages = {stage["name"]: stage for stage in printed["stages"]}  # type: ignore[attr-defined]
    assert list(stages) == ["canary", "wave-1", "wave-2", "wave-3", "wave-4"]
    assert [stages[name]["stacks"] for name in stages] == [1, 6, 24, 90, 179]
    assert stages["wave-4"]["matrix"] == {"include": [{"shard": f"{i}/64"} for i in range(1, 65)]}
    assert [out[f"stage{i}"] for i in range(1, 6)] == list(stages)
    assert json.loads(out["matrix1"]) == {"include": [{"shard": "1/1"}]}
    assert out["any"] == "true" and out["stacks"] == "300" and out["base"] == _git(fleet_repo, "rev-parse", "HEAD~2")
    assert out["rollout"] == printed["rollout"] and out["rollout"].startswith(_git(fleet_repo, "rev-parse",
                                                                                    "HEAD~1")[:12])
    shards = [slice_of(plan_for(fleet_repo, out["base"], "HEAD~1").stacks, Shard(i, 64)) for i in range(1, 65)]
    assert sorted(s for part in shards for s in part) == [f"t{i:03d}" for i in range(300)]


def test_a_stack_file_change_is_one_job_and_the_limit_is_enforced(fleet_repo: Path, tmp_path: Path) -> None:
    printed, out = _plan(fleet_repo, "--base", "HEAD~1", tmp_path=tmp_path)
    assert printed["stages"] == [{"name": "stacks", "stacks": 1, "matrix": {"include": [{"shard": "1/1"}]}}]
    assert out["stacks"] == "1" and out["stage1"] == "stacks" and out["stage2"] == ""
    refused = subprocess.run([sys.executable, "-m", "invoke", "ci.plan", "--repo", str(fleet_repo), "--max-jobs",
                              "257"], cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
    assert refused.returncode == 2 and "256" in refused.stdout + refused.stderr


def test_the_canary_list_is_not_a_stack_and_a_manual_run_names_committed_stacks(fleet_repo: Path) -> None:
    assert stack_file_problems(fleet_repo / "stacks") == []
    assert "canary" not in plan_for(fleet_repo).stacks and len(plan_for(fleet_repo).stacks) == 300
    assert plan_for(fleet_repo, only=["t001", "t002"]).stacks == ("t001", "t002")
    with pytest.raises(PlanError, match="nope"):
        plan_for(fleet_repo, only=["t001", "nope"])
    with pytest.raises(PlanError, match="no-such"):
        resolve(fleet_repo, "no-such")
