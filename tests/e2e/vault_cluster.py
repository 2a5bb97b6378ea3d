"""The Vault cluster stack (``platform/vault``) in a throwaway copy, run with the real engine against the Hostwinds
simulator, and its operators (``tests.pgp_operators``) unsealing it with ``invoke vault.unseal`` as they would."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import requests
import yaml

from sandbox.hostwinds_sim.server import SimulatorServer
from tests.e2e.engine import pulumi_env
from tests.fixtures.hostwinds import HW_API_KEY
from tests.pgp_operators import Operator
from toolkit.redact import Secret
from toolkit.wait import wait_for
from vault import kv, paths
from vault.client import VaultClient
from vault.config import VaultConfig
from vault.nodes import probe_node

REPO = Path(__file__).resolve().parents[2]
INVOKE = str(REPO / ".venv" / "bin" / "invoke") if (REPO / ".venv" / "bin" / "invoke").exists() else "invoke"


def labels(hw_sim: SimulatorServer, prefix: str) -> list[str]:
    return sorted(i.srvrname for i in hw_sim.model.instances.values()
                  if i.srvrname.startswith(prefix) and i.status not in ("TERMINATED", "DELETED"))


def unwrap(address: str, token: str, env: dict[str, str]) -> Secret:
    reply = requests.post(f"{address}/v1/sys/wrapping/unwrap", headers={"X-Vault-Token": token}, timeout=10,
                          verify=env["VAULT_CACERT"])
    reply.raise_for_status()
    return Secret(reply.json()["data"]["secret_id"])


def approle_token(addresses: list[str], role_id: str, secret_id: str, env: dict[str, str]) -> str:
    """A token of the AppRole, as `bao write auth/approle/login` gives the operator (via the failing-over client)."""
    with VaultClient(VaultConfig(tuple(addresses), role_id=role_id, secret_id=Secret(secret_id),
                                 verify=env["VAULT_CACERT"]), manage_token=False) as client:
        client.login()
        return client.token.reveal()


def ssh_key(state: str) -> str:
    """The nodes' admin SSH key, from the ClusterSecrets resource's (secret) outputs of the exported state."""
    [resource] = [r for r in json.loads(state)["deployment"]["resources"] if r["type"].endswith("vault:ClusterSecrets")]
    value = resource["outputs"]["ssh_private_key"]
    return str(json.loads(value["plaintext"]) if isinstance(value, dict) else value)


class ClusterProject:
    def __init__(self, root: Path, api_url: str) -> None:
        self.root = root
        self.api_url = api_url
        (root / "stacks").mkdir(parents=True, exist_ok=True)
        project = yaml.safe_load((REPO / "platform/vault/Pulumi.yaml").read_text())
        project["runtime"]["options"]["virtualenv"] = sys.prefix
        (root / "Pulumi.yaml").write_text(yaml.safe_dump(project, sort_keys=False))
        shutil.copy(REPO / "platform/vault/__main__.py", root / "__main__.py")
        (root / "state").mkdir(exist_ok=True)
        self.env = pulumi_env(root / "state", {"HOSTWINDS_API_KEY": HW_API_KEY})

    def write_stack(self, stack: str, operators: list[Operator], **overrides: Any) -> Path:
        values: dict[str, Any] = {
            "cluster_name": f"c{stack}", "nodes": 3, "threshold": 3,
            "pgp_keys": [op.public_key for op in operators],
            "hostwinds": {"api_url": self.api_url, "poll_interval": 0.05, "poll_timeout": 120},
            "openbao": {"version": "2.7.2", "source": "local"}, "unseal_wait": 300,
        }
        values.update(overrides)
        config = {f"pm:{k}": v for k, v in values.items() if v is not None}
        path = self.root / "stacks" / f"Pulumi.{stack}.yaml"
        document: dict[str, Any] = {"config": config}
        if path.exists():  # as an operator edits it: the salt and the values set with --secret stay
            old = yaml.safe_load(path.read_text()) or {}
            if old.get("encryptionsalt"):
                document["encryptionsalt"] = old["encryptionsalt"]
            for key, value in (old.get("config") or {}).items():
                if isinstance(value, dict) and "secure" in value and key not in config:
                    config[key] = value
        path.write_text(yaml.safe_dump(document, sort_keys=False))
        subprocess.run(["pulumi", "stack", "init", stack, "--non-interactive"], cwd=self.root, env=self.env,
                       capture_output=True, text=True, timeout=120, check=False)
        return self.root / "shares" / f"{stack}.json"

    def pulumi(self, *args: str, stack: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(["pulumi", *args, "--stack", stack, "--non-interactive"], cwd=self.root,
                                env=self.env, capture_output=True, text=True, timeout=900, check=False)
        if check and result.returncode != 0:
            raise AssertionError(f"pulumi {' '.join(args)} failed ({result.returncode}):\n{result.stdout[-6000:]}\n"
                                 f"{result.stderr[-3000:]}")
        return result

    def start(self, *args: str, stack: str) -> subprocess.Popen[str]:
        return subprocess.Popen(["pulumi", *args, "--stack", stack, "--non-interactive"], cwd=self.root,
                                env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def outputs(self, stack: str, secrets: bool = False) -> dict[str, Any]:
        extra = ("--show-secrets",) if secrets else ()
        return dict(json.loads(self.pulumi("stack", "output", "--json", *extra, stack=stack).stdout))


def operator_env(audit_log: Path, **settings: str) -> dict[str, str]:
    """An operator's shell: no sandbox or test Vault settings, only ``settings`` (VAULT_ADDRS, VAULT_CACERT, ...)."""
    env = {k: v for k, v in pulumi_env(Path("/nonexistent")).items() if not k.startswith(("VAULT_", "PM_"))}
    env.update({"COLUMNS": "200", "PM_AUDIT_LOG": str(audit_log), **settings})
    return env


