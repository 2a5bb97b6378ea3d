"""Which tenant stacks a change touches.

A changed ``stacks/Pulumi.<tenant>.yaml`` touches that tenant; a change to code or settings every stack runs
(the toolkit's packages, ``__main__.py``, ``Pulumi.yaml``, ``pyproject.toml``) touches all of them; anything
else (docs, tests, benchmarks, workflows) touches none.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from toolkit.errors import ToolkitError

STACK_FILE = re.compile(r"^stacks/Pulumi\.(?P<stack>[a-z0-9][a-z0-9-]*)\.yaml$")
SHARED_PREFIXES = (
    "components/", "fleet/", "hostops/", "hostwinds/", "vault/", "mailu/", "dnsrecords/", "toolkit/",
)
"""Every package the tenant program imports (a unit test derives the list from ``__main__.py`` and fails when one
is missing: a change there changes what `pulumi up` does)."""
SHARED_FILES = ("__main__.py", "Pulumi.yaml", "pyproject.toml")


class PlanError(ToolkitError):
    """The change set could not be computed (e.g. an unknown git revision)."""


@dataclass(frozen=True)
class Plan:
    stacks: tuple[str, ...]
    reason: dict[str, str] = field(default_factory=dict)
    removed: tuple[str, ...] = ()
    progressive: bool = False
    """Every stack is touched for a reason outside its own stack file (shared code, no base to compare with): the
    deployment goes canaries first, then waves (``pipeline.waves``)."""


def all_stacks(repo: Path, revision: str = "HEAD") -> list[str]:
    """The stacks committed at ``revision``: an untracked or uncommitted stack file is not a deployable stack."""
    try:
        out = subprocess.run(
            ["git", "ls-tree", "--name-only", f"{revision}:stacks"], cwd=repo, check=True, capture_output=True,
            text=True,
        ).stdout
    except subprocess.CalledProcessError as exc:
        raise PlanError(f"git ls-tree {revision}:stacks failed: {exc.stderr.strip()}") from exc
    return sorted(match.group("stack") for name in out.splitlines() if (match := STACK_FILE.match(f"stacks/{name}")))


def stacks_on_disk(project: Path) -> list[str]:
    """The stack files in a project's working tree (what `ci.deploy` runs when no stack is named)."""
    return sorted(match.group("stack") for path in (project / "stacks").glob("Pulumi.*.yaml")
                  if (match := STACK_FILE.match(f"stacks/{path.name}")))


def plan_all(existing: Iterable[str], why: str) -> Plan:
    """Every stack, for one stated reason (no base revision to compare with, a scheduled run)."""
    ordered = tuple(sorted(set(existing)))
    return Plan(stacks=ordered, reason=dict.fromkeys(ordered, why), progressive=True)


def plan(changed: Iterable[str], existing: Iterable[str]) -> Plan:
    existing_set = set(existing)
    touched: dict[str, str] = {}
    removed: list[str] = []
    shared_change: str | None = None
    for path in changed:
        match = STACK_FILE.match(path)
        if match:
            stack = match.group("stack")
            if stack in existing_set:
                touched.setdefault(stack, f"its stack file {path} changed")
            else:
                removed.append(stack)
        elif path in SHARED_FILES or path.startswith(SHARED_PREFIXES):
            shared_change = shared_change or path
    if shared_change is not None:
        for stack in existing_set:
            touched.setdefault(stack, f"shared code changed ({shared_change})")
    ordered = tuple(sorted(touched))
    return Plan(stacks=ordered, reason={s: touched[s] for s in ordered}, removed=tuple(sorted(removed)),
                progressive=shared_change is not None)


def plan_for(repo: Path, base: str = "", head: str = "HEAD", only: Iterable[str] = ()) -> Plan:
    """The plan of a change: the stacks ``base...head`` touches (every stack committed at ``head`` without a
    base), restricted to ``only`` when given. ``ci.plan`` and ``ci.deploy --shard`` both call this with the same
    revisions, so every shard job sees the list the plan job saw."""
    existing = all_stacks(repo, head)
    result = (plan(changed_files(repo, base, head), existing) if base
              else plan_all(existing, f"every stack committed at {head} (no --base to compare with)"))
    wanted = sorted(set(only))
    if not wanted:
        return result
    unknown = [stack for stack in wanted if stack not in existing]
    if unknown:
        raise PlanError(f"no stack file committed at {head} for: {', '.join(unknown)}")
    kept = tuple(stack for stack in result.stacks if stack in wanted)
    return Plan(stacks=kept, reason={s: result.reason[s] for s in kept}, removed=result.removed,
                progressive=result.progressive)


def resolve(repo: Path, revision: str) -> str:
    """The commit a revision names (the plan job hands it to the deploy jobs: a branch may move meanwhile)."""
    try:
        return subprocess.run(["git", "rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}"], cwd=repo,
                              check=True, capture_output=True, text=True).stdout.strip()
    except subprocess.CalledProcessError:
        raise PlanError(f"git revision {revision!r} does not name a commit") from None


def changed_files(repo: Path, base: str, head: str = "HEAD") -> list[str]:
    try:
        out = subprocess.run(
            ["git", "diff", "--name-only", f"{base}...{head}"], cwd=repo, check=True,
            capture_output=True, text=True,
        ).stdout
    except subprocess.CalledProcessError as exc:
        raise PlanError(f"git diff {base}...{head} failed: {exc.stderr.strip()}") from exc
    return [line for line in out.splitlines() if line]
