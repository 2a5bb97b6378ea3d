"""dr.migrate step logic with fakes: plan, stack-file edits, the journal, resuming after a crash at every step."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.hostwinds_instance import InstanceProvider
from fleet.migrate import (
    Migration,
    MigrationDeps,
    VerifyOutcome,
    audit_event,
    final_config,
    make_plan,
    new_selector,
    target_config,
    write_stack_config,
)
from fleet.migrate_journal import (
    CRASH_EXIT_CODE,
    STEPS,
    Journal,
    MemoryJournalStore,
    MigrationConflict,
    MigrationError,
    journal_path,
)
from fleet.stack_engine import UpSummary
from toolkit import stack_files
from toolkit.errors import ToolkitError
from toolkit.tenant_config import TenantConfig, parse_tenant_config

pytestmark = pytest.mark.unit
TODAY = dt.date(2026, 11, 25)


def raw(**overrides: Any) -> dict[str, Any]:
    return {
        "tenant_id": "acme", "domain": "acme.sandbox.test",
        "dns": {"provider": "rfc2136", "server": "127.0.0.1", "port": 15353, "tsig_key_name": "k"},
        "vault_addrs": ["http://127.0.0.1:18200"], "dkim_selector": "pm20261125", **overrides,
    }


class Crash(Exception):
    """Stands in for os._exit in the crash hook."""


class FakeEngine:
    """A stack whose `up` turns the stack file into outputs, like the real program would."""

    def __init__(self, stacks_dir: Path) -> None:
        self.stacks_dir = stacks_dir
        self.ups = 0
        self.repairs = 0
        self.fail_next_up = False
        self._outputs: dict[str, Any] = {}
        self.deploy()

    def deploy(self) -> None:
        config = stack_files.load(self.stacks_dir, "acme")
        generation, secrets = config.hostwinds.vps_generation, config.secrets_generation
        outputs: dict[str, Any] = {
            "serviceid": str(1000 + generation), "main_ip": f"10.0.0.{generation}", "vps_label": config.vps_label,
            "dkim_selector": config.dkim_selector,
            "vault": {"smtp_admin": {"path": "smtp/acme/admin", "version": secrets},
                      "mailu_secret_key": {"path": "smtp/acme/mailu", "version": secrets},
                      "admin_ssh": {"path": "vps/acme/admin_ssh", "version": 1}},
        }
        if config.migration is not None:
            outputs["mail_data_copy"] = {"copied": True, "bytes": 4096, "warning": ""}
        self._outputs = outputs

    def outputs(self) -> dict[str, Any]:
        return dict(self._outputs)

    def repair(self) -> list[str]:
        self.repairs += 1
        return []

    def up(self) -> UpSummary:
        if self.fail_next_up:
            self.fail_next_up = False
            raise ToolkitError("engine blew up")
        self.ups += 1
        self.deploy()
        return UpSummary({"update": 3}, ["Stack running pm-wipe: instance 1001 (10.0.0.1) wiped before terminate"])

    def alive(self, serviceid: str) -> bool:
        return serviceid == self._outputs["serviceid"]


@pytest.fixture
def stacks(tmp_path: Path) -> Path:
    stack_files.create(tmp_path, raw())
    path = stack_files.stack_file(tmp_path, "acme")
    path.write_text(path.read_text() + "encryptionsalt: v1:salt:abc\n")  # Pulumi's own key must survive edits
    return tmp_path


def deps(stacks: Path, store: MemoryJournalStore, engine: FakeEngine, *, crash_at: str | None = None,
         verify_ok: bool = True, events: list[dict[str, Any]] | None = None) -> MigrationDeps:
    def crash(step: str) -> None:
        if step == crash_at:
            raise Crash(step)

    clock = iter(range(10_000))
    return MigrationDeps(
        store=store, engine=engine,
        verify=lambda config, ip, sid: VerifyOutcome(verify_ok, 12, () if verify_ok else ("mail A: wrong",)),
        instance_alive=engine.alive, taken_selectors=lambda config: {"pm20261125b"},
        audit=(events.append if events is not None else lambda event: None),  # type: ignore[arg-type]
        crash=crash, now=lambda: dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC),
        monotonic=lambda: float(next(clock)),
    )


# --- pure logic ------------------------------------------------------------------------------------------------

def test_new_selector_is_dated_and_unique() -> None:
    assert new_selector(TODAY, set()) == "pm20261125"
    assert new_selector(TODAY, {"pm20261125"}) == "pm20261125b"
    assert new_selector(TODAY, {"pm20261125", "pm20261125b"}) == "pm20261125c"


def test_plan_for_each_reason() -> None:
    config = parse_tenant_config(raw())
    outputs = {"serviceid": "1001", "main_ip": "10.0.0.1", "vault": {"smtp_admin": {"version": 3}}}
    compromise = make_plan(config, outputs, "compromise", today=TODAY, taken_selectors=set())
    assert compromise["new_generation"] == 2 and compromise["new_selector"] == "pm20261125b"
    assert compromise["new_secrets_generation"] == 2 and compromise["copy_from"] is None
    assert compromise["old_secret_versions"] == {"smtp_admin": 3}
    for reason in ("failure", "upgrade"):
        plan = make_plan(config, outputs, reason, today=TODAY, taken_selectors=set())
        assert plan["new_selector"] == "pm20261125" and plan["new_secrets_generation"] == 1
        assert plan["copy_from"] == "10.0.0.1"


@pytest.mark.parametrize(("outputs", "reason", "fragment"), [
    ({}, "failure", "no deployed VPS"),
    ({"serviceid": "1", "main_ip": "10.0.0.1"}, "boredom", "reason must be one of"),
])
def test_plan_refuses(outputs: dict[str, Any], reason: str, fragment: str) -> None:
    with pytest.raises(MigrationError, match=fragment):
        make_plan(parse_tenant_config(raw()), outputs, reason, today=TODAY, taken_selectors=set())


def test_target_config_is_absolute_and_cleanup_removes_copy() -> None:
    config = parse_tenant_config(raw())
    plan = make_plan(config, {"serviceid": "1", "main_ip": "10.0.0.1"}, "failure", today=TODAY,
                     taken_selectors=set())
    once = target_config(config, plan)
    assert target_config(once, plan) == once  # re-applying after a crash changes nothing
    assert once.hostwinds.vps_generation == 2 and once.vps_label == "pm-acme-2"
    assert once.migration is not None and once.migration.copy_from == "10.0.0.1"
    assert final_config(once).migration is None


def test_stack_file_edit_keeps_pulumi_keys_and_stays_valid(stacks: Path) -> None:
    path = stack_files.stack_file(stacks, "acme")
    data = yaml.safe_load(path.read_text())
    data["config"]["aws:region"] = "eu-west-1"
    path.write_text(yaml.safe_dump(data))
    config = stack_files.load(stacks, "acme")
    write_stack_config(stacks, config.model_copy(update={"secrets_generation": 4}))
    after = yaml.safe_load(path.read_text())
    assert after["encryptionsalt"] == "v1:salt:abc" and after["config"]["aws:region"] == "eu-west-1"
    assert stack_files.load(stacks, "acme").secrets_generation == 4
    with pytest.raises(ToolkitError):
        write_stack_config(stacks, config.model_copy(update={"ttl": 1}))  # still validated on the way out


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


# --- the runner ------------------------------------------------------------------------------------------------

def _final(stacks: Path) -> TenantConfig:
    return stack_files.load(stacks, "acme")


def test_failure_migration_runs_every_step(stacks: Path) -> None:
    store, engine, events = MemoryJournalStore(), FakeEngine(stacks), []  # type: ignore[var-annotated]
    report = Migration("acme", "failure", stacks, deps(stacks, store, engine, events=events)).run()
    assert engine.ups == 2  # the migration, then the cleanup that drops the copy resource
    assert report.new_serviceid == "1002" and report.old_serviceid == "1001" and report.mail_copied is True
    assert report.notes == ["pm-wipe: instance 1001 (10.0.0.1) wiped before terminate"] and report.warnings == []
    assert report.tool_seconds > 0 and list(report.step_seconds) == list(STEPS)
    assert _final(stacks).migration is None and _final(stacks).hostwinds.vps_generation == 2
    journal = store.load("acme")
    assert journal is not None and journal.data["state"] == "done" and journal.version == 7  # claim + 5 steps + done
    assert [e["event"] for e in events] == ["vps.migrated"] and events[0]["new"]["ip"] == "10.0.0.2"


def test_compromise_rotates_and_copies_nothing(stacks: Path) -> None:
    store, engine = MemoryJournalStore(), FakeEngine(stacks)
    report = Migration("acme", "compromise", stacks, deps(stacks, store, engine)).run()
    assert engine.ups == 1 and report.mail_copied is None
    config = _final(stacks)
    assert config.dkim_selector == "pm20261125c"  # today's and "b" are taken
    assert config.secrets_generation == 2 and config.migration is None
    assert report.secret_versions_after["smtp_admin"] > report.secret_versions_before["smtp_admin"]
    journal = store.load("acme")
    assert journal is not None
    burned = audit_event(journal, report)["burned"]
    assert burned["dkim"] == "dkim/acme.sandbox.test/pm20261125" and burned["smtp_admin_version"] == 1


@pytest.mark.parametrize("step", STEPS)
@pytest.mark.parametrize("reason", ["failure", "compromise"])
def test_crash_after_any_step_then_rerun_finishes(stacks: Path, step: str, reason: str) -> None:
    store, engine = MemoryJournalStore(), FakeEngine(stacks)
    with pytest.raises(Crash):
        Migration("acme", reason, stacks, deps(stacks, store, engine, crash_at=step)).run()
    events: list[dict[str, Any]] = []
    if step == "done":  # the migration had finished; a new run would start the next one
        journal = store.load("acme")
        assert journal is not None and journal.data["state"] == "done"
        return
    report = Migration("acme", None, stacks, deps(stacks, store, engine, events=events)).run()
    assert report.reason == reason and report.runs == 2 and len(events) == 1
    assert report.new_serviceid == "1002" and not engine.alive("1001")
    config = _final(stacks)
    assert config.hostwinds.vps_generation == 2 and config.migration is None  # never bumped twice
    assert engine.ups == (2 if reason == "failure" else 1)  # a recorded step is never repeated


def test_failed_verification_resumes_without_redeploying(stacks: Path) -> None:
    store, engine = MemoryJournalStore(), FakeEngine(stacks)
    with pytest.raises(MigrationError, match="verification"):
        Migration("acme", "failure", stacks, deps(stacks, store, engine, verify_ok=False)).run()
    assert engine.ups == 1
    Migration("acme", None, stacks, deps(stacks, store, engine)).run()
    assert engine.ups == 2  # only the cleanup ran `up` again


def test_failed_up_is_retried_on_rerun(stacks: Path) -> None:
    store, engine = MemoryJournalStore(), FakeEngine(stacks)
    engine.fail_next_up = True
    with pytest.raises(ToolkitError, match="blew up"):
        Migration("acme", "upgrade", stacks, deps(stacks, store, engine)).run()
    report = Migration("acme", None, stacks, deps(stacks, store, engine)).run()
    assert report.new_generation == 2 and engine.repairs == 2  # before each `up` of the resumed run only


def test_resume_refuses_another_reason_and_start_needs_one(stacks: Path) -> None:
    store, engine = MemoryJournalStore(), FakeEngine(stacks)
    with pytest.raises(MigrationError, match="give --reason"):
        Migration("acme", None, stacks, deps(stacks, store, engine)).run()
    with pytest.raises(Crash):
        Migration("acme", "failure", stacks, deps(stacks, store, engine, crash_at="started")).run()
    with pytest.raises(MigrationConflict, match="re-run with --reason failure"):
        Migration("acme", "compromise", stacks, deps(stacks, store, engine)).run()


def test_old_vps_still_alive_is_an_error(stacks: Path) -> None:
    store, engine = MemoryJournalStore(), FakeEngine(stacks)
    d = deps(stacks, store, engine)
    d.instance_alive = lambda serviceid: True
    with pytest.raises(MigrationError, match="still exists"):
        Migration("acme", "failure", stacks, d).run()


def test_second_migration_after_done_starts_fresh(stacks: Path) -> None:
    store, engine = MemoryJournalStore(), FakeEngine(stacks)
    first = Migration("acme", "failure", stacks, deps(stacks, store, engine)).run()
    second = Migration("acme", "upgrade", stacks, deps(stacks, store, engine)).run()
    assert second.migration_id != first.migration_id and second.new_generation == 3
    assert len(store.records["acme"]) == 14  # history kept: the KV versions are the audit trail
