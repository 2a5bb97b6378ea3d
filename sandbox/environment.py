"""Bring the whole local sandbox up or down as one unit, and report its status.

Services start in dependency order (Vault, DNS, Hostwinds simulator, Pulumi backend); if one fails, the ones
already started are stopped again, so a sandbox is never left half-started. ``down`` stops them in reverse and
then sweeps any process still referring to the sandbox directory (e.g. VPS sshd hosts of a killed simulator),
so nothing is left behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from sandbox.hostwinds_sim.process import SimulatorProcess
from sandbox.openbao import DevServer, RaftCluster
from sandbox.settings import SandboxSettings
from toolkit.connection import read_env_file, write_env_file
from toolkit.errors import SetupError
from toolkit.private_files import write_private
from toolkit.redact import Secret
from vault.backup.crypto import BackupKey
from vault.backup.restore import UNSEAL_KEYS_FILE_ENV
from vault.bootstrap import bootstrap
from vault.client import VaultClient
from vault.config import VaultConfig

if TYPE_CHECKING:
    from sandbox.bind import BindServer


class SandboxService(Protocol):
    name: str

    def start(self) -> dict[str, str]:
        """Start (or find running) and return the environment variables clients need."""

    def stop(self) -> bool: ...

    def running(self) -> bool: ...


def _secret_file(path: Path, nbytes: int = 24) -> str:
    if path.exists():
        return path.read_text().strip()
    value = secrets.token_urlsafe(nbytes)
    write_private(path, value)
    return value


@dataclass
class VaultService:
    settings: SandboxSettings
    name: str = "openbao"

    def _server(self) -> DevServer | RaftCluster:
        if self.settings.vault_mode == "raft":
            return RaftCluster(self.settings.root / "openbao-raft", nodes=self.settings.vault_nodes,
                               base_port=self.settings.raft_base_port)
        return DevServer(self.settings.root / "openbao", port=self.settings.vault_port)

    def start(self) -> dict[str, str]:
        server = self._server()
        server.start()
        addresses = server.addresses if isinstance(server, RaftCluster) else [server.address]
        with VaultClient(VaultConfig(addresses=tuple(addresses), token=Secret(server.root_token))) as client:
            bootstrap(client)
        env = {
            "VAULT_ADDR": addresses[0],
            "VAULT_ADDRS": ",".join(addresses),
            "VAULT_TOKEN": server.root_token,
            "PM_VAULT_AUDIT_LOG": str(server.audit_log),
        }
        if isinstance(server, RaftCluster):
            # The sandbox's own unseal keys, so restores and drills run without a prompt (never in production).
            env[UNSEAL_KEYS_FILE_ENV] = str(server.init_file)
        return env

    def stop(self) -> bool:
        return self._server().stop()

    def running(self) -> bool:
        return self._server().running()


@dataclass
class DnsService:
    settings: SandboxSettings
    name: str = "bind"

    def _server(self) -> BindServer:
        from sandbox.bind import BindServer

        return BindServer(self.settings.root / "bind", port=self.settings.dns_port, zones=[self.settings.zone])

    def start(self) -> dict[str, str]:
        server = self._server()
        server.start()
        tsig = server.tsig
        return {
            "PM_DNS_SERVER": "127.0.0.1",
            "PM_DNS_PORT": str(self.settings.dns_port),
            "PM_DNS_ZONE": self.settings.zone,
            "PM_DNS_TSIG_NAME": str(tsig.name),
            "PM_DNS_TSIG_ALGORITHM": str(tsig.algorithm),
            "PM_DNS_TSIG_SECRET": tsig.secret.reveal() if hasattr(tsig.secret, "reveal") else str(tsig.secret),
        }

    def stop(self) -> bool:
        return bool(self._server().stop())

    def running(self) -> bool:
        return bool(self._server().running())


@dataclass
class HostwindsService:
    """The Hostwinds API simulator as a subprocess; its VPSes are real sshd hosts on 127.77.x.y."""

    settings: SandboxSettings
    name: str = "hostwinds-simulator"

    def _process(self) -> SimulatorProcess:
        api_key = _secret_file(self.settings.root / "hostwinds-api-key")
        return SimulatorProcess(self.settings.root / "hostwinds", self.settings.hostwinds_port, api_key)

    def start(self) -> dict[str, str]:
        process = self._process()
        process.start()
        return {"HOSTWINDS_API_URL": process.url, "HOSTWINDS_API_KEY": process.api_key}

    def stop(self) -> bool:
        return self._process().stop()

    def running(self) -> bool:
        return self._process().running()


@dataclass
class PulumiBackend:
    """A local `file://` state backend with the passphrase secrets provider."""

    settings: SandboxSettings
    name: str = "pulumi-backend"

    def start(self) -> dict[str, str]:
        self.settings.pulumi_state_dir.mkdir(parents=True, exist_ok=True)
        # A fixed, documented passphrase: the sandbox's stack files (stacks/Pulumi.demo.yaml) carry the
        # encryption salt Pulumi derives from it, and no secret is ever kept in Pulumi config or state.
        passphrase = os.environ.get("PM_SANDBOX_PULUMI_PASSPHRASE", "pm-sandbox-only")
        return {
            "PULUMI_BACKEND_URL": f"file://{self.settings.pulumi_state_dir}",
            "PULUMI_CONFIG_PASSPHRASE": passphrase,
            "PULUMI_SKIP_UPDATE_CHECK": "true",
            "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        }

    def stop(self) -> bool:
        return False

    def running(self) -> bool:
        return self.settings.pulumi_state_dir.is_dir()


@dataclass
class BackupSettings:
    """Where the sandbox's Vault backups go and the key that encrypts them (created once, mode 0600)."""

    settings: SandboxSettings
    name: str = "backups"

    def start(self) -> dict[str, str]:
        self.settings.backup_dir.mkdir(parents=True, exist_ok=True)
        if not self.settings.backup_key_file.exists():
            write_private(self.settings.backup_key_file, BackupKey.generate().to_base64() + "\n")
        return {"PM_BACKUP_DEST": str(self.settings.backup_dir),
                "PM_BACKUP_KEY_FILE": str(self.settings.backup_key_file)}

    def stop(self) -> bool:
        return False

    def running(self) -> bool:
        return self.settings.backup_key_file.exists()


