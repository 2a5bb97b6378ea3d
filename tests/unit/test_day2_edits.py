"""Day-2 intent: the record's shape and the pure edits (windows ending with the clock, archiving, applying)."""

from __future__ import annotations

import datetime as dt

import pytest

from fleet import day2_ops, intent
from fleet.clock import parse_instant
from fleet.intent import DkimIntent, GraceKey, RetiredDkim, SshIntent, TenantIntent
from toolkit.tenant_config import parse_tenant_config
from vault import paths

T0 = parse_instant("2026-11-29T10:00:00Z")


def _intent() -> TenantIntent:
    return TenantIntent(
        "acme", DkimIntent("pm20261129b", "n2", (RetiredDkim("pm20261129", "PUB", "2026-12-01T10:00:00Z"),),
                           history=("pm20261129", "pm20261129b")),
        admin_ssh=SshIntent(2, (GraceKey("ssh-ed25519 AAAAold a", "SHA256:old", 1, "2026-11-30T10:00:00Z"),),
                            connect_versions=(1,)),
        since={"admin_ssh": "2026-11-29T10:00:00Z"})


def test_record_round_trips_and_malformed_records_are_named() -> None:
    record = _intent()
    assert intent.from_data("acme", record.to_data(), 7) == record.__class__(**{**record.__dict__, "revision": 7})
    with pytest.raises(intent.IntentError, match="malformed"):
        intent.from_data("acme", {"dkim": {}}, 1)
    with pytest.raises(intent.IntentError, match="rotation_days"):
        intent.from_data("acme", {**record.to_data(), "admin_ssh": {"rotation_days": 7}}, 1)


def test_finish_drops_only_windows_that_ended() -> None:
    record = _intent()
    assert day2_ops.finish()(record, T0) == record  # nothing ended yet
    day_later = day2_ops.finish()(record, T0 + dt.timedelta(hours=24))
    assert day_later.admin_ssh.grace == () and len(day_later.dkim.retired) == 1
    assert day2_ops.ended(record, T0 + dt.timedelta(hours=24)) == [
        "admin_ssh key SHA256:old (grace until 2026-11-30T10:00:00Z)"]
    both = day2_ops.finish()(record, T0 + dt.timedelta(days=3))
    assert both.admin_ssh.grace == () and both.dkim.retired == ()
    assert day2_ops.finish(force=True)(record, T0) == both


def test_archived_intent_never_takes_over_old_keys() -> None:
    gone = intent.archived(_intent())
    assert gone.dkim.selector == "" and gone.dkim.history == ("pm20261129", "pm20261129b")
    assert gone.admin_ssh.generation == 3 and gone.admin_ssh.grace == () and gone.smtp_generation == 2


def test_apply_puts_day2_values_in_force() -> None:
    config = parse_tenant_config({"tenant_id": "acme", "domain": "acme.example",
                                  "dns": {"provider": "manual"}, "dkim_selector": "pm20261129"})
    record = TenantIntent("acme", DkimIntent("pm20261129b", "n"), vps_generation=3, copy_from="192.0.2.9")
    deployed = intent.apply(config, record)
    assert deployed.dkim_selector == "pm20261129b" and deployed.hostwinds.vps_generation == 3
    assert deployed.migration is not None and deployed.migration.copy_from == "192.0.2.9"
    assert deployed.vps_label == "pm-acme-3" and config.hostwinds.vps_generation == 1


def test_fresh_selector_and_generation_triggers() -> None:
    assert intent.fresh_selector(dt.date(2026, 11, 29), {"pm20261129", "pm20261129b"}) == "pm20261129c"
    assert SshIntent().trigger == "" and SshIntent(generation=2).trigger == "generation-2"
    assert _intent().ssh(paths.SshKeyKind.ADMIN).generation == 2


def test_pretended_time_is_refused_against_a_real_vault() -> None:
    from tasks_lib.day2 import require_pretend_time_allowed
    from toolkit.errors import ConfigError

    real = {"VAULT_ADDRS": "https://vault-1.internal:8200,https://127.0.0.1:8200"}
    with pytest.raises(ConfigError, match="--dry-run"):
        require_pretend_time_allowed(real, "2027-01-01T00:00:00Z", dry_run=False)
    require_pretend_time_allowed(real, "2027-01-01T00:00:00Z", dry_run=True)  # planning is fine
    require_pretend_time_allowed(real, "", dry_run=False)
    require_pretend_time_allowed({"VAULT_ADDR": "http://127.0.0.1:18200"}, "2027-01-01T00:00:00Z", dry_run=False)
