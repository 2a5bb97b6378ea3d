"""The day-2 flow against real OpenBao (the system policy's token): intent recorded with CAS, a pending operation
resumed instead of repeated after a crash at each step, nothing recorded when validation fails. The engine is a
recording stand-in here (the real engine is covered by tests/e2e/test_day2_journey_e2e.py)."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from fleet import day2, day2_ops, intent
from fleet.audit import AuditLog
from fleet.clock import FrozenClock
from fleet.day2 import Day2Context, Day2Error
from fleet.stack_engine import UpSummary
from toolkit.tenant_config import parse_tenant_config
from vault import keys as vkeys
from vault import kv, paths
from vault.client import VaultClient
from vault.errors import KeyReuseRefused

LONG_AGO = "2000-01-01T00:00:00Z"


class Crash(Exception):
    pass


@dataclass
class RecordingEngine:
    ups: int = 0
    previews: int = 0
    outputs_: dict[str, Any] = field(default_factory=lambda: {"main_ip": "192.0.2.10", "vault": {
        "admin_ssh": {"version": 1}}})

    def outputs(self) -> dict[str, Any]:
        return self.outputs_

    def repair(self) -> list[str]:
        return []

    def up(self) -> UpSummary:
        self.ups += 1
        self.outputs_ = {**self.outputs_, "vault": {"admin_ssh": {"version": 2}}}  # what a rotation's up deploys
        return UpSummary({"update": 1})

    def preview_no_changes(self) -> None:
        self.previews += 1


def _tenant(vault: VaultClient) -> str:
    tenant = f"d2{uuid.uuid4().hex[:8]}"
    config = parse_tenant_config({
        "tenant_id": tenant, "domain": f"{tenant}.example.test",
        "dns": {"provider": "manual"},
    })
    stored = intent.ensure(vault, config, write=True, today=dt.date(2026, 11, 29))
    intent.save(vault, replace(stored, since=dict.fromkeys(intent.SECRET_NAMES, LONG_AGO)))
    vkeys.store_ssh_keypair(vault, tenant, "admin_ssh", algorithm="ed25519")
    vkeys.store_ssh_keypair(vault, tenant, "tenant_ssh", algorithm="ed25519")
    return tenant


def _ctx(vault: VaultClient, engine: RecordingEngine, tmp_path: Path, crash_at: str = "") -> Day2Context:
    clock = FrozenClock("2026-11-29T10:00:00Z")

    def crash(step: str) -> None:
        if step == crash_at:
            raise Crash(step)
    return Day2Context(vault=vault, clock=clock, audit=AuditLog(tmp_path / "audit.jsonl", clock),
                       engine_for=lambda _t: engine, crash=crash)


@pytest.mark.parametrize("crash_at", ["recorded", "deployed"])
def test_interrupted_rotation_resumes_without_a_second_generation(vault_system: VaultClient, tmp_path: Path,
                                                                  crash_at: str) -> None:
    tenant = _tenant(vault_system)
    engine = RecordingEngine()
    edit = day2_ops.rotate_ssh(vault_system, tenant, paths.SshKeyKind.ADMIN)
    with pytest.raises(Crash):
        day2.run(_ctx(vault_system, engine, tmp_path, crash_at), tenant, "rotate.ssh.admin_ssh", edit)
    halfway = intent.load(vault_system, tenant)
    assert halfway is not None and halfway.pending is not None and halfway.admin_ssh.generation == 2
    result = day2.run(_ctx(vault_system, engine, tmp_path), tenant, "rotate.ssh.admin_ssh",
                      day2_ops.rotate_ssh(vault_system, tenant, paths.SshKeyKind.ADMIN))
    done = intent.load(vault_system, tenant)
    assert result.resumed and done is not None
    assert done.admin_ssh.generation == 2 and len(done.admin_ssh.grace) == 1 and done.pending is None
    assert engine.previews == 1  # the completed run proved convergence
    assert halfway.since["admin_ssh"] == LONG_AGO and done.since["admin_ssh"] > LONG_AGO  # age restarts, crash or not


def test_refused_edit_records_nothing(vault_system: VaultClient, tmp_path: Path) -> None:
    tenant = _tenant(vault_system)
    before = kv.current_version(vault_system, paths.intent(tenant))
    engine = RecordingEngine()
    with pytest.raises(Day2Error, match="not revoked"):
        day2.run(_ctx(vault_system, engine, tmp_path), tenant, "ssh.regenerate.tenant_ssh",
                 day2_ops.regenerate_ssh(vault_system, tenant, paths.SshKeyKind.TENANT))
    assert kv.current_version(vault_system, paths.intent(tenant)) == before and engine.ups == 0


def test_undeployed_stack_is_refused_before_anything(vault_system: VaultClient, tmp_path: Path) -> None:
    tenant = _tenant(vault_system)
    engine = RecordingEngine(outputs_={})
    with pytest.raises(Day2Error, match="not deployed"):
        day2.run(_ctx(vault_system, engine, tmp_path), tenant, "rotate.smtp", day2_ops.rotate_smtp)
    current = intent.load(vault_system, tenant)
    assert current is not None and current.smtp_generation == 1 and engine.ups == 0


def test_dkim_rotation_never_reuses_a_selector_vault_has_seen(vault_system: VaultClient, tmp_path: Path) -> None:
    tenant = _tenant(vault_system)
    current = intent.load(vault_system, tenant)
    assert current is not None
    domain = f"{tenant}.example.test"
    vkeys.store_dkim_key(vault_system, domain, current.dkim.selector, nonce=current.dkim.nonce)
    # A key from an earlier life of this domain, unknown to the intent (a re-created stack):
    vkeys.store_dkim_key(vault_system, domain, "pm20261129b")
    day2.run(_ctx(vault_system, RecordingEngine(), tmp_path), tenant, "rotate.dkim",
             day2_ops.rotate_dkim(vault_system, domain))
    rotated = intent.load(vault_system, tenant)
    assert rotated is not None
    assert rotated.dkim.selector not in {current.dkim.selector, "pm20261129b"}
    assert [r.selector for r in rotated.dkim.retired] == [current.dkim.selector]
    with pytest.raises(KeyReuseRefused, match="never used twice"):
        vkeys.store_dkim_key(vault_system, domain, "pm20261129b", nonce=rotated.dkim.nonce)


def test_interrupted_key_creation_is_taken_over_only_with_its_nonce(vault_system: VaultClient) -> None:
    domain = f"n{uuid.uuid4().hex[:8]}.example.test"
    first = vkeys.store_dkim_key(vault_system, domain, "pm20261129", nonce="abc")
    again = vkeys.store_dkim_key(vault_system, domain, "pm20261129", nonce="abc")
    assert again.public_key == first.public_key and again.version == first.version
    with pytest.raises(KeyReuseRefused):
        vkeys.store_dkim_key(vault_system, domain, "pm20261129", nonce="other")
    vkeys.set_dkim_state(vault_system, domain, "pm20261129", vkeys.DkimState.ACTIVE)
    with pytest.raises(KeyReuseRefused):  # in service once: never taken over, even with its nonce
        vkeys.store_dkim_key(vault_system, domain, "pm20261129", nonce="abc")


def test_interrupted_key_updates_are_not_repeated(vault_system: VaultClient) -> None:
    """An update killed after its Vault write runs again: the write for the same trigger is found, not repeated."""
    from vault import smtp
    from vault.mailu_secrets import store_mailu_secret_key

    tenant = f"tr{uuid.uuid4().hex[:8]}"
    first = vkeys.store_ssh_keypair(vault_system, tenant, "admin_ssh", algorithm="ed25519", trigger="generation-2")
    again = vkeys.store_ssh_keypair(vault_system, tenant, "admin_ssh", algorithm="ed25519", trigger="generation-2")
    assert again == first
    third = vkeys.store_ssh_keypair(vault_system, tenant, "admin_ssh", algorithm="ed25519", trigger="generation-3")
    assert third.version == first.version + 1
    cred, _ = smtp.store_admin_credential(vault_system, tenant, "x.example.test", trigger="generation-2")
    cred_again, _ = smtp.store_admin_credential(vault_system, tenant, "x.example.test", trigger="generation-2")
    assert cred_again.version == cred.version
    key = store_mailu_secret_key(vault_system, tenant, trigger="generation-2")
    assert store_mailu_secret_key(vault_system, tenant, trigger="generation-2") == key