@dataclass
class Sandbox:
    settings: SandboxSettings
    services: list[SandboxService] = field(default_factory=list)

    @classmethod
    def default(cls, settings: SandboxSettings | None = None) -> Sandbox:
        s = settings or SandboxSettings.from_env()
        return cls(s, [VaultService(s), DnsService(s), HostwindsService(s), PulumiBackend(s), BackupSettings(s)])

    def up(self) -> dict[str, str]:
        self.settings.root.mkdir(parents=True, exist_ok=True)
        env: dict[str, str] = {}
        started: list[SandboxService] = []
        try:
            for service in self.services:
                was_running = service.running()
                env.update(service.start())
                if not was_running:
                    started.append(service)
        except BaseException:
            for service in reversed(started):
                with contextlib.suppress(Exception):
                    service.stop()
            raise
        self._write_env(env)
        self.settings.state_file.write_text(
            json.dumps({"vault_mode": self.settings.vault_mode, "vault_nodes": self.settings.vault_nodes,
                        "started_at": time.time()}, indent=2)
        )
        return env

    def down(self) -> list[str]:
        stopped = [service.name for service in reversed(self.services) if service.stop()]
        swept = sweep_processes(self.settings.root)
        if swept:
            stopped.append(f"{swept} leftover process(es)")
        self.settings.state_file.unlink(missing_ok=True)
        return stopped

    def status(self) -> dict[str, bool]:
        return {service.name: service.running() for service in self.services}

    def _write_env(self, env: Mapping[str, str]) -> None:
        write_env_file(self.settings.env_file, env)


def read_env(settings: SandboxSettings) -> dict[str, str]:
    """The connection settings written by ``Sandbox.up`` (raises if the sandbox is not up)."""
    if not settings.env_file.exists():
        raise SetupError("read sandbox settings", "the sandbox is not up", "run `invoke sandbox.up`")
    return read_env_file(settings.env_file)


def sweep_processes(root: Path) -> int:
    """Kill every process whose command line mentions the sandbox directory. Returns how many."""
    marker = str(root) + os.sep
    killed = 0
    me = os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if marker in cmdline:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(int(entry.name), signal.SIGKILL)
                killed += 1
    return killed
