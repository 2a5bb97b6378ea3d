"""Helpers for day-2 end-to-end tests: run tasks exactly as an operator does (`invoke ...` as a subprocess with the
sandbox's connection env), then make the checks an operator would make, independently of the task's own report."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from dnsrecords import wire
from fleet.access_check import AccessProbe, private_key
from hostwinds.client import GONE_STATUSES, HostwindsClient
from hostwinds.settings import ClientSettings
from sandbox.environment import sweep_processes
from tests.fixtures.tenant import TenantProject
from vault import paths
from vault.client import VaultClient

REPO = Path(__file__).resolve().parents[2]
INVOKE = str(Path(REPO / ".venv" / "bin" / "invoke")) if (REPO / ".venv" / "bin" / "invoke").exists() else "invoke"


def invoke(project: TenantProject, *args: str, check: bool = True,
           extra_env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`invoke <task> ... --work-dir <project>` from the repository, as an operator runs it."""
    env = {**project.env, "COLUMNS": "200", "PM_AUDIT_LOG": str(project.root / "audit.jsonl"), **(extra_env or {})}
    result = subprocess.run([INVOKE, *args, "--work-dir", str(project.root)], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=900, check=False)
    if check and result.returncode != 0:
        raise AssertionError(f"invoke {' '.join(args)} exited {result.returncode}:\n{result.stdout[-6000:]}\n"
                             f"{result.stderr[-3000:]}")
    return result


def kill_everything(process: subprocess.Popen[str] | subprocess.Popen[bytes], project: TenantProject) -> None:
    """SIGKILL a task started in its own session, and the engine's plugins that left its process group (the
    language host and providers run in their own groups and would linger, talking to a dead engine)."""
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    sweep_processes(project.root)


def assert_converged(project: TenantProject, tenant: str) -> None:
    """`pulumi preview --expect-no-changes` passes and `pulumi up --refresh` changes nothing."""
    project.pulumi("preview", "--expect-no-changes", "--diff", stack=tenant)
    project.pulumi("up", "--refresh", "--yes", "--expect-no-changes", "--skip-preview", stack=tenant)


def txt(project: TenantProject, name: str) -> bool:
    return wire.authoritative_record("127.0.0.1", project.settings.dns_port, name, "TXT") is not None


def vps_count(project: TenantProject, tenant: str) -> int:
    env = project.sandbox_env
    old = {k: os.environ.get(k) for k in ("HOSTWINDS_API_URL", "HOSTWINDS_API_KEY")}
    os.environ.update({k: env[k] for k in old})
    try:
        client = HostwindsClient(ClientSettings.from_env())
        return sum(1 for i in client.list_instances()
                   if i.label.startswith(f"pm-{tenant}-") and i.status not in GONE_STATUSES)
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@dataclass
class Logins:
    """Which key versions open the VPS (root for admin keys, the tenant user for tenant keys)."""

    vault: VaultClient
    tenant: str
    user: str
    address: str

    def works(self, kind: paths.SshKeyKind, version: int) -> bool:
        key = private_key(self.vault, paths.ssh_key(self.tenant, kind), version)
        if key is None:
            return False
        login = "root" if kind is paths.SshKeyKind.ADMIN else self.user
        return AccessProbe(self.address).login_works(key, login)
