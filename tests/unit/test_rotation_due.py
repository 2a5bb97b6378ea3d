"""Due computation of rotations, driven by an injected clock (no Vault, no sleeps)."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path

import pytest

from fleet.audit import AuditLog
from fleet.intent import DkimIntent, IntentError, SshIntent, TenantIntent, fresh_selector, from_data
from fleet.key_age import KeyAge, key_age, period_days
from fleet.rotation import Action, Kind, RetiredSelector, TenantSnapshot, due_items, ssh_kind
from toolkit.authorized_keys import blobs, render, same_keys
from toolkit.clock import FrozenClock, iso, parse_instant
from toolkit.errors import ValidationError

T0 = parse_instant("2026-01-01T00:00:00Z")
INTENT = TenantIntent("acme", DkimIntent("pm20260101", "nonce"))


def snap(kind: Kind, rotated: dt.datetime, intent: TenantIntent = INTENT) -> KeyAge:
    return KeyAge(kind, f"x/{kind.value}", period_days(kind, intent), rotated, 1)


def tenant(**keys: KeyAge) -> TenantSnapshot:
    by_kind = {Kind(k.replace("_", "-")): v for k, v in keys.items()}
    return TenantSnapshot("acme", "acme.example", "pm20260101", by_kind)


def test_ssh_policy_ages_with_the_clock() -> None:
    clock = FrozenClock(T0)
    snapshot = tenant(ssh_admin=snap(Kind.SSH_ADMIN, T0))
    clock.advance(days=89)
    assert due_items([snapshot], clock.now()).due == []
    assert [i.kind for i in due_items([snapshot], clock.now()).upcoming] == [Kind.SSH_ADMIN]
    clock.advance(days=1)
    plan = due_items([snapshot], clock.now())
    assert [(i.kind, i.action) for i in plan.due] == [(Kind.SSH_ADMIN, Action.ROTATE)]


def test_ssh_policy_comes_from_the_intent_and_its_bounds() -> None:
    thirty = replace(INTENT, tenant_ssh=SshIntent(rotation_days=30))
    snapshot = tenant(ssh_tenant=snap(Kind.SSH_TENANT, T0, thirty))
    assert due_items([snapshot], T0 + dt.timedelta(days=30)).due[0].kind is Kind.SSH_TENANT
    assert period_days(Kind.SSH_ADMIN, thirty) == 90 and period_days(Kind.SSH_TENANT, thirty) == 30
    dkim = {"selector": "pm20260101", "nonce": "n"}
    assert from_data("acme", {"dkim": dkim, "admin_ssh": {"rotation_days": 365}}, 1).admin_ssh.rotation_days == 365
    for bad in (29, 366, "90_days"):
        with pytest.raises(IntentError):
            from_data("acme", {"dkim": dkim, "admin_ssh": {"rotation_days": bad}}, 1)


def test_smtp_180_and_dkim_365_days() -> None:
    snapshot = tenant(smtp=snap(Kind.SMTP, T0), dkim=snap(Kind.DKIM, T0))
    assert due_items([snapshot], T0 + dt.timedelta(days=179)).due == []
    assert [i.kind for i in due_items([snapshot], T0 + dt.timedelta(days=180)).due] == [Kind.SMTP]
    assert [i.kind for i in due_items([snapshot], T0 + dt.timedelta(days=365)).due] == [Kind.DKIM, Kind.SMTP]


def test_grace_window_finishes_only_after_it_ends_and_blocks_rotation() -> None:
    clock = FrozenClock(T0)
    grace = iso(T0 + dt.timedelta(hours=24))
    snapshot = tenant(ssh_admin=snap(Kind.SSH_ADMIN, T0))
    snapshot = replace(snapshot, grace={Kind.SSH_ADMIN: (parse_instant(grace),)})
    plan = due_items([snapshot], clock.now())
    assert plan.due == [] and [i.action for i in plan.waiting] == [Action.FINISH]
    clock.advance(hours=23, delta=dt.timedelta(minutes=59))
    assert due_items([snapshot], clock.now()).due == []
    clock.advance(hours=1)
    assert [i.action for i in due_items([snapshot], clock.now()).due] == [Action.FINISH]


def test_revoked_key_needs_regeneration() -> None:
    snapshot = tenant(ssh_tenant=replace(snap(Kind.SSH_TENANT, T0), revoked=True))
    assert [i.action for i in due_items([snapshot], T0).due] == [Action.REGENERATE]


def test_retired_dkim_selector_removed_after_48_hours() -> None:
    snapshot = TenantSnapshot("acme", "acme.example", "pm20260103", {Kind.DKIM: snap(Kind.DKIM, T0)},
                              (RetiredSelector("pm20250101", T0 + dt.timedelta(hours=48)),))
    assert due_items([snapshot], T0 + dt.timedelta(hours=47)).due == []
    due = due_items([snapshot], T0 + dt.timedelta(hours=48)).due
    assert [(i.action, i.selector) for i in due] == [(Action.FINISH, "pm20250101")]


def test_missing_dates_fall_back_and_missing_secrets_are_noted() -> None:
    def smtp(**stamps: object) -> TenantSnapshot:
        return tenant(smtp=key_age(Kind.SMTP, "smtp/acme/admin", 180, stamps, version=3))

    assert due_items([smtp(last_rotated="", created_at=iso(T0))], T0 + dt.timedelta(days=181)).due[0].kind is Kind.SMTP
    kv_time = smtp(last_rotated=None, created_time="2026-01-01T00:00:00.123456789Z")
    assert due_items([kv_time], T0 + dt.timedelta(days=179)).due == []
    undated = due_items([smtp()], T0).due
    assert [(i.kind, i.due_at) for i in undated] == [(Kind.SMTP, T0)] and "no rotation date" in undated[0].reason
    missing = TenantSnapshot("new", "new.example", "pm1", {}, missing=("vps/new/admin_ssh",))
    assert "not found" in due_items([missing], T0).notes[0]


def test_due_order_per_tenant_finish_before_rotate() -> None:
    snapshot = replace(tenant(ssh_admin=snap(Kind.SSH_ADMIN, T0 + dt.timedelta(days=150)), smtp=snap(Kind.SMTP, T0),
                              ssh_tenant=replace(snap(Kind.SSH_TENANT, T0), revoked=True)),
                       grace={Kind.SSH_ADMIN: (T0,)})
    due = due_items([snapshot], T0 + dt.timedelta(days=200)).due
    assert [i.action for i in due] == [Action.REGENERATE, Action.FINISH, Action.ROTATE]


def test_clock_parsing_and_frozen_clock() -> None:
    assert iso(parse_instant("2026-11-25")) == "2026-11-25T00:00:00Z"
    assert iso(parse_instant("2026-11-25T12:00:00+02:00")) == "2026-11-25T10:00:00Z"
    with pytest.raises(ValidationError):
        parse_instant("2026-11-25T12:00:00")
    clock = FrozenClock("2026-11-25T00:00:00Z")
    assert iso(clock.advance(hours=25)) == "2026-11-26T01:00:00Z"


def test_authorized_keys_sets_match_by_blob() -> None:
    old, new = "ssh-ed25519 AAAAold admin_ssh@acme", "ssh-ed25519 AAAAnew admin_ssh@acme"
    text = render(["ssh-ed25519 AAAAold other-comment", new, new])
    assert blobs(text) == ["AAAAold", "AAAAnew"]
    assert same_keys(text, [new, old]) and not same_keys(text, [new])
    assert same_keys('# comment\nfrom="10.0.0.1" ssh-ed25519 AAAAnew x\n', [new])


def test_selector_and_kind_helpers(tmp_path: Path) -> None:
    day = dt.date(2026, 11, 25)
    assert fresh_selector(day, set()) == "pm20261125"
    assert fresh_selector(day, {"pm20261125"}) == "pm20261125b"
    assert ssh_kind("admin").value == "admin_ssh" and ssh_kind("tenant_ssh").value == "tenant_ssh"
    with pytest.raises(ValidationError):
        ssh_kind("root")
    log = AuditLog(tmp_path / "audit.jsonl", FrozenClock(T0), actor="test")
    log.event("rotate.smtp", tenant="acme", outcome="ok", password="hunter2", note="fine")
    (record,) = log.read()
    assert record["ts"] == "2026-01-01T00:00:00Z" and record["details"]["password"] == "[withheld]"
