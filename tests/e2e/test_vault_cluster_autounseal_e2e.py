"""The cluster stack with auto-unseal (``pm:seal: static``), through the engine with no operator on call: `pulumi up`
ends unsealed with three voters and recovery shares handed over; a restarted node unseals itself; a failed node
replaced while a client writes (0 failed operations); `invoke vault.unseal` explains there is nothing to unseal; the
seal key is on each node (0400, the service's user) and encrypted in the state; switching the seal later is refused
before anything changes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sandbox.hostwinds_sim.server import SimulatorServer
from tests.e2e.vault_cluster import (
    ClientLoad,
    ClusterProject,
    environment,
    labels,
    operator_env,
    run_invoke,
    ssh_key,
    system_approle,
)
from tests.fixtures.ssh import ClientKey, ssh_connect, ssh_run
from tests.pgp_operators import make_operators, stop_agents
from toolkit.wait import wait_for
from vault.cluster_host import SEAL_KEY_FILE
from vault.nodes import probe_all, probe_node

pytestmark = pytest.mark.timeout(900)  # a cluster up and a replacement: minutes under load


def test_auto_unseal_cluster_needs_no_operator(hw_sim: SimulatorServer, tmp_path: Path) -> None:
    operators = make_operators(tmp_path / "gpg", 3)
    project = ClusterProject(tmp_path / "project", hw_sim.url)
    try:
        shares_file = project.write_stack("au", operators, seal="static")
        project.pulumi("up", "--yes", "--skip-preview", stack="au")  # nobody unseals anything
        outputs, secret = project.outputs("au"), project.outputs("au", secrets=True)
        env = environment(outputs, tmp_path / "ca.pem")
        ca = env["VAULT_CACERT"]
        assert outputs["seal"] == "static" and len(outputs["voters"]) == 3
        handoff = json.loads(shares_file.read_text())
        assert handoff["kind"] == "recovery" and len(handoff["shares"]) == 3
        states = probe_all(outputs["addresses"], timeout=3.0, verify=ca)
        assert sum(s.active for s in states) == 1 and not any(s.sealed for s in states)

        # The seal key: on each node for the service's user only; in the state only encrypted.
        state = project.pulumi("stack", "export", stack="au").stdout
        exported = project.pulumi("stack", "export", "--show-secrets", stack="au").stdout
        [secrets] = [r for r in json.loads(exported)["deployment"]["resources"]
                     if r["type"].endswith("vault:ClusterSecrets")]
        seal_key = secrets["outputs"]["seal_key"]
        seal_key = json.loads(seal_key["plaintext"]) if isinstance(seal_key, dict) else seal_key
        assert len(seal_key) == 44 and seal_key not in state
        admin = ssh_key(exported)
        node = outputs["nodes"][0]["address"]
        shell = ssh_connect(node, ClientKey(admin, ""))
        try:
            assert ssh_run(shell, f"stat -c '%a %U' {SEAL_KEY_FILE}")[1].strip() == "400 openbao"
            # A restarted node comes back unsealed by itself.
            assert ssh_run(shell, "systemctl restart openbao")[0] == 0
        finally:
            shell.close()
        address = f"https://{node}:8200"
        wait_for(lambda: (lambda s: s.reachable and s.initialized and not s.sealed)(
            probe_node(address, timeout=2.0, verify=ca)), what="the restarted node to unseal itself", timeout=60,
            interval=0.2)

        # Nothing to unseal: the operators are told why, with the recovery shares' use.
        refused = run_invoke("vault.unseal", "--shares-file", str(shares_file),
                             env=operator_env(tmp_path / "a.log", GNUPGHOME=str(operators[0].home)), check=False)
        assert refused.returncode == 2 and "auto-unseals" in refused.stdout + refused.stderr

        # A FAILED node (its OpenBao stopped for good) replaced with a client writing all along, and no operator.
        failed = ssh_connect(outputs["nodes"][2]["address"], ClientKey(admin, ""))
        try:
            assert ssh_run(failed, "systemctl disable --now openbao")[0] == 0
        finally:
            failed.close()
        system = system_approle(outputs, secret, ca)
        project.write_stack("au", operators, seal="static", node_generations={2: 2})
        with ClientLoad(system, "autounseal") as load:
            project.pulumi("up", "--yes", "--skip-preview", stack="au")
        after = project.outputs("au")
        print(f"auto-unseal replacement: {load.written} operations, longest {load.longest:.2f} s")
        assert load.failures == [] and load.written > 10, load.failures
        assert after["last_rollout"]["removed"] == ["cau-2-g1"]
        assert labels(hw_sim, "pm-vault-cau-") == ["pm-vault-cau-0-1", "pm-vault-cau-1-1", "pm-vault-cau-2-2"]
        project.pulumi("preview", "--expect-no-changes", stack="au")

        # Switching the seal of the running cluster: refused at preview, nothing changed.
        project.write_stack("au", operators, seal="shamir", node_generations={2: 2})
        switched = project.pulumi("up", "--yes", "--skip-preview", stack="au", check=False)
        assert switched.returncode != 0 and "seal migration" in switched.stdout + switched.stderr
        assert project.outputs("au")["seal"] == "static"
    finally:
        project.pulumi("destroy", "--yes", "--skip-preview", stack="au", check=False)
        stop_agents(operators)
    assert labels(hw_sim, "pm-vault-cau-") == []
