from __future__ import annotations

import ast
import subprocess
from pathlib import Path

import pytest

from pipeline.plan import SHARED_PREFIXES, PlanError, all_stacks, changed_files, plan, plan_all

STACKS = ["acme", "beta", "gamma"]


def test_stack_file_change_touches_only_that_stack() -> None:
    result = plan(["stacks/Pulumi.beta.yaml", "README.md"], STACKS)
    assert result.stacks == ("beta",)


SHARED = ["vault/kv.py", "components/tenant.py", "fleet/intent.py", "__main__.py", "Pulumi.yaml", "pyproject.toml"]
UNRELATED = ["README.md", "tests/unit/test_x.py", "bench/bench_vault.py", ".github/workflows/x.yml"]


@pytest.mark.parametrize("path", SHARED)
def test_shared_code_change_touches_all(path: str) -> None:
    result = plan([path], STACKS)
    assert result.stacks == tuple(STACKS)
    assert all(path in why for why in result.reason.values())


@pytest.mark.parametrize("path", UNRELATED)
def test_unrelated_change_touches_none(path: str) -> None:
    assert plan([path], STACKS).stacks == ()


def test_every_stack_without_a_base_says_so() -> None:
    result = plan_all(STACKS, "every stack committed at HEAD (no --base to compare with)")
    assert result.stacks == tuple(STACKS)
    assert set(result.reason.values()) == {"every stack committed at HEAD (no --base to compare with)"}


def test_every_package_the_tenant_program_imports_counts_as_shared_code() -> None:
    repo = Path(__file__).resolve().parents[2]
    local = {p.name for p in repo.iterdir() if (p / "__init__.py").exists()}
    seen: set[str] = set()
    todo = [repo / "__main__.py"]
    while todo:
        source = todo.pop()
        for node in ast.walk(ast.parse(source.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level
                     else [])
            for name in names:
                package = name.split(".")[0]
                path = repo / Path(*name.split("."))
                if package not in local or name in seen:
                    continue
                seen.add(name)
                todo += [p for p in (path.with_suffix(".py"), path / "__init__.py") if p.exists()]
    imported = {name.split(".")[0] for name in seen}
    assert {"components", "fleet", "toolkit", "vault"} <= imported  # the walk found the program's imports
    assert {f"{package}/" for package in imported} <= set(SHARED_PREFIXES), "count these packages as shared code"
    assert "sandbox" not in imported and "tasks_lib" not in imported


def test_removed_stack_is_reported_not_deployed() -> None:
    result = plan(["stacks/Pulumi.gone.yaml"], STACKS)
    assert result.stacks == () and result.removed == ("gone",)


def test_git_diff_and_stack_listing(tmp_path: Path) -> None:
    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    (tmp_path / "stacks").mkdir()
    (tmp_path / "stacks" / "Pulumi.acme.yaml").write_text("config: {}\n")
    (tmp_path / "stacks" / "Pulumi.beta.yaml").write_text("config: {}\n")
    (tmp_path / "stacks" / "notes.txt").write_text("not a stack\n")
    git("init", "-q", "-b", "main")
    git("-c", "user.email=t@t", "-c", "user.name=t", "add", ".")
    git("-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "one")
    (tmp_path / "stacks" / "Pulumi.beta.yaml").write_text("config: {pm:size: medium}\n")
    git("-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qam", "two")
    (tmp_path / "stacks" / "Pulumi.draft.yaml").write_text("config: {}\n")  # untracked: not a stack yet
    assert all_stacks(tmp_path) == ["acme", "beta"]
    assert all_stacks(tmp_path, "HEAD~1") == ["acme", "beta"]
    assert plan(changed_files(tmp_path, "HEAD~1"), all_stacks(tmp_path)).stacks == ("beta",)
    with pytest.raises(PlanError, match="no-such-rev"):
        all_stacks(tmp_path, "no-such-rev")
    with pytest.raises(PlanError, match="no-such-rev"):
        changed_files(tmp_path, "no-such-rev")


def test_failure_summary_keeps_the_first_error_when_the_tail_holds_only_consequences() -> None:
    from fleet.stack_engine import failure_summary

    text = "\n".join(["Updating (t2):", "  + echo creating", "    error: Exception: this stack is configured to fail",
                      *[f"  detail line {i}" for i in range(20)], "    error: update failed",
                      "    error: Resource monitor has terminated, shutting down", "Resources:", "    2 errored"])
    summary = failure_summary(text)
    assert "configured to fail" in summary and summary.endswith("2 errored")
    assert summary.count("error: update failed") == 1
