"""Benchmark `rotate.due` with tenants actually due, carried out by the real engine on a private sandbox:

provisions --tenants stacks (`pulumi up`), then runs `invoke rotate.due --now <+100 days>` (both SSH keys of every
tenant are past their 90-day policy): one intent change, one `pulumi up` and one no-change preview per tenant,
--parallelism tenants at once. Prints the wall time of the run and each tenant's time (the goal is < 30 s per
tenant; the product asks < 5 min).

    .venv/bin/python bench/bench_rotate_due_engine.py [--tenants 10] [--parallelism 4]
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.private_sandbox import private_project

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tenants", type=int, default=10)
    parser.add_argument("--parallelism", type=int, default=4)
    args = parser.parse_args()
    with private_project() as project:
        started = time.perf_counter()
        for index in range(args.tenants):
            tenant = f"due{index}"
            project.deploy(tenant)
        print(f"provisioned {args.tenants} tenants in {time.perf_counter() - started:.1f} s")
        later = (dt.datetime.now(dt.UTC) + dt.timedelta(days=100)).strftime("%Y-%m-%dT%H:%M:%SZ")
        started = time.perf_counter()
        result = subprocess.run(
            [str(REPO / ".venv" / "bin" / "invoke"), "rotate.due", "--now", later, "--parallelism",
             str(args.parallelism), "--work-dir", str(project.root)],
            cwd=REPO, env={**project.env, "COLUMNS": "250", "PM_AUDIT_LOG": str(project.root / "audit.jsonl")},
            capture_output=True, text=True, check=False)
        wall = time.perf_counter() - started
        seconds = [float(m) for m in re.findall(r"│\s*done\s*│\s*([0-9.]+)\s*│", result.stdout)]
        print(f"rotate.due, {args.tenants} tenants due (2 SSH keys each), parallelism {args.parallelism}: "
              f"{wall:.1f} s wall, exit {result.returncode}")
        if seconds:
            print(f"  per tenant (intent + up + no-change preview): median {statistics.median(seconds):.1f} s, "
                  f"min {min(seconds):.1f}, max {max(seconds):.1f} over {len(seconds)} done; goal < 30 s")
        else:
            print(result.stdout[-3000:], result.stderr[-2000:])


if __name__ == "__main__":
    main()
