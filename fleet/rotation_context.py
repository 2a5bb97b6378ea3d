"""What every rotation step needs: Vault, the clock, the audit log, the tenant's host, SSH access.

``host_of(config)`` returns the VPS address (default: the stack's ``main_ip`` output through the ``pulumi`` CLI).
SSH host keys: like the Mailu component, the first connection of a run trusts the host key on first use; every
later connection of the same run to that host is pinned to it (``HostKeys``), so a key swap mid-run is refused.
Private keys are read from Vault into memory and handed to paramiko; they are never written or printed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from fleet.audit import AuditLog
from fleet.clock import Clock
from fleet.rotation import RotationError
from toolkit.redact import REDACTOR, Secret
from toolkit.ssh import KnownHosts, SshAuthError, SshExecutor
from toolkit.tenant_config import TenantConfig
from vault import kv, paths
from vault.client import VaultClient


def stack_host(work_dir: Path | None = None, env: dict[str, str] | None = None) -> Callable[[TenantConfig], str]:
    """``host_of`` reading the stack's ``main_ip`` output (``pulumi stack output``)."""
    from fleet.stack_outputs import REPO, stack_outputs

    def host_of(config: TenantConfig) -> str:
        outputs = stack_outputs(config.tenant_id, work_dir=work_dir or REPO, env=env)
        address = str(outputs.get("main_ip") or "")
        if not address:
            raise RotationError(f"{config.tenant_id}: the stack has no main_ip output (not deployed?)")
        return address
    return host_of


class HostKeys:
    """Host keys learnt on first use in this run, per address (thread-safe)."""

    def __init__(self) -> None:
        self._lines: dict[str, list[str]] = {}
        self._lock = threading.Lock()

    def for_host(self, address: str) -> KnownHosts:
        with self._lock:
            lines = list(self._lines.get(address, []))
        return KnownHosts(lines=lines, trust_on_first_use=not lines)

    def learn(self, address: str, known: KnownHosts) -> None:
        if known.recorded:
            with self._lock:
                self._lines.setdefault(address, []).extend(known.recorded)


@dataclass
class RotationContext:
    vault: VaultClient
    clock: Clock
    audit: AuditLog
    host_of: Callable[[TenantConfig], str]
    stacks_dir: Path
    dns_secret: Secret | None = None
    """TSIG secret / Cloudflare token; None = from the environment (PM_DNS_TSIG_SECRET, CLOUDFLARE_API_TOKEN)."""
    ssh_port: int = 22
    connect_timeout: float = 10.0
    boot_timeout: float = 30.0
    mailu_health_timeout: float = 600.0
    progress: Callable[[str], None] = field(default=lambda _message: None)
    host_keys: HostKeys = field(default_factory=HostKeys)

    def say(self, tenant: str, message: str) -> None:
        self.progress(f"{tenant}: {message}")

    # ----------------------------------------------------------------------------------------- SSH access
    def executor(self, address: str, key: Secret, user: str = "root") -> SshExecutor:
        known = self.host_keys.for_host(address)
        return SshExecutor(address, key, port=self.ssh_port, user=user, known_hosts=known,
                           connect_timeout=self.connect_timeout, boot_timeout=self.boot_timeout)

    def connect(self, address: str, key: Secret, user: str = "root") -> SshExecutor:
        executor = self.executor(address, key, user)
        executor.connect()
        self.host_keys.learn(address, executor.known_hosts)
        return executor

    def connect_any(self, address: str, keys: Sequence[Secret], user: str = "root") -> tuple[SshExecutor, int]:
        """Log in with the first key the host accepts; returns the executor and the index of that key."""
        refused: list[str] = []
        for index, key in enumerate(keys):
            try:
                return self.connect(address, key, user), index
            except SshAuthError as exc:
                refused.append(str(exc))
        raise RotationError(f"{user}@{address}: none of the {len(keys)} candidate key(s) was accepted: "
                            + "; ".join(refused))

    def login_works(self, address: str, key: Secret, user: str = "root") -> bool:
        """True if ``user`` can log in with ``key`` and run a command; False if the key is refused."""
        try:
            with self.connect(address, key, user) as executor:
                executor.run("true")
        except SshAuthError:
            return False
        return True

    # ----------------------------------------------------------------------------------------- Vault helpers
    def private_key(self, path: paths.SecretPath, version: int | None = None) -> Secret:
        value = Secret(str(kv.read(self.vault, path, version).data["private_key"]))
        REDACTOR.register(value)
        return value

    def admin_keys(self, tenant: str) -> list[Secret]:
        """The admin key(s) that may currently open root: the current version, then (during a grace window)
        the previous one."""
        path = paths.admin_ssh(tenant)
        current = kv.read(self.vault, path)
        value = Secret(str(current.data["private_key"]))
        REDACTOR.register(value)
        keys = [value]
        previous = current.data.get("previous_version")
        if current.data.get("grace_until") and previous:
            keys.append(self.private_key(path, int(previous)))
        return keys
