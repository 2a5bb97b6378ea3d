"""VPS migration (disaster recovery) of one tenant, done through Pulumi, resumable at every step.

The task never edits the stack file: it records the migration in the tenant's day-2 intent (``fleet.intent``, in
Vault) and runs ``pulumi up``; the program deploys ``apply(stack config, intent)``. A new ``vps_generation`` makes the
Instance a replacement, which Pulumi performs create-before-delete: new VPS -> PTR/firewall -> Mailu installed from
Vault -> DNS (A, SPF, ...) moved to the new IP -> verification at the authoritative servers -> and only at the end of
the same ``up`` the old VPS is wiped (best effort) and terminated.

Reasons:
- ``compromise``: nothing that lived on the old host is reused (``fleet.day2_ops.after_compromise``, the same edit as
  a compromise without migration): a fresh dated DKIM selector, the one in service and any retired ones burned (their
  TXT records removed by the same ``up``, their keys marked ``compromised`` in Vault), and new generations of the
  Mailu admin password and SECRET_KEY (new Vault versions). No data copied.
- ``failure`` / ``upgrade``: secrets kept; the intent's ``copy_from`` makes the stack copy /mailu/mail and
  /mailu/data from the old host (best effort: an unreachable host is a warning) before the old host goes.

Steps (journal in Vault, see ``fleet.migrate_journal``): started -> intent_recorded -> deployed -> verified ->
cleaned_up -> done. Each re-run continues after the last recorded step; the targets (generation, selector, secret
generations, ...) are fixed in a plan when the migration starts and written into the intent as absolute values, so
repeating a step writes the same values. A killed ``up`` is repaired (lock and pending operations cleared) before the
next one; the Instance adopts a VPS created by the killed run (unique label), so no VPS leaks. The migration ends
with ``pulumi preview --expect-no-changes``: the world is what the intent says.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, Protocol

from fleet.day2 import Engine, versions_of
from fleet.day2_ops import after_compromise, exposed_selectors
from fleet.intent import TenantIntent, apply, fresh_selector
from fleet.migrate_journal import STEPS, Journal, JournalStore, MigrationConflict, MigrationError, crash_hook
from fleet.stack_engine import UpSummary
from toolkit import stack_files
from toolkit.tenant_config import TenantConfig

Reason = Literal["compromise", "failure", "upgrade"]
REASONS: tuple[str, ...] = ("compromise", "failure", "upgrade")
WIPE_MARKER = "pm-wipe:"

__all__ = ["REASONS", "Engine", "Intents", "Migration", "MigrationDeps", "MigrationReport", "VerifyOutcome",
           "audit_event", "intent_during", "make_plan", "report_of"]


# ------------------------------------------------------------------------------------------------ ports
class Intents(Protocol):
    """The tenant's day-2 intent record (``fleet.intent``): read, changed with check-and-set, selectors in use."""

    def load(self, tenant: str) -> TenantIntent | None: ...

    def change(self, tenant: str, edit: Callable[[TenantIntent], TenantIntent]) -> TenantIntent: ...

    def taken_selectors(self, domain: str, intent: TenantIntent) -> set[str]:
        """Every selector that may not be used again (Vault's history and the intent's)."""
        ...


@dataclass(frozen=True)
class VerifyOutcome:
    ok: bool
    checks: int = 0
    problems: tuple[str, ...] = ()


@dataclass
class MigrationDeps:
    """What a migration talks to; the task wires the real ones, unit tests fakes."""

    store: JournalStore
    engine: Engine
    intents: Intents
    verify: Callable[[TenantConfig, str, str], VerifyOutcome]
    """(effective config, new ip, new serviceid) -> outcome, asked of the authoritative servers."""
    instance_alive: Callable[[str], bool]
    """Whether a Hostwinds serviceid still exists (not deleted/terminated)."""
    audit: Callable[[Mapping[str, Any]], None] = lambda event: None
    progress: Callable[[str], None] = lambda message: None
    crash: Callable[[str], None] = crash_hook
    now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)
    monotonic: Callable[[], float] = time.monotonic


