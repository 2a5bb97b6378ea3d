"""dr.migrate runs with fakes of the engine and the intent record: every step, what it records in the intent (never
the stack file), resuming after a crash at every step, and ending converged (pure logic: test_dr_migrate_plan)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from fleet.intent import RetiredDkim, TenantIntent, apply, initial
from fleet.migrate import (
    Migration,
    MigrationDeps,
    VerifyOutcome,
    audit_event,
)
from fleet.migrate_journal import (
    STEPS,
    Journal,
    MemoryJournalStore,
    MigrationConflict,
    MigrationError,
)
from fleet.stack_engine import NotConverged, UpSummary
from toolkit import stack_files
from toolkit.errors import ToolkitError
from toolkit.tenant_config import parse_tenant_config

pytestmark = pytest.mark.unit
TODAY = dt.date(2026, 11, 25)
IN_VAULT = {"pm20261125b"}  # a selector Vault already has history for (an earlier key of this domain)


def raw(**overrides: Any) -> dict[str, Any]:
    return {
        "tenant_id": "acme", "domain": "acme.sandbox.test",
        "dns": {"provider": "rfc2136", "server": "127.0.0.1", "port": 15353, "tsig_key_name": "k"},
        "dkim_selector": "pm20261125", **overrides,
    }


class Crash(Exception):
    """Stands in for os._exit in the crash hook."""


@dataclass
class MemoryIntents:
    """The intent record in memory, with the check-and-set versioning of the Vault one."""

    records: dict[str, TenantIntent] = field(default_factory=dict)
    vault_selectors: set[str] = field(default_factory=lambda: set(IN_VAULT))

    def load(self, tenant: str) -> TenantIntent | None:
        return self.records.get(tenant)

    def change(self, tenant: str, edit: Callable[[TenantIntent], TenantIntent]) -> TenantIntent:
        current = self.records[tenant]
        updated = edit(current)
        if updated != current:
            updated = replace(updated, revision=current.revision + 1)
            self.records[tenant] = updated
        return updated

    def taken_selectors(self, domain: str, intent: TenantIntent) -> set[str]:
        return self.vault_selectors | {intent.dkim.selector, *intent.dkim.history, *intent.dkim.burned,
                                       *(r.selector for r in intent.dkim.retired)}


class FakeEngine:
    """A stack whose `up` deploys `apply(stack file, intent)`, like the real program; `preview_no_changes` fails
    while the intent differs from what the last `up` deployed."""

    def __init__(self, stacks_dir: Path, intents: MemoryIntents) -> None:
        self.stacks_dir = stacks_dir
        self.intents = intents
        self.ups = 0
        self.previews = 0
        self.repairs = 0
        self.fail_next_up = False
        self.drift = False
        self._outputs: dict[str, Any] = {}
        self._deployed: TenantIntent | None = None
        intent = intents.load("acme")
        assert intent is not None
        self.deploy(intent)

    def _desired(self) -> TenantIntent:
        intent = self.intents.load("acme")
        assert intent is not None
        return replace(intent, revision=0)

    def deploy(self, intent: TenantIntent) -> None:
        config = apply(stack_files.load(self.stacks_dir, "acme"), intent)
        generation = config.hostwinds.vps_generation
        outputs: dict[str, Any] = {
            "serviceid": str(1000 + generation), "main_ip": f"10.0.0.{generation}", "vps_label": config.vps_label,
            "dkim_selector": config.dkim_selector,
            "vault": {"smtp_admin": {"path": "smtp/acme/admin", "version": intent.smtp_generation},
                      "mailu_secret_key": {"path": "smtp/acme/mailu", "version": intent.secret_key_generation},
                      "admin_ssh": {"path": "vps/acme/admin_ssh", "version": 1}},
        }
        if config.migration is not None:
            outputs["mail_data_copy"] = {"copied": True, "bytes": 4096, "warning": ""}
        self._outputs = outputs
        self._deployed = replace(intent, revision=0)

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
        self.deploy(self._desired())
        return UpSummary({"update": 3}, ["Stack running pm-wipe: instance 1001 (10.0.0.1) wiped before terminate"])

    def preview_no_changes(self) -> None:
        self.previews += 1
        if self.drift or self._deployed != self._desired():
            raise NotConverged("acme has not converged: `pulumi preview --expect-no-changes` still shows changes")

    def alive(self, serviceid: str) -> bool:
        return serviceid == self._outputs["serviceid"]


@dataclass
class World:
    stacks: Path
    intents: MemoryIntents
    engine: FakeEngine
    store: MemoryJournalStore = field(default_factory=MemoryJournalStore)
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def intent(self) -> TenantIntent:
        intent = self.intents.load("acme")
        assert intent is not None
        return intent

    def stack_bytes(self) -> bytes:
        return stack_files.stack_file(self.stacks, "acme").read_bytes()

    def deps(self, *, crash_at: str | None = None, verify_ok: bool = True) -> MigrationDeps:
        def crash(step: str) -> None:
            if step == crash_at:
                raise Crash(step)

        clock = iter(range(10_000))
        return MigrationDeps(
            store=self.store, engine=self.engine, intents=self.intents,
            verify=lambda config, ip, sid: VerifyOutcome(verify_ok, 12, () if verify_ok else ("mail A: wrong",)),
            instance_alive=self.engine.alive, audit=self.events.append,
            crash=crash, now=lambda: dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC),
            monotonic=lambda: float(next(clock)),
        )

    def migrate(self, reason: str | None, **kwargs: Any) -> Any:
        return Migration("acme", reason, self.stacks, self.deps(**kwargs)).run()


@pytest.fixture
def world(tmp_path: Path) -> World:
    stack_files.create(tmp_path, raw())
    path = stack_files.stack_file(tmp_path, "acme")
    path.write_text(path.read_text() + "encryptionsalt: v1:salt:abc\n")
    intents = MemoryIntents({"acme": replace(initial(parse_tenant_config(raw()), set(), TODAY), revision=1)})
    return World(tmp_path, intents, FakeEngine(tmp_path, intents))


# --- the runner ------------------------------------------------------------------------------------------------

def test_failure_migration_runs_every_step(world: World) -> None:
    before = world.stack_bytes()
    report = world.migrate("failure")
    assert world.engine.ups == 2  # the migration, then the cleanup that drops the copy resource
    assert world.engine.previews == 1  # ends converged
    assert report.new_serviceid == "1002" and report.old_serviceid == "1001" and report.mail_copied is True
    assert report.notes == ["pm-wipe: instance 1001 (10.0.0.1) wiped before terminate"] and report.warnings == []
    assert report.tool_seconds > 0 and list(report.step_seconds) == list(STEPS)
    assert world.stack_bytes() == before  # the stack file is never edited
    assert world.intent.vps_generation == 2 and world.intent.copy_from is None
    assert world.intent.dkim.selector == "pm20261125" and world.intent.smtp_generation == 1
    journal = world.store.load("acme")
    assert journal is not None and journal.data["state"] == "done" and journal.version == 7  # claim + 5 steps + done
    assert journal.steps["intent_recorded"]["copy_from"] == "10.0.0.1"
    assert journal.steps["cleaned_up"]["converged"] is True
    assert [e["event"] for e in world.events] == ["vps.migrated"] and world.events[0]["new"]["ip"] == "10.0.0.2"
    assert world.events[0]["burned"] == {}


def test_compromise_burns_selectors_and_rotates(world: World) -> None:
    retired = RetiredDkim("pm20261101", "v=DKIM1; k=rsa; p=AAAA", "2026-11-27T12:00:00Z")
    world.intents.change("acme", lambda i: replace(i, dkim=replace(i.dkim, retired=(retired,))))
    world.engine.up()
    ups, before, nonce = world.engine.ups, world.stack_bytes(), world.intent.dkim.nonce
    report = world.migrate("compromise")
    assert world.engine.ups == ups + 1 and world.engine.previews == 1 and report.mail_copied is None
    assert world.stack_bytes() == before
    intent = world.intent
    assert intent.dkim.selector == report.dkim_selector == "pm20261125c"  # today's and "b" are taken
    assert intent.dkim.burned == ("pm20261125", "pm20261101") and intent.dkim.retired == ()
    assert intent.dkim.nonce != nonce and intent.dkim.history[-1] == "pm20261125c"
    assert (intent.smtp_generation, intent.secret_key_generation, intent.vps_generation) == (2, 2, 2)
    assert intent.copy_from is None
    assert report.secret_versions_after["smtp_admin"] > report.secret_versions_before["smtp_admin"]
    assert report.burned_selectors == ["pm20261125", "pm20261101"]
    burned = world.events[0]["burned"]
    assert burned["dkim_selectors"] == ["pm20261125", "pm20261101"]
    assert burned["dkim"] == ["dkim/acme.sandbox.test/pm20261125", "dkim/acme.sandbox.test/pm20261101"]
    assert burned["smtp_admin_version"] == 1 and burned["mailu_secret_key_version"] == 1
    assert burned["host"] == "10.0.0.1"
    journal = world.store.load("acme")
    assert journal is not None and audit_event(journal, report)["burned"] == burned


@pytest.mark.parametrize("step", STEPS)
@pytest.mark.parametrize("reason", ["failure", "compromise"])
def test_crash_after_any_step_then_rerun_finishes(world: World, step: str, reason: str) -> None:
    before = world.stack_bytes()
    with pytest.raises(Crash):
        world.migrate(reason, crash_at=step)
    if step == "done":  # the migration had finished; a new run would start the next one
        journal = world.store.load("acme")
        assert journal is not None and journal.data["state"] == "done"
        return
    recorded = world.intent
    report = world.migrate(None)
    assert report.reason == reason and report.runs == 2 and len(world.events) == 1
    assert report.new_serviceid == "1002" and not world.engine.alive("1001")
    intent = world.intent
    assert intent.vps_generation == 2 and intent.copy_from is None  # never bumped twice
    assert intent.smtp_generation == (2 if reason == "compromise" else 1)
    assert intent.dkim.selector == ("pm20261125c" if reason == "compromise" else "pm20261125")
    if step != "started":  # the recorded intent is never re-randomised by the resumed run
        assert intent.dkim.nonce == recorded.dkim.nonce
    assert intent.dkim.burned == (("pm20261125",) if reason == "compromise" else ())
    assert world.engine.ups == (2 if reason == "failure" else 1)  # a recorded step is never repeated
    assert world.stack_bytes() == before


def test_failed_verification_resumes_without_redeploying(world: World) -> None:
    with pytest.raises(MigrationError, match="verification"):
        world.migrate("failure", verify_ok=False)
    assert world.engine.ups == 1
    world.migrate(None)
    assert world.engine.ups == 2  # only the cleanup ran `up` again


def test_failed_up_is_retried_on_rerun(world: World) -> None:
    world.engine.fail_next_up = True
    with pytest.raises(ToolkitError, match="blew up"):
        world.migrate("upgrade")
    report = world.migrate(None)
    assert report.new_generation == 2 and world.engine.repairs == 2  # before each `up` of the resumed run only


def test_not_converged_stops_before_done_and_rerun_finishes(world: World) -> None:
    world.engine.drift = True
    with pytest.raises(NotConverged):
        world.migrate("compromise")
    journal = world.store.load("acme")
    assert journal is not None and journal.next_step() == "cleaned_up" and world.events == []
    world.engine.drift = False
    report = world.migrate(None)
    assert report.runs == 2 and world.engine.ups == 1 and len(world.events) == 1


def test_resume_refuses_another_reason_and_start_needs_one(world: World) -> None:
    with pytest.raises(MigrationError, match="give --reason"):
        world.migrate(None)
    with pytest.raises(Crash):
        world.migrate("failure", crash_at="started")
    with pytest.raises(MigrationConflict, match="re-run with --reason failure"):
        world.migrate("compromise")


def test_old_vps_still_alive_is_an_error(world: World) -> None:
    d = world.deps()
    d.instance_alive = lambda serviceid: True
    with pytest.raises(MigrationError, match="still exists"):
        Migration("acme", "failure", world.stacks, d).run()


def test_second_migration_after_done_starts_fresh(world: World) -> None:
    first = world.migrate("failure")
    second = world.migrate("upgrade")
    assert second.migration_id != first.migration_id
    assert (second.old_generation, second.new_generation) == (2, 3) and world.intent.vps_generation == 3
    assert len(world.store.records["acme"]) == 14  # history kept: the KV versions are the audit trail


def test_never_deployed_tenant_is_refused_before_anything_changes(world: World) -> None:
    world.intents.records.clear()
    with pytest.raises(MigrationError, match="no day-2 intent record"):
        world.migrate("failure")
    assert world.engine.ups == 0 and world.intents.records == {}


def test_leftover_copy_without_journal_is_refused(world: World) -> None:
    world.intents.change("acme", lambda i: replace(i, copy_from="10.0.0.9"))
    with pytest.raises(MigrationError, match=r"still copies mail from 10\.0\.0\.9"):
        world.migrate("upgrade")
    assert world.engine.ups == 0 and world.intent.vps_generation is None


def test_journal_of_a_stack_file_editing_version_is_refused(world: World) -> None:
    world.store.save("acme", Journal({"id": "old", "reason": "failure", "state": "running",
                                      "steps": {"started": {}, "config_updated": {}}, "runs": []}))
    with pytest.raises(MigrationError, match="edited the stack file"):
        world.migrate(None)
    assert world.engine.ups == 0
