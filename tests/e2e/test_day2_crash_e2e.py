"""Day-2 tasks killed at each step, then run again: the re-run completes the same operation (no second key, no second
selector) and the stack converges. The crash hook (`PM_DR_CRASH_AFTER=<step>`) exits hard right after the intent
is recorded or right after `pulumi up`; a third case kills the task's whole process group while `pulumi up` runs."""

from __future__ import annotations

import subprocess
import time

import pytest

from fleet.intent import load
from fleet.migrate_journal import CRASH_ENV, CRASH_EXIT_CODE
from tests.e2e.day2 import INVOKE, REPO, assert_converged, invoke, kill_everything
from tests.fixtures.tenant import TenantProject
from vault import kv, paths
from vault.client import VaultClient


def _crash(project: TenantProject, step: str, *args: str) -> None:
    result = invoke(project, *args, check=False, extra_env={CRASH_ENV: step})
    assert result.returncode == CRASH_EXIT_CODE, result.stdout[-3000:] + result.stderr[-2000:]


def _kill_during_up(project: TenantProject, *args: str) -> None:
    """Start the task, wait until the engine holds the stack's lock, then kill everything it started."""
    env = {**project.env, "COLUMNS": "200", "PM_AUDIT_LOG": str(project.root / "audit.jsonl")}
    process = subprocess.Popen([INVOKE, *args, "--work-dir", str(project.root)], cwd=REPO, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    locks = project.root / "state" / ".pulumi" / "locks"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        if locks.exists() and any(locks.rglob("*.json")):
            break
        time.sleep(0.05)  # polling a lock file, not waiting for time to pass
    assert process.poll() is None, "the task ended before its update started"
    kill_everything(process, project)


@pytest.mark.timeout(1800)
def test_interrupted_tasks_converge_when_run_again(tenant_project: TenantProject) -> None:
    project, tenant = tenant_project, "crashy"
    project.deploy(tenant)
    vault = VaultClient.from_env(project.sandbox_env)
    admin = paths.admin_ssh(tenant)

    before = kv.current_version(vault, admin)
    _crash(project, "recorded", "rotate.ssh", "--tenant", tenant, "--kind", "admin")
    invoke(project, "rotate.ssh", "--tenant", tenant, "--kind", "admin")
    assert kv.current_version(vault, admin) == before + 1  # one new key, not two
    assert_converged(project, tenant)

    start = load(vault, tenant)
    assert start is not None
    _crash(project, "deployed", "rotate.dkim", "--tenant", tenant)
    invoke(project, "rotate.dkim", "--tenant", tenant)
    done = load(vault, tenant)
    assert done is not None and done.pending is None
    assert len(done.dkim.history) == len(start.dkim.history) + 1  # one new selector, not two
    assert [r.selector for r in done.dkim.retired] == [start.dkim.selector]
    assert_converged(project, tenant)

    smtp = kv.current_version(vault, paths.smtp_admin(tenant))
    _kill_during_up(project, "rotate.smtp", "--tenant", tenant)
    invoke(project, "rotate.smtp", "--tenant", tenant, "--accept-unverified")
    assert kv.current_version(vault, paths.smtp_admin(tenant)) == smtp + 1
    assert_converged(project, tenant)