@dataclass(frozen=True)
class MigrationReport:
    tenant: str
    reason: str
    migration_id: str
    old_serviceid: str
    old_ip: str
    new_serviceid: str
    new_ip: str
    old_generation: int
    new_generation: int
    dkim_selector: str
    secret_versions_before: dict[str, int]
    secret_versions_after: dict[str, int]
    mail_copied: bool | None
    mail_bytes: int
    warnings: list[str]
    notes: list[str]
    step_seconds: dict[str, float]
    tool_seconds: float
    """Time this tool spent on the steps (all runs added up): the measured recovery time."""
    elapsed_seconds: float
    """Wall clock from start to done, interruptions included."""
    runs: int
    repairs: list[str] = field(default_factory=list)
    burned_selectors: list[str] = field(default_factory=list)


# ----------------------------------------------------------------------------------------------- pure logic
def make_plan(config: TenantConfig, intent: TenantIntent, outputs: Mapping[str, Any], reason: str, *,
              today: dt.date, taken_selectors: set[str]) -> dict[str, Any]:
    """The migration's fixed targets, computed once from the effective config (stack + intent) and live outputs."""
    if reason not in REASONS:
        raise MigrationError(f"reason must be one of {', '.join(REASONS)}, not {reason!r}")
    if not outputs.get("serviceid") or not outputs.get("main_ip"):
        raise MigrationError(f"stack {config.tenant_id} has no deployed VPS (no serviceid/main_ip output): "
                             "nothing to migrate; run `pulumi up` first")
    generation = intent.vps_generation if intent.vps_generation is not None else config.hostwinds.vps_generation
    compromise = reason == "compromise"
    bump = 1 if compromise else 0
    old_selector = intent.dkim.selector
    return {
        "old_serviceid": str(outputs["serviceid"]),
        "old_ip": str(outputs["main_ip"]),
        "old_generation": generation,
        "new_generation": generation + 1,
        "old_selector": old_selector,
        "new_selector": fresh_selector(today, taken_selectors | {old_selector}) if compromise else old_selector,
        "burned_selectors": list(exposed_selectors(intent)) if compromise else [],
        "old_smtp_generation": intent.smtp_generation,
        "new_smtp_generation": intent.smtp_generation + bump,
        "old_secret_key_generation": intent.secret_key_generation,
        "new_secret_key_generation": intent.secret_key_generation + bump,
        "copy_from": None if compromise else str(outputs["main_ip"]),
        "old_secret_versions": versions_of(outputs),
    }


def intent_during(intent: TenantIntent, plan: Mapping[str, Any], reason: str) -> TenantIntent:
    """The intent while the migration runs, in absolute values from the plan: applying it twice (a re-run after a
    crash) is applying it once."""
    copy_from = plan.get("copy_from")
    updated = replace(intent, vps_generation=int(plan["new_generation"]), copy_from=str(copy_from) if copy_from
                      else None)
    if reason != "compromise":
        return updated
    return after_compromise(updated, str(plan["new_selector"]), smtp_generation=int(plan["new_smtp_generation"]),
                            secret_key_generation=int(plan["new_secret_key_generation"]))


