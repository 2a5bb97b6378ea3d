"""`invoke ci.deploy` through the Automation API with the real engine: many stacks in parallel, one summary,
non-zero exit when any stack failed while the others still finish."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from pipeline.deploy import run_stacks
from tests.e2e.engine import REPO, pulumi, pulumi_env, python_project

PROGRAM = textwrap.dedent("""\
    import pulumi
    import pulumi.dynamic


    class Echo(pulumi.dynamic.ResourceProvider):
        def create(self, props):
            if props["fail"]:
                raise RuntimeError("this stack is configured to fail")
            return pulumi.dynamic.CreateResult(id_=props["text"], outs=props)


    class EchoResource(pulumi.dynamic.Resource):
        def __init__(self, name, props):
            super().__init__(Echo(), name, props)


    config = pulumi.Config()
    props = {"text": pulumi.get_stack(), "fail": config.get_bool("fail") or False}
    resource = EchoResource("echo", props)
    pulumi.export("text", resource.id)
""")


def _project(tmp_path: Path, stacks: dict[str, bool]) -> tuple[Path, dict[str, str]]:
    project = python_project(tmp_path / "project", "pm-ci-deploy", PROGRAM)
    (tmp_path / "state").mkdir()
    env = pulumi_env(tmp_path / "state")
    for stack, fail in stacks.items():
        pulumi(project, env, "stack", "init", stack)
        pulumi(project, env, "config", "set", "fail", "true" if fail else "false", "--stack", stack)
    return project, env


def test_run_stacks_preview_and_up_with_one_failure(tmp_path: Path) -> None:
    project, env = _project(tmp_path, {"t1": False, "t2": True, "t3": False})
    previews = run_stacks(["t1", "t2", "t3"], "preview", work_dir=project, parallelism=2, env=env)
    assert [r.ok for r in previews] == [True, True, True]  # preview does not create, so nothing fails yet
    assert previews[0].changes.get("create") == 2

    results = run_stacks(["t1", "t2", "t3"], "up", work_dir=project, parallelism=2, env=env)
    assert [(r.stack, r.ok) for r in results] == [("t1", True), ("t2", False), ("t3", True)]
    assert "this stack is configured to fail" in (results[1].error or "")
    assert results[0].changes.get("create") == 2

    again = run_stacks(["t1", "t3"], "preview", work_dir=project, parallelism=2, env=env)
    assert all(r.ok and set(r.changes) <= {"same"} for r in again)


def test_invoke_ci_deploy_exit_code_and_summary(tmp_path: Path) -> None:
    project, env = _project(tmp_path, {"good": False, "bad": True})
    result = subprocess.run(
        [sys.executable, "-m", "invoke", "ci.deploy", "--operation", "up", "--stacks", "good,bad",
         "--work-dir", str(project), "--parallelism", "2"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600, check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "1 of 2 stack(s) failed" in output
    assert "good" in output and "FAILED" in output
