"""Create-to-ACTIVE of one Hostwinds Instance through `pulumi up` with the real engine against the simulator
(zero simulated delay), median of 5; each run is a fresh stack, destroyed afterwards.

    .venv/bin/python bench/bench_hostwinds_pulumi.py
"""

from __future__ import annotations

import secrets
import statistics
import sys
import tempfile
import textwrap
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sandbox.hostwinds_sim.server import SimulatorServer
from tests.e2e.engine import pulumi, pulumi_env, python_project

PROGRAM = textwrap.dedent("""\
    import os

    import pulumi

    from components.hostwinds_instance import Instance

    vps = Instance("vps", label=os.environ["PM_BENCH_LABEL"], location_id="1", plan_id="small", image="ubuntu-22.04",
                   api_url=os.environ["PM_BENCH_API_URL"], poll_interval=0.05, poll_timeout=60)
    pulumi.export("status", vps.status)
""")


def main() -> None:
    key = "hwbench-" + secrets.token_hex(8)
    timings = []
    with tempfile.TemporaryDirectory() as tmp:
        sim = SimulatorServer(Path(tmp) / "sim", key)
        sim.start()
        try:
            project = python_project(Path(tmp) / "project", "pm-hostwinds-bench", PROGRAM)
            (Path(tmp) / "state").mkdir()
            for run in range(5):
                env = pulumi_env(Path(tmp) / "state", {"HOSTWINDS_API_KEY": key, "PM_BENCH_API_URL": sim.url,
                                                       "PM_BENCH_LABEL": f"pm-bench-{run}"})
                stack = f"bench{run}"
                pulumi(project, env, "stack", "init", stack)
                started = time.perf_counter()
                pulumi(project, env, "up", "--yes", "--skip-preview", "--stack", stack)
                timings.append(time.perf_counter() - started)
                pulumi(project, env, "destroy", "--yes", "--skip-preview", "--stack", stack)
        finally:
            sim.stop()
    print(f"create-to-ACTIVE through `pulumi up` (engine start included): median {statistics.median(timings):.2f} s "
          f"over {len(timings)} (min {min(timings):.2f}, max {max(timings):.2f})")


if __name__ == "__main__":
    main()
