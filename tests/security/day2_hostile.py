"""A deployed tenant that turned hostile, for the day-2 attack tests (tests/security/test_day2_attacks.py).

What the attacker has: a shell on its own VPS as its tenant user (logged in with its own key, read from Vault with
its own tenant token) and that token. What the checks use: the operator's view (the sandbox's root token, a root
session on the VPS with the current admin key), so every assertion is made independently of the attacker.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from fleet.intent import TenantIntent, load
from mailu import hardening
from tests.e2e.day2 import invoke
from tests.fixtures.tenant import TenantProject
from toolkit.authorized_keys import ROOT_AUTHORIZED_KEYS, blobs
from toolkit.redact import REDACTOR, Secret
from toolkit.ssh import KnownHosts, SshExecutor
from toolkit.tenant_files import AUTHORIZED_KEYS, TenantFiles
from vault import auth, keys, kv, paths
from vault.client import VaultClient

ADMIN, TENANT = paths.SshKeyKind.ADMIN, paths.SshKeyKind.TENANT
WATCHED = ("/root", "/etc/profile.d", "/etc/sudoers.d", "/etc/cron.d", "/etc/passwd", "/etc/shadow", "/etc/group",
           "/usr/local/bin", "/tmp")
"""Where a root-side step tricked by the tenant would leave a trace (root's authorized_keys is checked by key)."""


@dataclass
class Hostile:
    project: TenantProject
    tenant: str
    domain: str
    user: str
    address: str
    vault: VaultClient
    """The operator's view of Vault (sandbox root token)."""

    @property
    def home(self) -> str:
        return f"/home/{self.user}"

    def intent(self) -> TenantIntent:
        found = load(self.vault, self.tenant)
        assert found is not None
        return found

    def run(self, *args: str, check: bool = True) -> str:
        """`invoke <task> --tenant <tenant> ...` as the operator; returns stdout (exit code checked unless told)."""
        return invoke(self.project, args[0], "--tenant", self.tenant, *args[1:], check=check).stdout

    def run_result(self, *args: str) -> tuple[int, str]:
        result = invoke(self.project, args[0], "--tenant", self.tenant, *args[1:], check=False)
        return result.returncode, result.stdout + result.stderr

    # --- the attacker ----------------------------------------------------------------------------------------
    @contextmanager
    def tenant_vault(self) -> Iterator[VaultClient]:
        """A Vault client holding a token of the tenant policy for this tenant (what the tenant is given)."""
        with self.vault.with_token(auth.issue_tenant_token(self.vault, self.tenant), manage_token=True) as client:
            yield client

    def tenant_shell(self) -> SshExecutor:
        """The tenant's own SSH session, with the key it reads from Vault with its own token."""
        with self.tenant_vault() as client:
            key = Secret(str(kv.read(client, paths.tenant_ssh(self.tenant)).data["private_key"]))
        REDACTOR.register(key)
        return SshExecutor(self.address, key, user=self.user, known_hosts=KnownHosts(trust_on_first_use=True),
                           boot_timeout=10.0)

    def as_tenant(self, script: str, stdin: bytes | None = None) -> None:
        """What the tenant runs in its shell (a login with its key)."""
        with self.tenant_shell() as shell:
            shell.run(script, stdin=stdin)

    def tenant_job(self, script: str) -> None:
        """What a job the tenant left behind (cron entry, background process) runs with the tenant's uid only, for
        moments when the tenant has no key to log in with (revoked). Started from root with setpriv, no shell rc."""
        with self.root() as root:
            user = shlex.quote(self.user)
            root.run(f"setpriv --reuid=$(id -u {user}) --regid=$(id -g {user}) --clear-groups --no-new-privs "
                     f"--reset-env -- sh -c {shlex.quote(f'cd {shlex.quote(self.home)} && {script}')}")

    # --- the operator's checks -------------------------------------------------------------------------------
    def root(self) -> SshExecutor:
        key = keys.read_private(self.vault, paths.ssh_key(self.tenant, ADMIN))
        return SshExecutor(self.address, key, known_hosts=KnownHosts(trust_on_first_use=True), boot_timeout=10.0)

    def public_key(self, kind: paths.SshKeyKind, version: int | None = None) -> str:
        return str(kv.read(self.vault, paths.ssh_key(self.tenant, kind), version).data["public_key"])

    def wanted_keys(self, kind: paths.SshKeyKind) -> list[str]:
        """The keys the intent says must open root (admin) or the tenant user (tenant): current + grace."""
        ssh = self.intent().ssh(kind)
        current = [] if kind is TENANT and ssh.revoked else [self.public_key(kind)]
        return [*current, *(g.public_key for g in ssh.grace)]

    def root_blobs(self) -> set[str]:
        with self.root() as root:
            raw = root.read_file_if_exists(ROOT_AUTHORIZED_KEYS) or b""
        return set(blobs(raw.decode(errors="replace")))

    def tenant_blobs(self) -> set[str] | None:
        """The keys in the tenant's authorized_keys, read as the tenant (None: no trustworthy file)."""
        with self.root() as root:
            text = TenantFiles(root, self.user).read(AUTHORIZED_KEYS)
        return None if text is None else set(blobs(text))

    def converge_tenant_keys(self) -> None:
        """What the installer's tenant-user step writes (the keys of the intent), as it writes them."""
        content = hardening.tenant_authorized_keys(hardening.HardeningConfig(
            tenant_id=self.tenant, tenant_public_keys=tuple(self.wanted_keys(TENANT)))).content
        with self.root() as root:
            TenantFiles(root, self.user).write(AUTHORIZED_KEYS, content)

    def root_world(self) -> str:
        """Owner, mode, type and SHA-256 of everything under WATCHED except root's authorized_keys."""
        watched = " ".join(WATCHED)
        script = (f"find {watched} -xdev ! -path {ROOT_AUTHORIZED_KEYS} -printf '%p %m %U:%G %y %l\\n' "
                  f"2>/dev/null | sort; find {watched} -xdev -type f ! -path {ROOT_AUTHORIZED_KEYS} "
                  "-exec sha256sum -- {} + 2>/dev/null | sort")
        with self.root() as root:
            return root.run(script, check=False).stdout

    def assert_keys_as_intended(self) -> None:
        """Root and the tenant user accept exactly the keys of the intent, nothing the tenant planted."""
        assert self.root_blobs() == set(blobs("\n".join(self.wanted_keys(ADMIN))))
        assert self.tenant_blobs() == set(blobs("\n".join(self.wanted_keys(TENANT))))

    def assert_converged(self) -> None:
        self.project.pulumi("preview", "--expect-no-changes", stack=self.tenant)
        assert self.intent().pending is None
