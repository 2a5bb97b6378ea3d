"""Sharded deploys: many stacks split into a bounded number of CI jobs, each deploying its slice.

GitHub Actions refuses a matrix of more than 256 jobs, so one job per stack breaks at 257 tenants. ``ci.plan``
emits at most ``max_jobs`` jobs (default 64) named ``i/n``; ``ci.deploy --shard i/n`` takes the same stack list
(recomputed from the same git revisions, or given) and deploys ``slice_of(stacks, shard)`` with bounded
parallelism. The slices are round-robin over the sorted names: deterministic, disjoint, together exactly the
list, and their sizes differ by at most one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from toolkit.errors import ConfigError

MATRIX_LIMIT = 256
"""GitHub Actions' largest matrix."""
DEFAULT_JOBS = 64

_SHARD = re.compile(r"^(?P<index>[0-9]+)/(?P<count>[0-9]+)$")


@dataclass(frozen=True)
class Shard:
    """Job ``index`` (1-based) of ``count``."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if not 1 <= self.count <= MATRIX_LIMIT or not 1 <= self.index <= self.count:
            raise ConfigError("shard", f"{self.index}/{self.count} is not i/n with 1 <= i <= n <= {MATRIX_LIMIT}")

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def parse_shard(text: str) -> Shard:
    match = _SHARD.match(text.strip())
    if match is None:
        raise ConfigError("shard", f"{text!r} is not of the form i/n (e.g. 3/64)")
    return Shard(int(match.group("index")), int(match.group("count")))


def check_max_jobs(max_jobs: int) -> int:
    if not 1 <= max_jobs <= MATRIX_LIMIT:
        raise ConfigError("max_jobs", f"{max_jobs} is outside 1..{MATRIX_LIMIT} (GitHub Actions refuses a matrix "
                          f"of more than {MATRIX_LIMIT} jobs)")
    return max_jobs


def shard_count(stacks: int, max_jobs: int = DEFAULT_JOBS) -> int:
    """How many jobs ``stacks`` stacks need: one per stack up to ``max_jobs``, none for none."""
    return min(check_max_jobs(max_jobs), stacks)


def slice_of(stacks: Iterable[str], shard: Shard) -> list[str]:
    """The stacks job ``shard`` deploys: every ``count``-th of the sorted, de-duplicated names."""
    return sorted(set(stacks))[shard.index - 1::shard.count]


def shards(stacks: int, max_jobs: int = DEFAULT_JOBS) -> list[Shard]:
    count = shard_count(stacks, max_jobs)
    return [Shard(i, count) for i in range(1, count + 1)]


def matrix(stacks: int, max_jobs: int = DEFAULT_JOBS) -> dict[str, list[dict[str, str]]]:
    """The GitHub Actions matrix (``include`` form): one entry ``{"shard": "i/n"}`` per job."""
    return {"include": [{"shard": str(shard)} for shard in shards(stacks, max_jobs)]}
