"""The shard plan: how many deploy jobs, which stacks each deploys, the limits, determinism."""

from __future__ import annotations

import pytest

from pipeline.shards import MATRIX_LIMIT, Shard, matrix, parse_shard, shard_count, slice_of
from toolkit.errors import ConfigError

STACKS = [f"t{i:05d}" for i in range(10_000)]


@pytest.mark.parametrize(("stacks", "max_jobs", "jobs"), [
    (0, 64, 0), (1, 64, 1), (63, 64, 63), (64, 64, 64), (257, 64, 64), (10_000, 64, 64), (10_000, 256, 256),
    (300, 1, 1),
])
def test_one_job_per_stack_up_to_the_limit(stacks: int, max_jobs: int, jobs: int) -> None:
    assert shard_count(stacks, max_jobs) == jobs
    assert matrix(stacks, max_jobs)["include"] == [{"shard": f"{i}/{jobs}"} for i in range(1, jobs + 1)]


@pytest.mark.parametrize("max_jobs", [0, -1, MATRIX_LIMIT + 1, 1000])
def test_more_jobs_than_github_accepts_are_refused(max_jobs: int) -> None:
    with pytest.raises(ConfigError, match="max_jobs"):
        shard_count(10, max_jobs)


def test_slices_are_disjoint_cover_every_stack_and_differ_by_one_at_most() -> None:
    count = shard_count(len(STACKS))
    slices = [slice_of(STACKS, Shard(i, count)) for i in range(1, count + 1)]
    assert sorted(s for part in slices for s in part) == STACKS
    assert max(map(len, slices)) - min(map(len, slices)) <= 1
    assert max(map(len, slices)) == 157  # ceil(10,000 / 64)


def test_slices_do_not_depend_on_input_order_or_duplicates() -> None:
    shuffled = list(reversed(STACKS)) + STACKS[:10]
    assert slice_of(shuffled, Shard(5, 64)) == slice_of(STACKS, Shard(5, 64))


@pytest.mark.parametrize("text", ["0/4", "5/4", "1/257", "1/0", "a/b", "3", "-1/4", ""])
def test_a_bad_shard_is_one_message(text: str) -> None:
    with pytest.raises(ConfigError, match="shard"):
        parse_shard(text)


def test_shard_round_trips() -> None:
    assert str(parse_shard(" 3/64 ")) == "3/64"
