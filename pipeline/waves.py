"""The stages of a deployment: canary stacks first, then waves of growing size (a shared-code change), or one stage
(a change to some stack files only).

- Canary stacks are named in ``stacks/canary.txt`` (one stack per line, ``#`` comments), read from the commit being
  deployed; a name without a committed stack file is refused (a typo must not silently skip the canary).
- The other stacks go into waves of ``WAVES`` shares (2 %, 8 %, 30 %) and the rest, at least one stack each; a last
  wave smaller than the one before joins it, so sizes only grow. Stacks are ordered by a hash of their name, so a
  wave samples the whole fleet rather than one end of the alphabet, the same way on every run.
- The rollout id names the code (the commit) and the exact stages: a CI re-run of the same change finds its
  progress record again; any other change starts a new rollout.
"""

from __future__ import annotations

import hashlib
import json
import math
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pipeline.plan import Plan, PlanError, all_stacks, plan_for, resolve

CANARY_FILE = "stacks/canary.txt"
WAVES: tuple[float, ...] = (0.02, 0.08, 0.30)
"""Shares of the non-canary stacks in the first waves; one more wave takes the rest."""
CANARY = "canary"
ALL = "stacks"
MAX_STAGES = 1 + len(WAVES) + 1
"""canary, the waves and the rest: the deploy workflow has one stage job per possible stage."""


@dataclass(frozen=True)
class Stage:
    name: str
    stacks: tuple[str, ...]

    @property
    def canary(self) -> bool:
        return self.name == CANARY


def parse_canaries(text: str) -> list[str]:
    """Stack names, one per line; blank lines and ``#`` comments ignored; order kept, duplicates dropped."""
    names = [line.split("#", 1)[0].strip() for line in text.splitlines()]
    return list(dict.fromkeys(name for name in names if name))


def canaries_at(repo: Path, head: str = "HEAD", path: str = CANARY_FILE) -> list[str]:
    """The canary list committed at ``head`` (none when the file does not exist there)."""
    reply = subprocess.run(["git", "show", f"{head}:{path}"], cwd=repo, capture_output=True, text=True, check=False)
    if reply.returncode != 0:
        if "does not exist" in reply.stderr or "exists on disk, but not in" in reply.stderr:
            return []
        raise PlanError(f"git show {head}:{path} failed: {reply.stderr.strip()}")
    return parse_canaries(reply.stdout)


def check_canaries(canaries: Iterable[str], existing: Iterable[str]) -> None:
    unknown = sorted(set(canaries) - set(existing))
    if unknown:
        raise PlanError(f"{CANARY_FILE} names stacks that have no stack file: {', '.join(unknown)}")


def wave_sizes(count: int, shares: Sequence[float] = WAVES) -> list[int]:
    """How many stacks each wave gets: the shares (at least one stack each), then the rest; empty waves dropped,
    a last wave smaller than the one before merged into it."""
    sizes: list[int] = []
    left = count
    for share in shares:
        size = min(left, max(1, math.ceil(share * count)))
        if size:
            sizes.append(size)
        left -= size
    if left:
        sizes.append(left)
    if len(sizes) > 1 and sizes[-1] < sizes[-2]:
        sizes[-2:] = [sizes[-2] + sizes[-1]]
    return sizes


def _spread(stacks: Iterable[str]) -> list[str]:
    return sorted(set(stacks), key=lambda name: (hashlib.sha256(name.encode()).hexdigest(), name))


def stages_for(stacks: Sequence[str], canaries: Sequence[str] = (), *, progressive: bool = True,
               shares: Sequence[float] = WAVES) -> list[Stage]:
    """The stages that deploy ``stacks``: canaries (those among ``stacks``) then waves, or one stage when the change
    is not progressive (only some stack files changed). Empty stages are left out."""
    if not stacks:
        return []
    if not progressive:
        return [Stage(ALL, tuple(sorted(set(stacks))))]
    chosen = set(stacks)
    first = tuple(sorted(name for name in dict.fromkeys(canaries) if name in chosen))
    rest = _spread(chosen - set(first))
    stages = [Stage(CANARY, first)] if first else []
    start = 0
    for number, size in enumerate(wave_sizes(len(rest), shares), 1):
        stages.append(Stage(f"wave-{number}", tuple(sorted(rest[start:start + size]))))
        start += size
    return stages


def rollout_id(code_revision: str, stages: Sequence[Stage]) -> str:
    """``<commit>-<digest of the stages>``: the same change re-run finds its record; another change does not."""
    digest = hashlib.sha256(json.dumps([[s.name, list(s.stacks)] for s in stages]).encode()).hexdigest()
    return f"{code_revision[:12]}-{digest[:8]}"


@dataclass(frozen=True)
class RolloutPlan:
    plan: Plan
    stages: list[Stage]
    rollout: str


def rollout_plan(repo: Path, base: str = "", head: str = "HEAD", only: Iterable[str] = ()) -> RolloutPlan:
    """The stages of the change ``base...head`` (``plan_for``), with the canaries committed at ``head``: what
    ``ci.plan``, each shard of ``ci.deploy --stage`` and ``ci.rollout-gate`` compute alike."""
    result = plan_for(repo, base, head, only)
    canaries = canaries_at(repo, head)
    check_canaries(canaries, all_stacks(repo, head))
    stages = stages_for(result.stacks, canaries, progressive=result.progressive)
    return RolloutPlan(result, stages, rollout_id(resolve(repo, head), stages))


def stage_named(stages: Sequence[Stage], name: str) -> Stage:
    for stage in stages:
        if stage.name == name:
            return stage
    raise PlanError(f"no stage {name!r} in this plan (stages: {', '.join(s.name for s in stages) or 'none'})")
