"""After a day-2 change: prove from outside which SSH keys open the VPS, as a client would (real logins).

Private keys come from Vault by version (a revoked version holds none: its refusal is proven with the version
before it). Host keys are trusted on first use within one check and pinned for the rest of it.
"""

from __future__ import annotations

from dataclasses import dataclass

from toolkit.redact import REDACTOR, Secret
from toolkit.ssh import KnownHosts, SshAuthError, SshExecutor
from vault import kv, paths
from vault.client import VaultClient
from vault.errors import SecretNotFound


@dataclass(frozen=True)
class AccessCheck:
    label: str
    expected: bool
    actual: bool

    @property
    def ok(self) -> bool:
        return self.expected == self.actual

    def line(self) -> str:
        verdict = "accepted" if self.actual else "refused"
        return f"{self.label}: {verdict} ({'as intended' if self.ok else 'NOT AS INTENDED'})"


def private_key(vault: VaultClient, path: paths.SecretPath, version: int) -> Secret | None:
    try:
        data = kv.read(vault, path, version).data
    except SecretNotFound:
        return None
    if "private_key" not in data:
        return None
    key = Secret(str(data["private_key"]))
    REDACTOR.register(key)
    return key


class AccessProbe:
    def __init__(self, address: str, port: int = 22, timeout: float = 10.0) -> None:
        self.address, self.port, self.timeout = address, port, timeout
        self._known: list[str] = []

    def login_works(self, key: Secret, user: str) -> bool:
        known = KnownHosts(lines=list(self._known), trust_on_first_use=not self._known)
        executor = SshExecutor(self.address, key, port=self.port, user=user, known_hosts=known,
                               connect_timeout=self.timeout, boot_timeout=self.timeout)
        try:  # authentication only: nothing runs in the login shell (a tenant's ~/.bashrc cannot stall or fail it)
            executor.connect()
        except SshAuthError:
            return False
        finally:
            executor.close()
        self._known.extend(known.recorded)
        return True

    def check(self, label: str, key: Secret | None, user: str, expected: bool) -> AccessCheck:
        actual = False if key is None else self.login_works(key, user)
        return AccessCheck(label, expected, actual)


def ssh_access(vault: VaultClient, tenant: str, user: str, kind: paths.SshKeyKind, *, address: str,
               current_version: int, current_allowed: bool, grace_versions: tuple[int, ...] = (),
               refused_versions: tuple[int, ...] = (), port: int = 22) -> list[AccessCheck]:
    """The current key, the keys in grace and the keys that must be gone, each tried for real."""
    path = paths.ssh_key(tenant, kind)
    login = "root" if kind is paths.SshKeyKind.ADMIN else user
    probe = AccessProbe(address, port)
    checks = [probe.check(f"{login}@{address} with {kind.value} v{current_version} (current)",
                          private_key(vault, path, current_version), login, current_allowed)]
    checks += [probe.check(f"{login}@{address} with {kind.value} v{v} (grace)", private_key(vault, path, v), login,
                           True) for v in grace_versions]
    checks += [probe.check(f"{login}@{address} with {kind.value} v{v} (removed)", private_key(vault, path, v), login,
                           False) for v in refused_versions]
    return checks