# ------------------------------------------------------------------------------------------------- runner
class Migration:
    """One ``dr.migrate`` invocation: starts a migration or resumes the one in progress."""

    def __init__(self, tenant: str, reason: str | None, stacks_dir: Path, deps: MigrationDeps) -> None:
        self.tenant = tenant
        self.reason = reason
        self.stacks_dir = Path(stacks_dir)
        self.deps = deps
        self.warnings: list[str] = []
        self.notes: list[str] = []

    # -- journal helpers --

    def _record(self, journal: Journal, step: str, started: float, **details: Any) -> None:
        journal.steps[step] = {"at": self.deps.now().isoformat(), "seconds": round(self.deps.monotonic() - started, 3),
                               **details}
        self.deps.store.save(self.tenant, journal)
        self.deps.progress(f"{step} ✓")
        self.deps.crash(step)

    def _open(self) -> Journal:
        journal = self.deps.store.load(self.tenant)
        if journal is not None and journal.running:
            recorded = journal.data.get("reason")
            if self.reason and self.reason != recorded:
                raise MigrationConflict(f"a migration of {self.tenant} for reason {recorded!r} is in progress "
                                        f"(step {journal.next_step()}); re-run with --reason {recorded} to finish it")
            if "config_updated" in journal.steps:
                raise MigrationError(f"migration {journal.data.get('id')} was started by a toolkit version that "
                                     "edited the stack file; finish it with that version")
            _refuse_live_runner(journal)
            self.deps.progress(f"resuming migration {journal.data['id']} ({recorded}) at step {journal.next_step()}")
            self._claim(journal)
            return journal
        if not self.reason:
            raise MigrationError("no migration in progress: give --reason (compromise, failure or upgrade)")
        if self.reason not in REASONS:
            raise MigrationError(f"reason must be one of {', '.join(REASONS)}, not {self.reason!r}")
        previous = journal.version if journal is not None else 0
        fresh = Journal({"id": f"{self.deps.now():%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}", "tenant": self.tenant,
                         "reason": self.reason, "state": "running", "created_at": self.deps.now().isoformat(),
                         "steps": {}, "runs": []}, previous)
        self._claim(fresh)
        return fresh

    def _claim(self, journal: Journal) -> None:
        runs = journal.data.setdefault("runs", [])
        runs.append({"host": socket.gethostname(), "pid": os.getpid(), "started_at": self.deps.now().isoformat()})
        self.deps.store.save(self.tenant, journal)

    # -- the steps --

    def run(self) -> MigrationReport:
        journal = self._open()
        handlers: dict[str, Callable[[Journal], None]] = {
            "started": self._started, "intent_recorded": self._intent_recorded, "deployed": self._deployed,
            "verified": self._verified, "cleaned_up": self._cleaned_up, "done": self._done,
        }
        for step in STEPS:
            if not journal.done(step):
                self.deps.progress(f"{step} …")
                handlers[step](journal)
        return report_of(journal)

    def _intent(self) -> TenantIntent:
        intent = self.deps.intents.load(self.tenant)
        if intent is None:
            raise MigrationError(f"{self.tenant} has no day-2 intent record in Vault: the stack was never deployed "
                                 f"with this toolkit; run `pulumi up --stack {self.tenant}` first")
        return intent

    def _config(self) -> TenantConfig:
        """What the program deploys: the stack file (read, never written) with the intent in force."""
        return apply(stack_files.load(self.stacks_dir, self.tenant), self._intent())

    def _started(self, journal: Journal) -> None:
        t0 = self.deps.monotonic()
        stack_config, intent = stack_files.load(self.stacks_dir, self.tenant), self._intent()
        if intent.copy_from is not None:
            raise MigrationError(f"the intent of {self.tenant} still copies mail from {intent.copy_from} (an earlier "
                                 "migration whose journal is gone); finish or clear it first")
        config = apply(stack_config, intent)
        outputs = self.deps.engine.outputs()
        plan = make_plan(config, intent, outputs, str(journal.data["reason"]), today=self.deps.now().date(),
                         taken_selectors=self.deps.intents.taken_selectors(config.domain, intent))
        journal.data["plan"] = plan
        journal.data["domain"] = config.domain
        self._record(journal, "started", t0)

    def _intent_recorded(self, journal: Journal) -> None:
        t0 = self.deps.monotonic()
        reason = str(journal.data["reason"])
        intent = self.deps.intents.change(self.tenant, lambda current: intent_during(current, journal.plan, reason))
        self._record(journal, "intent_recorded", t0, vps_generation=intent.vps_generation,
                     dkim_selector=intent.dkim.selector, burned=list(intent.dkim.burned),
                     smtp_generation=intent.smtp_generation, secret_key_generation=intent.secret_key_generation,
                     copy_from=intent.copy_from, intent_revision=intent.revision)

    def _up(self, journal: Journal) -> UpSummary:
        if len(journal.data.get("runs") or []) > 1:
            # Resuming: an earlier run may have been killed inside `up`. Only then is clearing a lock safe (the
            # earlier runner is dead, see _refuse_live_runner); a first run never touches another update's lock.
            repairs = self.deps.engine.repair()
            for line in repairs:
                self.deps.progress(f"repair: {line}")
            journal.data.setdefault("repairs", []).extend(repairs)
        self.deps.progress("pulumi up …")
        summary = self.deps.engine.up()
        for line in summary.matching(WIPE_MARKER):
            message = WIPE_MARKER + line.split(WIPE_MARKER, 1)[1]
            target = self.warnings if "warning" in message else self.notes
            if message not in target:
                target.append(message)
        return summary

    def _deployed(self, journal: Journal) -> None:
        t0 = self.deps.monotonic()
        summary = self._up(journal)
        outputs = self.deps.engine.outputs()
        plan = journal.plan
        new_serviceid, new_ip = str(outputs.get("serviceid") or ""), str(outputs.get("main_ip") or "")
        if not new_serviceid or new_serviceid == plan["old_serviceid"]:
            raise MigrationError(f"pulumi up finished but the stack still points at VPS {new_serviceid or '?'} "
                                 f"(expected a replacement of {plan['old_serviceid']})")
        copy = outputs.get("mail_data_copy") or {}
        if copy.get("warning"):
            self.warnings.append(str(copy["warning"]))
        self._record(journal, "deployed", t0, new_serviceid=new_serviceid, new_ip=new_ip,
                     vps_label=outputs.get("vps_label"), changes=summary.changes,
                     secret_versions=versions_of(outputs),
                     mail_copied=copy.get("copied") if copy else None, mail_bytes=int(copy.get("bytes") or 0),
                     warnings=list(self.warnings), notes=list(self.notes))

    def _verified(self, journal: Journal) -> None:
        t0 = self.deps.monotonic()
        deployed = journal.steps["deployed"]
        outcome = self.deps.verify(self._config(), str(deployed["new_ip"]), str(deployed["new_serviceid"]))
        if not outcome.ok:
            raise MigrationError("verification at the authoritative servers failed:\n  " + "\n  ".join(
                outcome.problems))
        old = str(journal.plan["old_serviceid"])
        if self.deps.instance_alive(old):
            raise MigrationError(f"the old VPS {old} still exists after the deployment; re-run to let Pulumi "
                                 "delete it (or check the Hostwinds account)")
        self._record(journal, "verified", t0, checks=outcome.checks, old_instance_gone=True)

    def _cleaned_up(self, journal: Journal) -> None:
        t0 = self.deps.monotonic()
        ran_up = False
        if journal.plan.get("copy_from"):
            self.deps.intents.change(self.tenant, lambda current: replace(current, copy_from=None))
            self._up(journal)  # removes the copy resource; everything else is unchanged
            ran_up = True
        self.deps.progress("pulumi preview --expect-no-changes …")
        self.deps.engine.preview_no_changes()  # the migration ends converged: the world is what the intent says
        self._record(journal, "cleaned_up", t0, ran_up=ran_up, converged=True)

    def _done(self, journal: Journal) -> None:
        t0 = self.deps.monotonic()
        journal.data["state"] = "done"
        journal.steps["done"] = {"at": self.deps.now().isoformat(), "seconds": round(self.deps.monotonic() - t0, 3)}
        report = report_of(journal)
        journal.data["report"] = {"tool_seconds": report.tool_seconds, "elapsed_seconds": report.elapsed_seconds,
                                  "new_serviceid": report.new_serviceid, "new_ip": report.new_ip}
        self.deps.store.save(self.tenant, journal)
        self.deps.audit(audit_event(journal, report))
        self.deps.progress("done ✓")
        self.deps.crash("done")