def run_invoke(*args: str, env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess[str]:
    """``invoke <args>`` as the operator runs it, from the repository."""
    run = subprocess.run([INVOKE, *args], env=env, cwd=REPO, capture_output=True, text=True, timeout=600)
    if check and run.returncode != 0:
        raise AssertionError(f"invoke {' '.join(args)} failed ({run.returncode}):\n{run.stdout[-4000:]}\n"
                             f"{run.stderr[-3000:]}")
    return run


def unseal_command(shares_file: Path, operator: Operator, addresses: list[str]) -> tuple[list[str], dict[str, str]]:
    env = operator_env(shares_file.parent / "a.log", GNUPGHOME=str(operator.home), VAULT_ADDRS=",".join(addresses))
    return [INVOKE, "vault.unseal", "--shares-file", str(shares_file), "--wait", "240"], env


def up_with_operators(project: ClusterProject, stack: str, shares_file: Path, operators: list[Operator],
                      timeout: float = 600.0, on_poll: Callable[[], bool] | None = None) -> tuple[str, list[str]]:
    """`pulumi up` while ``operators`` run `invoke vault.unseal` as soon as the shares are handed over. Returns the
    engine's output and each operator's."""
    up = project.start("up", "--yes", "--skip-preview", stack=stack)
    handed_over = on_poll or shares_file.exists
    try:
        wait_for(lambda: handed_over() or up.poll() is not None, what="the encrypted shares", timeout=timeout,
                 interval=0.1)
        if up.poll() is not None:
            raise AssertionError(f"pulumi up ended before handing over shares:\n{up.communicate()[0][-6000:]}")
        addresses = list(json.loads(shares_file.read_text())["addresses"])
        runs = [subprocess.Popen(cmd, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                for cmd, env in (unseal_command(shares_file, op, addresses) for op in operators)]
        reports = [run.communicate(timeout=timeout)[0] for run in runs]
        for run, report in zip(runs, reports, strict=True):
            assert run.returncode == 0, report[-3000:]
        out = up.communicate(timeout=timeout)[0]
    finally:
        if up.poll() is None:
            up.kill()
            up.wait()
    assert up.returncode == 0, out[-8000:]
    return out, reports


def environment(outputs: Mapping[str, Any], ca_file: Path) -> dict[str, str]:
    ca_file.write_text(str(outputs["ca_cert"]))
    return {"VAULT_ADDRS": str(outputs["vault_addrs"]), "VAULT_CACERT": str(ca_file)}


def _sealed_nodes(shares_file: Path) -> list[str]:
    """The nodes the hand-off names that are up and sealed (a restarted node, or a new one waiting to join)."""
    try:
        document = json.loads(shares_file.read_text())
    except (OSError, ValueError):
        return []
    ca_file = shares_file.parent / f".{shares_file.stem}-ca.pem"
    ca_file.write_text(str(document["ca_cert"]))
    states = [probe_node(str(a), timeout=1.0, verify=str(ca_file)) for a in document.get("addresses") or []]
    return [s.address for s in states if s.reachable and s.sealed]


def up_with_operators_on_call(project: ClusterProject, stack: str, shares_file: Path, operators: list[Operator],
                              timeout: float = 900.0, max_rounds: int | None = None,
                              check: bool = True) -> tuple[str, int]:
    """`pulumi up` of a running cluster while ``operators`` stay on call: whenever a node of the hand-off is sealed
    (restarted, or new and joining), each runs `invoke vault.unseal --shares-file` (the nodes and the CA from the
    file, as the rollout leaves it), at most ``max_rounds`` times. Returns the engine's output and how many unseal
    rounds were needed; with ``check`` the `up` must succeed."""
    up = project.start("up", "--yes", "--skip-preview", stack=stack)
    rounds = 0
    deadline = time.monotonic() + timeout
    try:
        while up.poll() is None and time.monotonic() < deadline:
            if (max_rounds is not None and rounds >= max_rounds) or not _sealed_nodes(shares_file):
                time.sleep(0.2)
                continue
            rounds += 1
            runs = []
            for op in operators:
                env = operator_env(shares_file.parent / "a.log", GNUPGHOME=str(op.home))
                runs.append(subprocess.Popen([INVOKE, "vault.unseal", "--shares-file", str(shares_file), "--wait",
                                              "120"], env=env, cwd=REPO, stdout=subprocess.PIPE,
                                             stderr=subprocess.STDOUT, text=True))
            for run in runs:
                report = run.communicate(timeout=300)[0]
                assert run.returncode == 0, report[-3000:]
        out = up.communicate(timeout=max(1.0, deadline - time.monotonic()))[0]
    finally:
        if up.poll() is None:
            up.kill()
            up.wait()
    assert up.returncode == 0 or not check, out[-8000:]
    return out, rounds


class ClientLoad:
    """A client writing and reading a secret after another through the failing-over ``VaultClient`` (all the
    cluster's addresses), in a thread: every failed operation and the longest one (the stall a client sees)."""

    def __init__(self, config: VaultConfig, prefix: str) -> None:
        self.config = config
        self.prefix = prefix
        self.written = 0
        self.failures: list[str] = []
        self.longest = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> ClientLoad:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=120)

    def _run(self) -> None:
        with VaultClient(self.config) as client:
            while not self._stop.is_set():
                path = paths.SecretPath("vps", f"{self.prefix}/op{self.written}")
                started = time.monotonic()
                try:
                    kv.write_next(client, path, {"i": self.written})
                    assert kv.read(client, path).data == {"i": self.written}
                except Exception as exc:
                    self.failures.append(f"op{self.written}: {type(exc).__name__}: {exc}"[:300])
                else:
                    self.written += 1
                self.longest = max(self.longest, time.monotonic() - started)
                time.sleep(0.05)

    def lost(self, client: VaultClient) -> list[int]:
        """The operations written that the cluster no longer has."""
        return [i for i in range(self.written)
                if kv.read(client, paths.SecretPath("vps", f"{self.prefix}/op{i}")).data != {"i": i}]


PREVIOUS_OPENBAO = Path.home() / ".cache" / "pm-toolkit" / "openbao-previous"
"""The previous OpenBao release (``scripts/setup.sh`` step 6): the rolling-upgrade test starts a cluster on it."""


def openbao_version(binary: str | Path) -> str:
    """``2.7.2`` from ``bao version`` (``OpenBao v2.7.2 (<commit>), ...``)."""
    out = subprocess.run([str(binary), "version"], capture_output=True, text=True, timeout=30, check=True).stdout
    return out.split()[1].removeprefix("v")


def previous_openbao() -> dict[str, str]:
    """The stack's ``openbao`` setting for the previous release (this machine's copy, pinned to its digest)."""
    binary = PREVIOUS_OPENBAO / "bao"
    assert binary.is_file(), f"{binary} is missing: run scripts/setup.sh (step 6 fetches the previous OpenBao)"
    return {"version": openbao_version(binary), "source": "local", "local_path": str(binary)}


def node_versions(addresses: list[str], ca_file: str) -> list[str]:
    """The OpenBao version each node runs (``sys/seal-status``)."""
    return [str(requests.get(f"{a}/v1/sys/seal-status", verify=ca_file, timeout=5).json()["version"])
            for a in addresses]


def system_approle(outputs: Mapping[str, Any], secret: Mapping[str, Any], ca_file: str) -> VaultConfig:
    """The toolkit's system AppRole on the cluster, its wrapped secret id (single use) opened once."""
    addresses = list(outputs["addresses"])
    secret_id = unwrap(addresses[0], str(secret["system_secret_id_wrapped"]), {"VAULT_CACERT": ca_file})
    return VaultConfig(tuple(addresses), role_id=str(secret["system_role_id"]), secret_id=secret_id, verify=ca_file)
