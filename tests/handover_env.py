"""Running the handover tasks (`ssh.download|unwrap`, `smtp.credentials|unwrap`) in-process against the session's
real OpenBao, as the operator's system credential (AppRole) and the tenant's bare Vault address run them."""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from invoke.context import Context
from invoke.exceptions import Exit

from fleet.audit import AuditLog
from sandbox.openbao import DevServer
from tasks_lib import smtp as smtp_tasks
from tasks_lib import ssh as ssh_tasks
from toolkit import stack_files
from vault import bootstrap, keys, kv, paths
from vault.client import VaultClient


def new_tenant() -> str:
    return "h" + uuid.uuid4().hex[:9]


def token_in(output: str) -> str:
    """The token a handover task printed alone on its line (OpenBao tokens start with ``s.``)."""
    return next(line.strip() for line in output.splitlines() if line.strip().startswith("s."))


@dataclass
class Handovers:
    root: Path
    server: DevServer
    system: VaultClient
    monkeypatch: pytest.MonkeyPatch
    capsys: pytest.CaptureFixture[str]
    last_output: str = ""

    @property
    def audit_log(self) -> Path:
        return self.root / "audit.jsonl"

    def events(self) -> list[dict[str, Any]]:
        return AuditLog(self.audit_log).read()

    def declare(self, tenant: str) -> None:
        stack_files.create(self.root / "stacks", {"tenant_id": tenant, "domain": f"{tenant}.example.com",
                                                  "dns": {"provider": "manual"}, "dkim_selector": "pm20261125"})

    def provision(self, tenant: str) -> str:
        """A declared tenant with a tenant key in Vault; returns the private key (for comparisons only)."""
        self.declare(tenant)
        keys.store_ssh_keypair(self.system, tenant, "tenant_ssh", algorithm="ed25519")
        return str(kv.read(self.system, paths.tenant_ssh(tenant)).data["private_key"])

    def run(self, task: Callable[..., None], *args: Any, stdin: str = "", **kwargs: Any) -> str:
        """The task's output; raises ``Exit`` as the CLI would exit."""
        self.capsys.readouterr()
        self.monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        try:
            task(Context(), *args, **kwargs)
        finally:
            self.last_output = self.capsys.readouterr().out
        return self.last_output

    def refused(self, task: Callable[..., None], *args: Any, stdin: str = "", **kwargs: Any) -> str:
        """Runs a task that must be refused (exit 2); returns what it printed."""
        with pytest.raises(Exit) as caught:
            self.run(task, *args, stdin=stdin, **kwargs)
        assert caught.value.code == 2
        return " ".join(self.last_output.split())

    def download(self, tenant: str, **kwargs: Any) -> str:
        return token_in(self.run(ssh_tasks.download, tenant, work_dir=str(self.root), **kwargs))

    def smtp_view(self, tenant: str, user: str, password: str, code: str) -> str:
        return token_in(self.run(smtp_tasks.credentials, tenant, user=user, totp=code, work_dir=str(self.root),
                                 stdin=password + "\n"))


@pytest.fixture()
def handovers(openbao_dev: DevServer, vault_root: VaultClient, vault_bootstrap: bootstrap.BootstrapResult,
              vault_system: VaultClient, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
              tmp_path: Path) -> Iterator[Handovers]:
    """Tasks see the session's OpenBao with the system AppRole (never the root token) and a tmp stacks dir."""
    monkeypatch.setenv("VAULT_ADDR", openbao_dev.address)
    monkeypatch.setenv("VAULT_ROLE_ID", vault_bootstrap.system_role_id)
    monkeypatch.setenv("VAULT_SECRET_ID", bootstrap.issue_system_secret_id(vault_root).reveal())
    for name in ("VAULT_ADDRS", "VAULT_TOKEN", "PM_ADMIN_USER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PM_AUDIT_LOG", str(tmp_path / "audit.jsonl"))
    monkeypatch.setenv("PM_AUDIT_ACTOR", "operator-test")
    (tmp_path / "stacks").mkdir()
    yield Handovers(tmp_path, openbao_dev, vault_system, monkeypatch, capsys)
