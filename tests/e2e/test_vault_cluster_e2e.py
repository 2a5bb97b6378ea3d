"""The Vault cluster stack with the real engine: bad input refused before anything exists, then `pulumi up` of three
OpenBao nodes on simulated Hostwinds VPSes, unsealed by three operators with their PGP-encrypted shares ->
healthy over verified TLS, three raft voters, audit on, root token gone, no clear share anywhere -> `invoke status`
shows the cluster -> a tenant stack converges against it (all three addresses, the CA, the system AppRole) while the
leader's process is killed: 0 failed operations -> `invoke vault.backup` from the cluster and `invoke dr.drill`
restoring it in a scratch Vault, verified; a second init of the running cluster refused with
nothing changed."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import paramiko
import pytest
import requests

from sandbox.hostwinds_sim.server import SimulatorServer
from sandbox.settings import SandboxSettings
from tests.e2e.vault_cluster import (
    REPO,
    ClusterProject,
    approle_token,
    environment,
    labels,
    operator_env,
    run_invoke,
    ssh_key,
    unseal_command,
    unwrap,
    up_with_operators,
)
from tests.fixtures.hostwinds import HW_API_KEY
from tests.fixtures.ssh import ClientKey, ssh_connect, ssh_run
from tests.fixtures.tenant import TenantProject
from tests.pgp_operators import make_operators, stop_agents
from toolkit.private_files import write_private
from toolkit.redact import Secret
from toolkit.wait import wait_for
from vault import keys, kv, paths
from vault.claims import read_tenant_claim
from vault.client import VaultClient
from vault.cluster import raft_servers
from vault.config import VaultConfig
from vault.nodes import probe_all
from vault.pgp import decrypt_share


@contextmanager
def node_shell(address: str, private_key: str) -> Iterator[paramiko.SSHClient]:
    host = address.removeprefix("https://").rsplit(":", 1)[0]
    client = ssh_connect(host, ClientKey(private_key, ""))
    try:
        yield client
    finally:
        client.close()


@pytest.mark.timeout(900)  # a cluster up, a tenant up during a leader kill, backup and drill: minutes under load
def test_cluster_stack_up_unseal_and_refusals(hw_sim: SimulatorServer, tenant_sandbox: tuple[SandboxSettings,
                                              dict[str, str]], tmp_path: Path) -> None:
    operators = make_operators(tmp_path / "gpg", 5)
    project = ClusterProject(tmp_path / "project", hw_sim.url)
    tenant: TenantProject | None = None
    try:
        # Bad input: refused by the program before any resource exists.
        for stack, overrides, expected in (
            ("two", {"nodes": 2}, "pm:nodes is 2: a raft cluster needs an odd number of nodes, at least 3"),
            ("nokeys", {"pgp_keys": None}, "pm:pgp_keys is missing"),
            ("privkey", {"pgp_keys": ["-----BEGIN PGP PRIVATE KEY BLOCK-----\nabc\n"]}, "PRIVATE key"),
        ):
            project.write_stack(stack, operators, **overrides)
            refused = project.pulumi("up", "--yes", "--skip-preview", stack=stack, check=False)
            assert refused.returncode != 0 and expected in refused.stdout + refused.stderr, refused.stdout[-2000:]
            assert "nothing was created" in refused.stdout + refused.stderr
            assert labels(hw_sim, f"pm-vault-c{stack}-") == []

        shares_file = project.write_stack("main", operators)
        engine_out, reports = up_with_operators(project, "main", shares_file, operators[:3])
        outputs = project.outputs("main")
        assert labels(hw_sim, "pm-vault-cmain-") == [f"pm-vault-cmain-{i}-1" for i in range(3)]
        env = environment(outputs, tmp_path / "ca.pem")
        addresses = outputs["addresses"]

        # Healthy over TLS verified with the cluster CA; without the CA the certificate is refused.
        states = probe_all(addresses, timeout=3.0, verify=env["VAULT_CACERT"])
        assert sum(s.active for s in states) == 1 and sum(s.standby for s in states) == 2
        assert not any(s.sealed for s in states)
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(f"{addresses[0]}/v1/sys/health", timeout=3)

        # Three voters and the audit device, read independently with the cluster operator's AppRole.
        secret = project.outputs("main", secrets=True)
        config = VaultConfig(tuple(addresses), role_id=secret["operator_role_id"],
                             secret_id=Secret(secret["operator_secret_id"]), verify=env["VAULT_CACERT"])
        with VaultClient(config) as client:
            servers = raft_servers(client)
            assert len(servers) == 3 and all(s["voter"] for s in servers)
            assert "file/" in (client.read("sys/audit") or {}).get("data", {})
        assert sorted(outputs["voters"]) == sorted(s["node_id"] for s in servers)

        # No clear share or root token in the state, the engine's output or the operators' reports.
        state = project.pulumi("stack", "export", "--show-secrets", stack="main").stdout
        clear = decrypt_share(secret["unseal_shares"][0]["share"], str(operators[0].home)).reveal()
        for text in (state, engine_out, shares_file.read_text(), *reports):
            assert clear not in text
        tokens = set(re.findall(r"\b(?:hvs|s)\.[A-Za-z0-9]{20,}", state))
        assert tokens == {secret["system_secret_id_wrapped"]}  # the single-use wrapping token; no root token
        assert json.loads(shares_file.read_text())["shares"] == secret["unseal_shares"]
        assert oct(shares_file.stat().st_mode & 0o777) == "0o600"

        project.pulumi("preview", "--expect-no-changes", stack="main")

        # `invoke status` (the fleet view, no tenant yet) shows the cluster, read with the cluster operator's AppRole.
        audit_log = tmp_path / "audit.log"
        shell_env = operator_env(audit_log, **env)
        (tmp_path / "no-tenants").mkdir()
        shown = run_invoke("status", "--json", "--no-outputs", "--stacks-dir", str(tmp_path / "no-tenants"),
                           env={**shell_env, "VAULT_ROLE_ID": secret["operator_role_id"],
                                "VAULT_SECRET_ID": secret["operator_secret_id"]}, check=False)
        cluster = json.loads(shown.stdout)["vault_cluster"]
        assert shown.returncode == 0 and cluster["severity"] == "ok", cluster
        assert cluster["leader"] in addresses and cluster["voters"] == 3 and cluster["max_lag"] < 100
        assert [n["state"] for n in cluster["nodes"]].count("standby") == 2
        assert all(300 < n["cert_days_left"] < 400 for n in cluster["nodes"]), cluster["nodes"]

        # A tenant stack converges against the cluster (all three addresses, the CA, the system AppRole whose wrapped
        # secret id is opened once) while the leader's process is killed once the tenant's `pulumi up` has written to
        # Vault, and while the system AppRole writes: 0 failed operations. The restarted node is sealed, and
        # `invoke vault.unseal` by 3 operators brings it back.
        system_secret = unwrap(addresses[0], secret["system_secret_id_wrapped"], env)
        system = VaultClient(VaultConfig(tuple(addresses), role_id=secret["system_role_id"], secret_id=system_secret,
                                         verify=env["VAULT_CACERT"]))
        tenant = TenantProject(tmp_path / "tenant", *tenant_sandbox)
        tenant.env = {k: v for k, v in tenant.env.items() if not k.startswith("VAULT_")}
        tenant.env.update(env, VAULT_ROLE_ID=secret["system_role_id"], VAULT_SECRET_ID=system_secret.reveal(),
                          HOSTWINDS_API_KEY=HW_API_KEY)
        tenant.write_stack("clus", hostwinds={"api_url": hw_sim.url})
        tenant.init("clus")
        leader = next(s.address for s in probe_all(addresses, timeout=3.0, verify=env["VAULT_CACERT"]) if s.active)
        admin = ssh_key(state)
        up = subprocess.Popen(["pulumi", "up", "--yes", "--skip-preview", "--stack", "clus", "--non-interactive"],
                              cwd=tenant.root, env=tenant.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True)
        try:
            with system, node_shell(leader, admin) as shell:
                wait_for(lambda: up.poll() is not None or read_tenant_claim(system, "clus") is not None,
                         what="the tenant's first write to Vault", timeout=300, interval=0.1)
                assert up.poll() is None, f"pulumi up ended before the leader was killed:\n{up.communicate()[0]}"
                assert ssh_run(shell, "kill -9 $(cat /run/pm-standins/units/openbao.pid)")[0] == 0
                written = [kv.write_next(system, paths.SecretPath("vps", f"cluster-e2e/op{i}"), {"i": i})
                           for i in range(30)]
                assert written == [1] * 30 and system.failovers >= 1
                tenant_out = up.communicate(timeout=900)[0]
                assert up.returncode == 0, tenant_out[-6000:]
                assert ssh_run(shell, "systemctl start openbao")[0] == 0
        finally:
            if up.poll() is None:
                up.kill()
                up.wait()
        for command, command_env in (unseal_command(shares_file, op, addresses) for op in operators[2:5]):
            run = subprocess.run(command, env=command_env, cwd=REPO, capture_output=True, text=True, timeout=300)
            assert run.returncode == 0, run.stdout[-3000:]
        states = probe_all(addresses, timeout=3.0, verify=env["VAULT_CACERT"])
        assert sum(s.active for s in states) == 1 and not any(s.sealed for s in states)
        tenant.pulumi("preview", "--expect-no-changes", stack="clus")
        with VaultClient(VaultConfig(tuple(addresses), role_id=secret["system_role_id"], secret_id=system_secret,
                                     verify=env["VAULT_CACERT"])) as reader:
            assert keys.read_private(reader, paths.admin_ssh("clus")).reveal().startswith("-----BEGIN")

        # A backup taken from the cluster (`invoke vault.backup` with the backup AppRole's token over verified TLS),
        # then `invoke dr.drill`: restored into a local scratch Vault, unsealed with 3 operators' shares, verified.
        key_file, keys_file = tmp_path / "backup.key", tmp_path / "unseal-keys"
        write_private(key_file, base64.b64encode(os.urandom(32)).decode() + "\n")
        write_private(keys_file, "\n".join(  # what 3 operators type at the drill's hidden prompt
            decrypt_share(s["share"], str(op.home)).reveal() for s, op in zip(secret["unseal_shares"][:3],
                                                                             operators[:3], strict=True)) + "\n")
        backup_env = {**shell_env, "PM_BACKUP_DEST": str(tmp_path / "backups"), "PM_BACKUP_KEY_FILE": str(key_file),
                      "VAULT_TOKEN": approle_token(addresses, secret["backup_role_id"],
                                                   secret["backup_secret_id"], env)}
        backup = run_invoke("vault.backup", env=backup_env)
        assert "OK" in backup.stdout and "canaries 4" in backup.stdout, backup.stdout[-3000:]
        drill = run_invoke("dr.drill", "--unseal-keys-file", str(keys_file), "--report", str(tmp_path / "drill.json"),
                           env=backup_env)
        report = json.loads((tmp_path / "drill.json").read_text())
        assert "DR drill PASSED" in drill.stdout and report["ok"] and report["canaries_checked"] == 4, report
        assert report["secrets_matched"] == report["secrets_checked"] > 34, report  # 30 above, 4 canaries, tenant

        # A second init of the running cluster (its init resource lost): refused, nothing changed.
        urn = next(r["urn"] for r in json.loads(state)["deployment"]["resources"]
                   if r["type"].endswith("vault:ClusterInit"))
        project.pulumi("state", "delete", urn, "--target-dependents", "--yes", stack="main")
        again = project.pulumi("up", "--yes", "--skip-preview", stack="main", check=False)
        assert again.returncode != 0 and "already initialised: a second init is refused" in again.stdout
        after = probe_all(addresses, timeout=3.0, verify=env["VAULT_CACERT"])
        assert sum(s.active for s in after) == 1 and not any(s.sealed for s in after)
        assert json.loads(shares_file.read_text())["shares"] == secret["unseal_shares"]
    finally:
        if tenant is not None:
            tenant.pulumi("destroy", "--yes", "--skip-preview", stack="clus", check=False)
        for stack in ("main",):
            project.pulumi("destroy", "--yes", "--skip-preview", stack=stack, check=False)
        stop_agents(operators)
    assert labels(hw_sim, "pm-vault-cmain-") == []
