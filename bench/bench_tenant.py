"""Benchmark the product's main job on a private sandbox (zero simulated VPS delay):

- `pulumi up` of one new tenant (median of --runs, each a fresh tenant), target < 60 s
- no-change `pulumi preview` (median of 5), target < 10 s
- `ci.deploy` over --fleet tenant stacks (preview, and up with --fleet-up): wall time and peak memory

    .venv/bin/python bench/bench_tenant.py [--runs 3] [--fleet 20] [--fleet-up]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.private_sandbox import private_project
from pipeline.deploy import run_stacks


def timed(fn: object) -> float:
    started = time.perf_counter()
    fn()  # type: ignore[operator]
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--fleet", type=int, default=20)
    parser.add_argument("--parallelism", type=int, default=4)
    parser.add_argument("--fleet-up", action="store_true", help="also `up` the whole fleet (creates N VPS hosts)")
    args = parser.parse_args()
    with private_project() as project:
        ups, previews = [], []
        for run in range(args.runs):
            tenant = f"bench{run}"
            project.write_stack(tenant)
            project.init(tenant)
            ups.append(timed(lambda t=tenant: project.pulumi("up", "--yes", "--skip-preview", stack=t)))
        for _ in range(5):
            previews.append(timed(lambda: project.pulumi("preview", "--expect-no-changes", stack="bench0")))
        print(f"pulumi up, new tenant: median {statistics.median(ups):.1f} s over {len(ups)} "
              f"(min {min(ups):.1f}, max {max(ups):.1f}); target < 60 s")
        print(f"no-change preview: median {statistics.median(previews):.1f} s over 5 "
              f"(min {min(previews):.1f}, max {max(previews):.1f}); target < 10 s")

        fleet = [f"fleet{i:02d}" for i in range(args.fleet)]
        for tenant in fleet:
            project.write_stack(tenant)
            project.init(tenant)
        operations = ["preview", "up"] if args.fleet_up else ["preview"]
        for operation in operations:
            started = time.perf_counter()
            results = run_stacks(fleet, operation, work_dir=project.root,  # type: ignore[arg-type]
                                 parallelism=args.parallelism, env=project.env)
            wall = time.perf_counter() - started
            failed = [r.stack for r in results if not r.ok]
            peak_children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
            peak_self = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            print(f"ci.deploy {operation} over {len(fleet)} stacks, parallelism {args.parallelism}: "
                  f"{wall:.1f} s wall, failed {failed or 'none'}, peak RSS: driver {peak_self:.0f} MiB, "
                  f"largest child {peak_children:.0f} MiB")


if __name__ == "__main__":
    main()
