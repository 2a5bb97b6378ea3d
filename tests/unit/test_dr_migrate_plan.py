"""dr.migrate pure logic: the plan, the intent it records (absolute values), the Instance's generation, the journal
store and the crash hook."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from typing import Any

import pytest

from components.hostwinds_instance import InstanceProvider
from fleet.intent import RetiredDkim, TenantIntent, initial
from fleet.migrate import intent_during, make_plan
from fleet.migrate_journal import (
    CRASH_EXIT_CODE,
    Journal,
    MemoryJournalStore,
    MigrationConflict,
    MigrationError,
    journal_path,
)
from tests.unit.test_dr_migrate import IN_VAULT, TODAY, raw
from toolkit.errors import ToolkitError
from toolkit.tenant_config import parse_tenant_config

pytestmark = pytest.mark.unit


def _intent(**overrides: Any) -> TenantIntent:
    return replace(initial(parse_tenant_config(raw()), set(), TODAY), **overrides)


OUTPUTS = {"serviceid": "1001", "main_ip": "10.0.0.1", "vault": {"smtp_admin": {"version": 3}}}


# --- pure logic ------------------------------------------------------------------------------------------------

def test_plan_for_each_reason() -> None:
    config, intent = parse_tenant_config(raw()), _intent(smtp_generation=3)
    compromise = make_plan(config, intent, OUTPUTS, "compromise", today=TODAY, taken_selectors={"pm20261125b"})
    assert compromise["old_generation"] == 1 and compromise["new_generation"] == 2
    assert compromise["old_selector"] == "pm20261125" and compromise["new_selector"] == "pm20261125c"
    assert compromise["burned_selectors"] == ["pm20261125"]
    assert (compromise["old_smtp_generation"], compromise["new_smtp_generation"]) == (3, 4)
    assert (compromise["old_secret_key_generation"], compromise["new_secret_key_generation"]) == (1, 2)
    assert compromise["copy_from"] is None and compromise["old_secret_versions"] == {"smtp_admin": 3}
    for reason in ("failure", "upgrade"):
        plan = make_plan(config, intent, OUTPUTS, reason, today=TODAY, taken_selectors=set())
        assert plan["new_selector"] == plan["old_selector"] == "pm20261125" and plan["burned_selectors"] == []
        assert plan["new_smtp_generation"] == 3 and plan["new_secret_key_generation"] == 1
        assert plan["copy_from"] == "10.0.0.1"


def test_plan_takes_generation_and_selectors_from_the_intent() -> None:
    retired = RetiredDkim("pm20261101", "v=DKIM1; k=rsa; p=AAAA", "2026-11-27T12:00:00Z")
    intent = _intent(vps_generation=4, dkim=replace(_intent().dkim, selector="pm20261120", retired=(retired,)))
    plan = make_plan(parse_tenant_config(raw()), intent, OUTPUTS, "compromise", today=TODAY, taken_selectors=set())
    assert (plan["old_generation"], plan["new_generation"]) == (4, 5)  # the stack file still says 1
    assert plan["old_selector"] == "pm20261120" and plan["new_selector"] == "pm20261125"
    assert plan["burned_selectors"] == ["pm20261120", "pm20261101"]


@pytest.mark.parametrize(("outputs", "reason", "fragment"), [
    ({}, "failure", "no deployed VPS"),
    ({"serviceid": "1", "main_ip": "10.0.0.1"}, "boredom", "reason must be one of"),
])
def test_plan_refuses(outputs: dict[str, Any], reason: str, fragment: str) -> None:
    with pytest.raises(MigrationError, match=fragment):
        make_plan(parse_tenant_config(raw()), _intent(), outputs, reason, today=TODAY, taken_selectors=set())


@pytest.mark.parametrize("reason", ["compromise", "failure"])
def test_recorded_intent_is_absolute(reason: str) -> None:
    retired = RetiredDkim("pm20261101", "v=DKIM1; k=rsa; p=AAAA", "2026-11-27T12:00:00Z")
    intent = _intent(dkim=replace(_intent().dkim, retired=(retired,), history=("pm20261101", "pm20261125")))
    plan = make_plan(parse_tenant_config(raw()), intent, OUTPUTS, reason, today=TODAY, taken_selectors=IN_VAULT)
    once = intent_during(intent, plan, reason)
    assert intent_during(once, plan, reason) == once  # re-applying after a crash changes nothing
    assert once.vps_generation == 2
    if reason == "failure":
        assert once.copy_from == "10.0.0.1" and once.dkim == intent.dkim
        assert (once.smtp_generation, once.secret_key_generation) == (1, 1)
        return
    assert once.copy_from is None and once.dkim.selector == "pm20261125c" and once.dkim.nonce != intent.dkim.nonce
    assert once.dkim.burned == ("pm20261125", "pm20261101") and once.dkim.retired == ()
    assert once.dkim.history == ("pm20261101", "pm20261125", "pm20261125c")
    assert (once.smtp_generation, once.secret_key_generation) == (2, 2)


def test_instance_generation_defaults_and_forces_replacement() -> None:
    provider = InstanceProvider()
    legacy = {"label": "pm-acme-1", "location_id": "1", "plan_id": "1002", "image": "ubuntu-22.04"}
    same = provider.diff("1", legacy, {**legacy, "generation": 1})
    assert not same.changes and not same.replaces  # a state from before the input existed does not diff
    moved = provider.diff("1", {**legacy, "generation": 1}, {**legacy, "label": "pm-acme-2", "generation": 2})
    assert moved.changes and moved.replaces == ["generation"] and moved.delete_before_replace is False
    engine_numbers = provider.diff("1", legacy, {**legacy, "generation": 1.0})  # the engine sends float64
    assert not engine_numbers.changes and not engine_numbers.replaces
    wipe = provider.diff("1", legacy, {**legacy, "wipe_on_delete": True, "wipe_key_path": "vps/acme/admin_ssh"})
    assert wipe.changes and not wipe.replaces  # recorded in place, the VPS is untouched


def test_instance_refuses_a_replacement_that_keeps_the_label() -> None:
    provider = InstanceProvider()
    olds = {"label": "pm-acme-1", "location_id": "1", "plan_id": "1002", "image": "ubuntu-22.04"}
    same_label = provider.check(olds, {**olds, "plan_id": "1003"}).failures
    assert [f.property for f in same_label] == ["label"] and "vps_generation" in same_label[0].reason
    assert provider.check(olds, {**olds, "plan_id": "1003", "label": "pm-acme-2"}).failures == []
    assert provider.check(olds, {**olds, "generation": 1.0}).failures == []
    assert provider.check({}, olds).failures == []  # a create


def test_journal_path_is_validated() -> None:
    assert journal_path("acme").logical == "vps/acme/migration"
    with pytest.raises(ToolkitError):
        journal_path("../etc")


def test_memory_store_is_check_and_set() -> None:
    store = MemoryJournalStore()
    first = Journal({"state": "running"})
    store.save("acme", first)
    stale = Journal({"state": "running"}, 0)
    with pytest.raises(MigrationConflict):
        store.save("acme", stale)


def test_crash_hook_exits_hard_only_for_its_step() -> None:
    code = ("from fleet.migrate_journal import crash_hook\n"
            "crash_hook('verified', {'PM_DR_CRASH_AFTER': 'deployed'}); print('alive')\n"
            "crash_hook('deployed', {'PM_DR_CRASH_AFTER': 'deployed'}); print('not reached')\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=60)
    assert result.returncode == CRASH_EXIT_CODE and result.stdout.split() == ["alive"]
