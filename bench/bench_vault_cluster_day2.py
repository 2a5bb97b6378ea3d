"""Day 2 of the Vault cluster stack, measured with a client writing and reading all along (the failing-over
``VaultClient`` with the three addresses): the longest single client operation (the stall a client sees) during
- leader loss: the leader's process killed (SIGKILL) on its VPS, until the client has done 20 more operations;
- node replacement: a ``node_generations`` bump and `pulumi up` (new VPS, OpenBao over SFTP, joined, unsealed by
  three operators on call, old raft peer removed, old node wiped, VPS terminated), with the `up`'s wall time;
- rolling upgrade: the previous OpenBao release (scripts/setup.sh step 6) to the venv's, standbys first, the leader
  last after a step-down, each unsealed.
Shamir seal, three operators running `invoke vault.unseal` whenever a node is sealed (their gpg decryption and
the invoke start-up are in the times, as they would be).

    .venv/bin/python bench/bench_vault_cluster_day2.py
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sandbox.hostwinds_sim.server import SimulatorServer
from tests.e2e.vault_cluster import (
    ClientLoad,
    ClusterProject,
    environment,
    openbao_version,
    previous_openbao,
    ssh_key,
    system_approle,
    unseal_command,
    up_with_operators,
    up_with_operators_on_call,
)
from tests.fixtures.hostwinds import HW_API_KEY
from tests.fixtures.ssh import ClientKey, ssh_connect, ssh_run
from tests.pgp_operators import make_operators, stop_agents
from toolkit.wait import wait_for
from vault.config import VaultConfig
from vault.nodes import probe_all
from vault.server import bao_binary


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        sim = SimulatorServer(root / "sim", HW_API_KEY)
        sim.start()
        operators = make_operators(root / "gpg", 3)
        project = ClusterProject(root / "project", sim.url)
        try:
            previous = previous_openbao()
            shares_file = project.write_stack("bench", operators, openbao=previous)
            up_with_operators(project, "bench", shares_file, operators)
            outputs, secret = project.outputs("bench"), project.outputs("bench", secrets=True)
            env = environment(outputs, root / "ca.pem")
            ca = env["VAULT_CACERT"]
            system = system_approle(outputs, secret, ca)
            admin = ssh_key(project.pulumi("stack", "export", "--show-secrets", stack="bench").stdout)

            leader = next(s.address for s in probe_all(outputs["addresses"], timeout=3.0, verify=ca) if s.active)
            host = leader.removeprefix("https://").rsplit(":", 1)[0]
            with ClientLoad(system, "leader-loss") as load:
                wait_for(lambda: load.written >= 20, what="20 operations", timeout=60, interval=0.05)
                shell = ssh_connect(host, ClientKey(admin, ""))
                ssh_run(shell, "kill -9 $(cat /run/pm-standins/units/openbao.pid)")
                before = load.written
                wait_for(lambda: load.written >= before + 20, what="20 operations after the kill", timeout=120,
                         interval=0.05)
            leader_loss = (load.longest, len(load.failures))
            ssh_run(shell, "systemctl start openbao")
            shell.close()
            for command, command_env in (unseal_command(shares_file, op, outputs["addresses"]) for op in operators):
                subprocess.run(command, env=command_env, capture_output=True, check=True, timeout=300)

            project.write_stack("bench", operators, openbao=previous, node_generations={1: 2})
            with ClientLoad(system, "replacement") as load:
                started = time.perf_counter()
                up_with_operators_on_call(project, "bench", shares_file, operators)
                replacement = (time.perf_counter() - started, load.longest, len(load.failures))

            project.write_stack("bench", operators, node_generations={1: 2},
                                openbao={"version": openbao_version(bao_binary()), "source": "local"})
            addresses = tuple(project.outputs("bench")["addresses"])
            system = VaultConfig(addresses, role_id=system.role_id, secret_id=system.secret_id, verify=ca)
            with ClientLoad(system, "rolling") as load:
                started = time.perf_counter()
                up_with_operators_on_call(project, "bench", shares_file, operators)
                rolling = (time.perf_counter() - started, load.longest, len(load.failures))
        finally:
            project.pulumi("destroy", "--yes", "--skip-preview", stack="bench", check=False)
            stop_agents(operators)
            sim.stop()
    print(f"leader loss (SIGKILL): longest client operation {leader_loss[0]:.2f} s, {leader_loss[1]} failed")
    print(f"node replacement `pulumi up`: {replacement[0]:.1f} s (goal < 120 s), longest client operation "
          f"{replacement[1]:.2f} s, {replacement[2]} failed")
    print(f"rolling upgrade (previous OpenBao release -> the venv's, 3 nodes, Shamir): {rolling[0]:.1f} s, "
          f"longest client operation {rolling[1]:.2f} s, {rolling[2]} failed")


if __name__ == "__main__":
    main()
