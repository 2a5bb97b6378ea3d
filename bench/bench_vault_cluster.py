"""`pulumi up` of the Vault cluster stack from nothing, with the real engine against the Hostwinds simulator: three
VPSes, OpenBao installed over SSH (the 182 MB binary over SFTP), TLS, init with PGP-encrypted shares, three
operators running `invoke vault.unseal` as soon as the shares are handed over, bootstrap, root token revoked.
Wall time of the `up` (engine start included), and the part before the hand-over; the stack is destroyed after.

    .venv/bin/python bench/bench_vault_cluster.py [runs]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sandbox.hostwinds_sim.server import SimulatorServer
from tests.e2e.vault_cluster import ClusterProject, up_with_operators
from tests.fixtures.hostwinds import HW_API_KEY
from tests.pgp_operators import make_operators, stop_agents


def main(runs: int) -> None:
    timings, handovers = [], []
    with tempfile.TemporaryDirectory() as tmp:
        sim = SimulatorServer(Path(tmp) / "sim", HW_API_KEY)
        sim.start()
        operators = make_operators(Path(tmp) / "gpg", 5)
        try:
            project = ClusterProject(Path(tmp) / "project", sim.url)
            for run in range(runs):
                stack = f"bench{run}"
                shares_file = project.write_stack(stack, operators)
                started = time.perf_counter()
                seen: list[float] = []

                def handed_over(path: Path = shares_file, mark: list[float] = seen) -> bool:
                    if path.exists() and not mark:
                        mark.append(time.perf_counter())
                    return path.exists()

                up_with_operators(project, stack, shares_file, operators[:3], on_poll=handed_over)
                timings.append(time.perf_counter() - started)
                handovers.append((seen[0] if seen else started) - started)
                project.pulumi("destroy", "--yes", "--skip-preview", stack=stack)
        finally:
            stop_agents(operators)
            sim.stop()
    print(f"cluster `pulumi up` from nothing (3 nodes, unsealed by 3 operators, bootstrapped): median "
          f"{statistics.median(timings):.1f} s over {len(timings)} (min {min(timings):.1f}, max {max(timings):.1f}); "
          f"VPSes + install until the shares were handed over: median {statistics.median(handovers):.1f} s")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1)
