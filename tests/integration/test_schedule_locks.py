"""The lock scheduled jobs take (``vault.locks``) against real OpenBao, with the system policy the jobs log in
with: a second run at the same time is refused naming the holder and changes nothing, of racing runs exactly one
wins, a dead holder's lock is taken over once its lease ends, and `rotate.due` / `ci.locked` take it themselves."""

from __future__ import annotations

import datetime as dt
import json
import secrets
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from toolkit.clock import FrozenClock
from vault import kv
from vault.client import VaultClient
from vault.locks import LockHeld, LockLost, acquire, held, lock_path, release, renew

REPO = Path(__file__).resolve().parents[2]
START = dt.datetime(2026, 11, 25, 2, 0, tzinfo=dt.UTC)
TTL = dt.timedelta(minutes=10)


def _name() -> str:
    return f"test-{secrets.token_hex(4)}"


def test_a_second_run_is_refused_naming_the_holder_and_writes_nothing(vault_system: VaultClient) -> None:
    name = _name()
    lease = acquire(vault_system, name, holder="github run 1", clock=FrozenClock(START))
    before = kv.read(vault_system, lock_path(name))
    with pytest.raises(LockHeld, match="held by github run 1 since 2026-11-25T02:00:00"):
        acquire(vault_system, name, holder="github run 2", clock=FrozenClock(START + dt.timedelta(minutes=5)))
    assert kv.read(vault_system, lock_path(name)) == before
    release(vault_system, lease, clock=FrozenClock(START))
    again = acquire(vault_system, name, holder="github run 2", clock=FrozenClock(START))  # released: free at once
    assert kv.read(vault_system, lock_path(name)).data["holder"] == "github run 2" and again.version == 3


def test_of_racing_runs_exactly_one_takes_the_lock(vault_system: VaultClient) -> None:
    name = _name()

    def attempt(number: int) -> str:
        try:
            acquire(vault_system, name, holder=f"run {number}", ttl=TTL)
        except LockHeld:
            return "refused"
        return "taken"

    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(attempt, range(8)))
    assert outcomes.count("taken") == 1 and outcomes.count("refused") == 7


def test_a_dead_holders_lock_is_taken_over_after_its_lease_and_cannot_be_freed_by_it(
        vault_system: VaultClient) -> None:
    name = _name()
    clock = FrozenClock(START)
    dead = acquire(vault_system, name, holder="killed run", ttl=TTL, clock=clock)
    clock.advance(dt.timedelta(minutes=6))
    dead = renew(vault_system, dead, ttl=TTL, clock=clock)  # renewed while it lived: ends 02:16
    clock.advance(dt.timedelta(minutes=9))
    with pytest.raises(LockHeld):
        acquire(vault_system, name, holder="next run", ttl=TTL, clock=clock)
    clock.advance(dt.timedelta(minutes=2))  # 02:17: no renewal for a whole ttl
    taken = acquire(vault_system, name, holder="next run", ttl=TTL, clock=clock)
    with pytest.raises(LockLost, match="taken over by next run"):
        release(vault_system, dead, clock=clock)
    with pytest.raises(LockLost):
        renew(vault_system, dead, clock=clock)
    assert kv.read(vault_system, lock_path(name)).data["holder"] == "next run"
    release(vault_system, taken, clock=clock)


def test_held_releases_when_the_block_fails(vault_system: VaultClient) -> None:
    name = _name()
    with pytest.raises(RuntimeError), held(vault_system, name, holder="run"):
        raise RuntimeError("the job failed")
    assert kv.read(vault_system, lock_path(name)).data["released"] is True


def _invoke(vault: VaultClient, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "VAULT_ADDR": vault.config.addresses[0],
           "VAULT_TOKEN": vault.token.reveal(), "PM_AUDIT_LOG": str(tmp_path / "audit.jsonl"), "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "invoke", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=300, check=False)


def test_rotate_due_takes_the_lock_itself(vault_system: VaultClient, tmp_path: Path) -> None:
    (tmp_path / "stacks").mkdir()
    lease = acquire(vault_system, "rotate-due", holder="the scheduled run")
    try:
        refused = _invoke(vault_system, tmp_path, "rotate.due", "--work-dir", str(tmp_path))
        assert refused.returncode == 2, refused.stdout + refused.stderr
        assert "rotate-due is running elsewhere: held by the scheduled run" in refused.stdout + refused.stderr
        dry = _invoke(vault_system, tmp_path, "rotate.due", "--dry-run", "--work-dir", str(tmp_path))
        assert dry.returncode == 0, dry.stdout + dry.stderr  # a dry run changes nothing: no lock needed
    finally:
        release(vault_system, lease)
    ran = _invoke(vault_system, tmp_path, "rotate.due", "--work-dir", str(tmp_path))
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert kv.read(vault_system, lock_path("rotate-due")).data["released"] is True


def test_ci_locked_runs_the_backup_tasks_only_while_holding_the_lock(vault_system: VaultClient,
                                                                      tmp_path: Path) -> None:
    report = tmp_path / "status.json"
    report.write_text(json.dumps({"checked_at": "2026-11-25T02:00:00Z", "severity": "ok",
                                  "summary": {"tenants": {"ok": 1}, "checks": {"ok": 6}}, "tenants": []}))
    task = f"ci.health-report --status-file {report}"
    lease = acquire(vault_system, "vault-backup", holder="the 02:00 run")
    try:
        refused = _invoke(vault_system, tmp_path, "ci.locked", "--name", "vault-backup", "--task", task)
        assert refused.returncode == 2 and "held by the 02:00 run" in refused.stdout + refused.stderr
        assert "Fleet health" not in refused.stdout  # the task did not run
    finally:
        release(vault_system, lease)
    ran = _invoke(vault_system, tmp_path, "ci.locked", "--name", "vault-backup", "--task", task, "--task", task)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert ran.stdout.count("Fleet health at 2026-11-25T02:00:00Z: **ok**") == 2
    assert kv.read(vault_system, lock_path("vault-backup")).data["released"] is True
