"""Benchmark: warm setup time, sandbox up/down time, and leftover processes after down.

    .venv/bin/python bench/bench_setup_sandbox.py [--setup-runs N] [--sandbox-runs N]

Cold setup (a fresh machine) is measured by running scripts/setup.sh after removing ~/.cache/pm-toolkit,
~/go/pkg/mod and ~/.cache/go-build; that takes minutes, so it is not part of this script (see the README).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from sandbox.environment import Sandbox
from sandbox.settings import SandboxSettings
from toolkit.net import free_port, free_port_block

REPO = Path(__file__).resolve().parent.parent


def leftover(root: Path) -> int:
    marker = str(root) + os.sep
    count = 0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker.encode() in (entry / "cmdline").read_bytes().replace(b"\0", b" "):
                    count += 1
            except OSError:
                pass
    return count


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--setup-runs", type=int, default=3)
    parser.add_argument("--sandbox-runs", type=int, default=5)
    args = parser.parse_args()

    setup_times = []
    for _ in range(args.setup_runs):
        started = time.perf_counter()
        subprocess.run(["bash", "scripts/setup.sh"], cwd=REPO, check=True, capture_output=True)
        setup_times.append(time.perf_counter() - started)
    print(f"warm setup: median {statistics.median(setup_times):.2f} s over {len(setup_times)} runs "
          f"(min {min(setup_times):.2f}, max {max(setup_times):.2f}); target < 30 s")

    up_times, down_times, leftovers = [], [], []
    for _ in range(args.sandbox_runs):
        with tempfile.TemporaryDirectory() as tmp:
            settings = SandboxSettings(root=Path(tmp) / "sbx", vault_port=free_port(), dns_port=free_port(),
                                       hostwinds_port=free_port(), raft_base_port=free_port_block(2))
            sandbox = Sandbox.default(settings)
            started = time.perf_counter()
            sandbox.up()
            up_times.append(time.perf_counter() - started)
            started = time.perf_counter()
            sandbox.down()
            down_times.append(time.perf_counter() - started)
            leftovers.append(leftover(settings.root))
    print(f"sandbox up (cold state dir): median {statistics.median(up_times):.2f} s over {len(up_times)} "
          f"(min {min(up_times):.2f}, max {max(up_times):.2f}); target < 10 s")
    print(f"sandbox down: median {statistics.median(down_times):.2f} s; processes left behind: {max(leftovers)}")


if __name__ == "__main__":
    main()
