"""`invoke ci.rollout` with the real engine on six tiny stacks and real OpenBao for the progress record: the canary,
then waves; a failing wave halts the rollout with a summary of what was and was not deployed; after the fix the
same command resumes after the last completed wave (no stack of a completed wave is deployed again)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from pipeline.waves import stages_for
from tests.e2e.engine import REPO, pulumi, pulumi_env, python_project
from vault.client import VaultClient

PROGRAM = textwrap.dedent("""\
    import pulumi
    import pulumi.dynamic


    class Echo(pulumi.dynamic.ResourceProvider):
        def create(self, props):
            if props["fail"]:
                raise RuntimeError("this stack is configured to fail")
            return pulumi.dynamic.CreateResult(id_=props["text"], outs=props)

        def diff(self, _id, olds, news):
            return pulumi.dynamic.DiffResult(changes=olds != news, replaces=["fail"] if olds != news else [])


    class EchoResource(pulumi.dynamic.Resource):
        def __init__(self, name, props):
            super().__init__(Echo(), name, props)


    config = pulumi.Config()
    resource = EchoResource("echo", {"text": pulumi.get_stack(), "fail": config.get_bool("fail") or False})
    pulumi.export("text", resource.id)
""")
STACKS = ["c1", "s1", "s2", "s3", "s4", "s5"]


def _updates(project: Path, env: dict[str, str], stack: str) -> int:
    history = pulumi(project, env, "stack", "history", "--json", "--stack", stack).stdout
    return sum(1 for entry in json.loads(history or "[]") if entry.get("kind") == "update")


def test_rollout_halts_on_a_failing_wave_and_resumes_after_the_last_completed_one(
        tmp_path: Path, vault_system: VaultClient) -> None:
    stages = stages_for(STACKS, ["c1"])
    assert [(s.name, len(s.stacks)) for s in stages] == [("canary", 1), ("wave-1", 1), ("wave-2", 1), ("wave-3", 3)]
    broken = stages[2].stacks[0]
    project = python_project(tmp_path / "project", "pm-rollout", PROGRAM)
    (project / "stacks").mkdir()
    (project / "stacks" / "canary.txt").write_text("# deployed first\nc1\n")
    (tmp_path / "state").mkdir()
    env = pulumi_env(tmp_path / "state", {
        "VAULT_ADDR": vault_system.config.addresses[0], "VAULT_TOKEN": vault_system.token.reveal(), "COLUMNS": "200"})
    for stack in STACKS:
        pulumi(project, env, "stack", "init", stack)
        pulumi(project, env, "config", "set", "fail", "true" if stack == broken else "false", "--stack", stack)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True,
                          check=True).stdout.strip()  # the code's commit names the rollout, fixed for both runs
    command = [sys.executable, "-m", "invoke", "ci.rollout", "--work-dir", str(project), "--stacks",
               ",".join(STACKS), "--head", head, "--parallelism", "3"]

    first = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=900, check=False)
    output = first.stdout + first.stderr
    assert first.returncode == 1, output
    assert "rollout halted at wave-2: 1/1 failed, more than 5%" in output
    assert f"{broken}: RuntimeError: this stack is configured to fail" in output
    assert "deployed 2, failed 1, not deployed 3" in output
    assert [_updates(project, env, s) for s in stages[0].stacks + stages[1].stacks] == [1, 1]
    assert all(_updates(project, env, s) == 0 for s in stages[3].stacks)  # the halted rollout never reached them

    pulumi(project, env, "config", "set", "fail", "false", "--stack", broken)
    second = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=900, check=False)
    output = second.stdout + second.stderr
    assert second.returncode == 0, output
    assert "resumed: canary, wave-1 completed by an earlier run" in output
    assert "deployed 6, failed 0, not deployed 0" in output
    assert [_updates(project, env, s) for s in stages[0].stacks + stages[1].stacks] == [1, 1]  # not again
    assert all(_updates(project, env, s) == 1 for s in stages[3].stacks)
    outputs = json.loads(pulumi(project, env, "stack", "output", "--json", "--stack", broken).stdout)
    assert outputs == {"text": broken}