def _refuse_live_runner(journal: Journal) -> None:
    runs = journal.data.get("runs") or []
    if not runs:
        return
    last = runs[-1]
    if last.get("host") != socket.gethostname() or int(last.get("pid") or 0) in (0, os.getpid()):
        return
    try:
        os.kill(int(last["pid"]), 0)
    except ProcessLookupError:
        return
    except PermissionError:
        pass
    raise MigrationConflict(f"migration {journal.data.get('id')} is being run by pid {last['pid']} on this host; "
                            "wait for it (or stop it) before resuming")


def report_of(journal: Journal) -> MigrationReport:
    data, plan, steps = journal.data, journal.plan, journal.steps
    deployed = steps.get("deployed") or {}
    seconds = {s: float(steps[s].get("seconds") or 0.0) for s in STEPS if s in steps}
    started_at = data.get("created_at")
    finished_at = (steps.get("done") or {}).get("at")
    elapsed = 0.0
    if started_at and finished_at:
        elapsed = (dt.datetime.fromisoformat(finished_at) - dt.datetime.fromisoformat(started_at)).total_seconds()
    return MigrationReport(
        tenant=str(data.get("tenant")), reason=str(data.get("reason")), migration_id=str(data.get("id")),
        old_serviceid=str(plan.get("old_serviceid", "")), old_ip=str(plan.get("old_ip", "")),
        new_serviceid=str(deployed.get("new_serviceid", "")), new_ip=str(deployed.get("new_ip", "")),
        old_generation=int(plan.get("old_generation") or 0), new_generation=int(plan.get("new_generation") or 0),
        dkim_selector=str(plan.get("new_selector", "")),
        secret_versions_before=dict(plan.get("old_secret_versions") or {}),
        secret_versions_after=dict(deployed.get("secret_versions") or {}),
        mail_copied=deployed.get("mail_copied"), mail_bytes=int(deployed.get("mail_bytes") or 0),
        warnings=list(deployed.get("warnings") or []), notes=list(deployed.get("notes") or []),
        step_seconds=seconds,
        tool_seconds=round(sum(seconds.values()), 3), elapsed_seconds=round(elapsed, 3),
        runs=len(data.get("runs") or []), repairs=list(data.get("repairs") or []),
        burned_selectors=[str(s) for s in plan.get("burned_selectors") or []],
    )


