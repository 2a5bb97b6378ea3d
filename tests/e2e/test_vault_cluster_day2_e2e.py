"""Day 2 of the Vault cluster stack through the engine, with clients writing and reading all along: one node replaced
by a ``node_generations`` bump (new VPS joined and unsealed by the operators on call, the old raft peer removed, the
old node wiped, then its VPS terminated), then an upgrade from the previous OpenBao release to the current one rolled
out (standbys first, the leader last after a step-down, each unsealed before the next): 0 failed client operations,
nothing lost, `pulumi preview --expect-no-changes` after each; then a backup of it restored with `invoke
vault.restore` into a new cluster made by the same stack project."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest

from sandbox.hostwinds_sim.server import SimulatorServer
from tests.e2e.vault_cluster import (
    ClientLoad,
    ClusterProject,
    approle_token,
    environment,
    labels,
    node_versions,
    openbao_version,
    operator_env,
    previous_openbao,
    run_invoke,
    system_approle,
    up_with_operators,
    up_with_operators_on_call,
)
from tests.pgp_operators import make_operators, stop_agents
from toolkit.private_files import write_private
from toolkit.redact import Secret
from vault.client import VaultClient
from vault.cluster import raft_servers
from vault.cluster_host import DATA_DIR, KEY_FILE, file_sha256
from vault.config import VaultConfig
from vault.nodes import probe_all
from vault.pgp import decrypt_share
from vault.server import bao_binary

pytestmark = pytest.mark.timeout(1200)  # two clusters, a replacement, an upgrade, a restore: minutes


def test_replace_a_node_then_upgrade_openbao_then_restore_elsewhere(hw_sim: SimulatorServer, tmp_path: Path) -> None:
    operators = make_operators(tmp_path / "gpg", 3)
    project = ClusterProject(tmp_path / "project", hw_sim.url)
    try:
        previous = previous_openbao()
        shares_file = project.write_stack("d2", operators, openbao=previous)
        up_with_operators(project, "d2", shares_file, operators)
        outputs, secret = project.outputs("d2"), project.outputs("d2", secrets=True)
        env = environment(outputs, tmp_path / "ca.pem")
        ca = env["VAULT_CACERT"]
        system = system_approle(outputs, secret, ca)
        operator = VaultConfig(tuple(outputs["addresses"]), role_id=secret["operator_role_id"],
                               secret_id=Secret(secret["operator_secret_id"]), verify=ca)
        assert outputs["last_rollout"] == {"removed": [], "restarted": []}

        # Replace node 1: a generation bump in the stack file, `pulumi up` while clients write and read.
        old_host, old_vps = outputs["nodes"][1]["address"], int(outputs["nodes"][1]["serviceid"])
        project.write_stack("d2", operators, openbao=previous, node_generations={1: 2})
        with ClientLoad(system, "replace") as load:
            engine_out, rounds = up_with_operators_on_call(project, "d2", shares_file, operators)
        after = project.outputs("d2")
        print(f"replacement: {load.written} client operations, longest {load.longest:.2f} s, {rounds} unseal round(s)")
        assert load.failures == [] and load.written > 20, load.failures
        assert labels(hw_sim, "pm-vault-cd2-") == ["pm-vault-cd2-0-1", "pm-vault-cd2-1-2", "pm-vault-cd2-2-1"]
        assert after["last_rollout"] == {"removed": ["cd2-1-g1"], "restarted": []}, engine_out[-3000:]
        assert old_host not in str(after["addresses"]) and after["nodes"][1]["address"] != old_host
        assert sorted(after["voters"]) == ["cd2-0-g1", "cd2-1-g2", "cd2-2-g1"]
        # The old node was wiped before its VPS was terminated: what its disk still held has no raft data, no
        # TLS key, no audit log (the simulator records the paths left on a terminated VPS's disk).
        left = hw_sim.model.hosts.leftovers(old_vps)
        assert left is not None and "/usr/local/bin/bao" in left and "/etc/openbao/config.hcl" in left, left
        assert not [p for p in left if p.startswith((DATA_DIR, "/var/log/openbao/")) or p == KEY_FILE], left
        assert engine_out.index(f"{old_host} wiped") < engine_out.index("vault-vps-1 deleted original")
        operator = VaultConfig(tuple(after["addresses"]), role_id=operator.role_id, secret_id=operator.secret_id,
                               verify=ca)
        with VaultClient(operator) as client:
            assert sorted(str(s["node_id"]) for s in raft_servers(client) if s["voter"]) == after["voters"]
        system = VaultConfig(tuple(after["addresses"]), role_id=system.role_id, secret_id=system.secret_id, verify=ca)
        with VaultClient(system) as client:
            assert load.lost(client) == []
        project.pulumi("preview", "--expect-no-changes", stack="d2")

        # The upgrade to the venv's OpenBao, with renewed certificates (cert_generation), rolled out.
        assert node_versions(after["addresses"], ca) == [previous["version"]] * 3
        current = openbao_version(bao_binary())
        assert current != previous["version"]
        leader = next(s.address for s in probe_all(after["addresses"], timeout=3.0, verify=ca) if s.active)
        [leader_label] = [n["label"] for n in after["nodes"] if f"https://{n['address']}:8200" == leader]
        upgrade = {"node_generations": {1: 2}, "cert_generation": 2, "openbao": {"version": current, "source": "local"}}
        index, generation = leader_label.rsplit("-", 2)[-2:]
        leader_id = f"cd2-{index}-g{generation}"
        with ClientLoad(system, "rolling") as load:
            # The operators unseal the first restarted node only: the rollout stops at the second (20 s wait) ...
            project.write_stack("d2", operators, unseal_wait=20, **upgrade)
            stalled, rounds = up_with_operators_on_call(project, "d2", shares_file, operators, max_rounds=1,
                                                        check=False)
            assert "was not healthy within 20 s after restarting" in stalled, stalled[-3000:]
            # ... and the next `pulumi up` resumes: the two restarted standbys are not restarted again.
            project.write_stack("d2", operators, **upgrade)
            engine_out, rounds = up_with_operators_on_call(project, "d2", shares_file, operators)
        rolled = project.outputs("d2")
        print(f"rolling upgrade: {load.written} client operations, longest {load.longest:.2f} s")
        assert load.failures == [] and load.written > 20, load.failures
        assert rolled["last_rollout"]["restarted"] == [leader_id], engine_out[-3000:]  # the leader last, alone
        assert rounds == 2  # the standby left sealed by the stalled run, then the leader
        assert {n["binary_sha256"] for n in rolled["nodes"]} == {file_sha256(bao_binary())}
        assert node_versions(rolled["addresses"], ca) == [current] * 3
        renewed = [(a["cert_not_after"], b["cert_not_after"]) for a, b in zip(after["nodes"], rolled["nodes"],
                                                                           strict=True)]
        assert all(new > old for old, new in renewed), renewed  # certificates renewed in the same rollout
        states = probe_all(rolled["addresses"], timeout=3.0, verify=ca)
        assert sum(s.active for s in states) == 1 and not any(s.sealed for s in states)
        with VaultClient(system) as client:
            assert load.lost(client) == []
        project.pulumi("preview", "--expect-no-changes", stack="d2")
        # `invoke status` with the toolkit's own (system) AppRole sees the cluster as the operator's does.
        (tmp_path / "no-tenants").mkdir()
        shown = run_invoke("status", "--json", "--no-outputs", "--stacks-dir", str(tmp_path / "no-tenants"),
                           env=operator_env(tmp_path / "audit.log", VAULT_ADDRS=rolled["vault_addrs"], VAULT_CACERT=ca,
                                            VAULT_ROLE_ID=system.role_id or "",
                                            VAULT_SECRET_ID=system.secret_id.reveal() if system.secret_id else ""),
                           check=False)
        cluster = json.loads(shown.stdout)["vault_cluster"]
        assert shown.returncode == 0 and cluster["severity"] == "ok" and cluster["voters"] == 3, cluster

        # Disaster recovery into a NEW cluster made by this stack: a backup of d2 (its backup AppRole), a second
        # stack `dr` up, then `invoke vault.restore` into it (its CA, its cluster operator's token), unsealed with
        # d2's shares (as 3 operators decrypt them): d2's data and d2's credentials work on dr.
        key_file, keys_file = tmp_path / "backup.key", tmp_path / "unseal-keys"
        write_private(key_file, base64.b64encode(os.urandom(32)).decode() + "\n")
        write_private(keys_file, "\n".join(decrypt_share(s["share"], str(op.home)).reveal() for s, op in zip(
            secret["unseal_shares"], operators, strict=True)) + "\n")
        backup_env = {**operator_env(tmp_path / "audit.log", VAULT_ADDRS=rolled["vault_addrs"], VAULT_CACERT=ca),
                      "PM_BACKUP_DEST": str(tmp_path / "backups"), "PM_BACKUP_KEY_FILE": str(key_file),
                      "VAULT_TOKEN": approle_token(rolled["addresses"], secret["backup_role_id"],
                                                   secret["backup_secret_id"], env)}
        assert "OK" in run_invoke("vault.backup", env=backup_env).stdout
        dr_shares = project.write_stack("dr", operators)
        up_with_operators(project, "dr", dr_shares, operators)
        dr, dr_secret = project.outputs("dr"), project.outputs("dr", secrets=True)
        dr_ca = tmp_path / "dr-ca.pem"
        dr_ca.write_text(dr["ca_cert"])
        restore_env = {**backup_env, "PM_RESTORE_TARGET_TOKEN": approle_token(
            dr["addresses"], dr_secret["operator_role_id"], dr_secret["operator_secret_id"],
            {"VAULT_CACERT": str(dr_ca)}), "PM_RESTORE_VERIFY_TOKEN": backup_env["VAULT_TOKEN"]}
        restored = run_invoke("vault.restore", "--target", dr["vault_addrs"], "--target-cacert", str(dr_ca),
                              "--unseal-keys-file", str(keys_file), env=restore_env)
        assert "canaries" in restored.stdout and "OK" in restored.stdout, restored.stdout[-3000:]
        on_dr = VaultConfig(tuple(dr["addresses"]), role_id=system.role_id, secret_id=system.secret_id,
                            verify=str(dr_ca))
        with VaultClient(on_dr) as client:
            assert load.lost(client) == []  # d2's data, read on dr with d2's system AppRole
        states = probe_all(dr["addresses"], timeout=3.0, verify=str(dr_ca))
        assert sum(s.active for s in states) == 1 and not any(s.sealed for s in states)

        # The dr stack adopts what its cluster now holds: d2's cluster-operator AppRole (a secret in the stack's
        # config; in clear it is refused) and d2's hand-off (d2's shares unseal dr now). Then day 2 on dr: a node
        # replaced, unsealed by the operators with d2's shares.
        project.write_stack("dr", operators, shares_file=str(shares_file), operator_role_id=secret["operator_role_id"],
                            operator_secret_id=secret["operator_secret_id"])
        clear = project.pulumi("preview", stack="dr", check=False)
        assert clear.returncode != 0 and "pm:operator_secret_id is in clear" in clear.stdout + clear.stderr
        project.write_stack("dr", operators, shares_file=str(shares_file), operator_role_id=secret["operator_role_id"],
                            node_generations={0: 2})
        project.pulumi("config", "set", "--secret", "pm:operator_secret_id", secret["operator_secret_id"], stack="dr")
        assert secret["operator_secret_id"] not in (project.root / "stacks" / "Pulumi.dr.yaml").read_text()
        with ClientLoad(on_dr, "dr-day2") as load:
            up_with_operators_on_call(project, "dr", shares_file, operators)
        adopted = project.outputs("dr")
        assert load.failures == [] and adopted["last_rollout"]["removed"] == ["cdr-0-g1"], adopted["last_rollout"]
        assert json.loads(shares_file.read_text())["addresses"] == adopted["addresses"]
    finally:
        for stack in ("dr", "d2"):
            project.pulumi("destroy", "--yes", "--skip-preview", stack=stack, check=False)
        stop_agents(operators)
    assert labels(hw_sim, "pm-vault-cd2-") == [] and labels(hw_sim, "pm-vault-cdr-") == []
