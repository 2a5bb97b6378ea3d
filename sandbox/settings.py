"""Where the sandbox keeps its state and which loopback ports it uses (overridable by environment)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from toolkit.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parent.parent
VaultMode = Literal["dev", "raft"]


def _port(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not 1024 <= int(raw) <= 65535:
        raise ConfigError(name, f"{raw!r} is not a port number between 1024 and 65535")
    return int(raw)


@dataclass(frozen=True)
class SandboxSettings:
    root: Path
    vault_mode: VaultMode = "raft"
    vault_nodes: int = 1
    vault_port: int = 18200
    raft_base_port: int = 18210
    dns_port: int = 15353
    hostwinds_port: int = 18700
    zone: str = "sandbox.test"

    @classmethod
    def from_env(cls, vault_mode: str | None = None, vault_nodes: int | None = None) -> SandboxSettings:
        """Explicit arguments, else PM_SANDBOX_* variables, else what the running sandbox was started with (so
        `down` and `status` address the same servers as `up`), else raft with one node."""
        root = Path(os.environ.get("PM_SANDBOX_DIR", REPO_ROOT / ".sandbox")).resolve()
        recorded = _recorded(root / "state.json")
        mode = vault_mode or os.environ.get("PM_SANDBOX_VAULT_MODE") or str(recorded.get("vault_mode") or "raft")
        if mode not in ("dev", "raft"):
            raise ConfigError("vault_mode", f"{mode!r} is not one of: dev, raft")
        nodes_raw = vault_nodes or os.environ.get("PM_SANDBOX_VAULT_NODES") or recorded.get("vault_nodes") or 1
        if str(nodes_raw) not in ("1", "3"):
            raise ConfigError("vault_nodes", f"{nodes_raw!r}: a sandbox raft cluster has 1 or 3 nodes")
        if mode == "dev" and str(nodes_raw) != "1":
            raise ConfigError("vault_nodes", "a dev-mode Vault has one node: use --vault-mode raft for 3 nodes")
        return cls(
            root=root,
            vault_mode=mode,  # type: ignore[arg-type]
            vault_nodes=int(str(nodes_raw)),
            vault_port=_port("PM_SANDBOX_VAULT_PORT", 18200),
            raft_base_port=_port("PM_SANDBOX_RAFT_PORT", 18210),
            dns_port=_port("PM_SANDBOX_DNS_PORT", 15353),
            hostwinds_port=_port("PM_SANDBOX_HOSTWINDS_PORT", 18700),
            zone=os.environ.get("PM_SANDBOX_ZONE", "sandbox.test"),
        )

    @property
    def env_file(self) -> Path:
        """Shell-sourceable connection settings for tasks and `pulumi` (mode 0600: holds sandbox tokens)."""
        return self.root / "env"

    @property
    def state_file(self) -> Path:
        return self.root / "state.json"

    @property
    def pulumi_state_dir(self) -> Path:
        return self.root / "pulumi-state"

    @property
    def backup_dir(self) -> Path:
        return self.root / "backups"

    @property
    def backup_key_file(self) -> Path:
        return self.root / "backup.key"


def _recorded(state_file: Path) -> dict[str, object]:
    try:
        data = json.loads(state_file.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