def audit_event(journal: Journal, report: MigrationReport) -> dict[str, Any]:
    """The audit record of a finished migration: public facts only (ids, addresses, versions, timings). For a
    compromise, ``burned`` lists what the run burned: by then their records are gone and Vault marks the DKIM keys
    ``compromised`` (the final ``up`` did it and the preview after it showed no change)."""
    burned: dict[str, Any] = {}
    if report.reason == "compromise":  # what must never be trusted again (kept in Vault history for forensics)
        before = report.secret_versions_before
        domain = journal.data.get("domain", "?")
        burned = {"dkim_selectors": report.burned_selectors,
                  "dkim": [f"dkim/{domain}/{selector}" for selector in report.burned_selectors],
                  "smtp_admin_version": before.get("smtp_admin"),
                  "mailu_secret_key_version": before.get("mailu_secret_key"), "host": report.old_ip}
    return {
        "burned": burned,
        "event": "vps.migrated", "at": (journal.steps.get("done") or {}).get("at"), "tenant": report.tenant,
        "migration_id": report.migration_id, "reason": report.reason, "operator": os.environ.get("USER", "?"),
        "host": socket.gethostname(),
        "old": {"serviceid": report.old_serviceid, "ip": report.old_ip, "generation": report.old_generation},
        "new": {"serviceid": report.new_serviceid, "ip": report.new_ip, "generation": report.new_generation},
        "dkim_selector": report.dkim_selector, "secret_versions_before": report.secret_versions_before,
        "secret_versions_after": report.secret_versions_after, "mail_copied": report.mail_copied,
        "mail_bytes": report.mail_bytes, "warnings": report.warnings, "notes": report.notes,
        "tool_seconds": report.tool_seconds, "elapsed_seconds": report.elapsed_seconds, "runs": report.runs,
    }
