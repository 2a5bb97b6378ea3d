"""Stages of a rollout (canaries, waves of growing size) and the verdict on a stage: pure functions."""

from __future__ import annotations

import pytest

from pipeline.plan import PlanError
from pipeline.rollout import StageRecord, judge
from pipeline.waves import Stage, check_canaries, parse_canaries, rollout_id, stages_for, wave_sizes

FLEET = [f"t{i:05d}" for i in range(10_000)]


@pytest.mark.parametrize("count", [1, 2, 3, 4, 5, 7, 10, 33, 100, 299, 1000, 9995])
def test_waves_cover_every_stack_once_and_only_grow(count: int) -> None:
    sizes = wave_sizes(count)
    assert sum(sizes) == count and all(size > 0 for size in sizes)
    assert sizes == sorted(sizes) and len(sizes) <= 4


def test_ten_thousand_tenants_roll_out_five_canaries_then_2_8_30_percent_and_the_rest() -> None:
    canaries = ["t00042", "t01000", "t05000", "t09999", "t00000"]
    stages = stages_for(FLEET, canaries)
    assert [(s.name, len(s.stacks)) for s in stages] == [
        ("canary", 5), ("wave-1", 200), ("wave-2", 800), ("wave-3", 2999), ("wave-4", 5996)]
    assert stages[0].stacks == tuple(sorted(canaries)) and stages[0].canary
    every = [name for stage in stages for name in stage.stacks]
    assert sorted(every) == FLEET  # each stack in exactly one stage
    first_wave = stages[1].stacks
    assert min(first_wave) < "t01000" and max(first_wave) > "t09000"  # a sample of the fleet, not one end of it


def test_stages_are_deterministic_and_ignore_canaries_the_change_does_not_touch() -> None:
    some = FLEET[:50]
    assert stages_for(list(reversed(some)), ["t00003", "t09999"]) == stages_for(some, ["t00003", "t09999"])
    assert stages_for(some, ["t09999"])[0].name == "wave-1"  # no touched canary: the first wave leads
    assert stages_for(some, ["t00003"])[0] == Stage("canary", ("t00003",))


def test_a_change_to_some_stack_files_is_one_stage() -> None:
    assert stages_for(["b", "a"], ["a"], progressive=False) == [Stage("stacks", ("a", "b"))]
    assert stages_for([], ["a"]) == []


def test_the_rollout_id_names_the_commit_and_the_exact_stages() -> None:
    stages = stages_for(FLEET[:20], ["t00001"])
    assert rollout_id("a" * 40, stages) == rollout_id("a" * 40, stages_for(FLEET[:20], ["t00001"]))
    assert rollout_id("a" * 40, stages).startswith("aaaaaaaaaaaa-")
    assert rollout_id("b" * 40, stages) != rollout_id("a" * 40, stages)
    assert rollout_id("a" * 40, stages_for(FLEET[:21], ["t00001"])) != rollout_id("a" * 40, stages)


def test_the_canary_file_format_and_unknown_names() -> None:
    assert parse_canaries("# canaries\n\nt00001\n  t00002  # the demo tenant\nt00001\n") == ["t00001", "t00002"]
    check_canaries(["t00001"], FLEET)
    with pytest.raises(PlanError, match="t99999"):
        check_canaries(["t00001", "t99999"], FLEET)


def test_a_canary_failure_halts_and_a_wave_halts_above_the_threshold() -> None:
    canary = Stage("canary", ("a", "b"))
    assert judge(canary, StageRecord(ok={"a", "b"})).halted is False
    assert judge(canary, StageRecord(ok={"a"}, failed={"b": "boom"}), max_failure_ratio=0.5).halted is True
    wave = Stage("wave-2", tuple(f"s{i:02d}" for i in range(20)))
    one_failed = StageRecord(ok=set(wave.stacks[1:]), failed={wave.stacks[0]: "boom"})
    verdict = judge(wave, one_failed, max_failure_ratio=0.05)
    assert not verdict.halted and verdict.failed == 1 and "within 5%" in verdict.reason
    two_failed = StageRecord(ok=set(wave.stacks[2:]), failed=dict.fromkeys(wave.stacks[:2], "boom"))
    assert judge(wave, two_failed, max_failure_ratio=0.05).halted  # 10 % > 5 %
    unfinished = StageRecord(ok=set(wave.stacks[:19]))
    verdict = judge(wave, unfinished)
    assert verdict.halted and verdict.missing == 1 and "no result" in verdict.reason
