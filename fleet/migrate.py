"""VPS migration (disaster recovery) of one tenant, done through Pulumi, resumable at every step.

The stack state stays the source of truth: the task only edits the tenant's stack config and runs ``pulumi up``.
Bumping ``hostwinds.vps_generation`` makes the Instance a replacement, which Pulumi performs create-before-delete:
new VPS -> PTR/firewall -> Mailu installed from Vault -> DNS (A, SPF, ...) moved to the new IP -> verification at
the authoritative servers -> and only at the end of the same ``up`` the old VPS is wiped (best effort) and
terminated.

Reasons:
- ``compromise``: nothing that lived on the old host is reused: a new dated DKIM selector, and
  ``secrets_generation`` + 1 rotates the Mailu admin password and SECRET_KEY (new Vault versions). No data copied.
- ``failure`` / ``upgrade``: secrets kept; ``migration.copy_from`` makes the stack copy /mailu/mail and /mailu/data
  from the old host (best effort: an unreachable host is a warning) before the old host goes.

Steps (journal in Vault, see ``fleet.migrate_journal``): started -> config_updated -> deployed -> verified ->
cleaned_up -> done. Each re-run continues after the last recorded step; targets (generation, selector, ...) are
fixed when the migration starts, so repeating a step writes the same values. A killed ``up`` is repaired (lock and
pending operations cleared) before the next one; the Instance adopts a VPS created by the killed run (unique
label), so no VPS leaks.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import string
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from fleet.migrate_journal import STEPS, Journal, JournalStore, MigrationConflict, MigrationError, crash_hook
from fleet.stack_engine import UpSummary
from toolkit import stack_files
from toolkit.tenant_config import MigrationSettings, TenantConfig, parse_tenant_config
from vault.keys import dated_selector

Reason = Literal["compromise", "failure", "upgrade"]
REASONS: tuple[str, ...] = ("compromise", "failure", "upgrade")
WIPE_MARKER = "pm-wipe:"


# ------------------------------------------------------------------------------------------------ ports
class Engine(Protocol):
    def outputs(self) -> dict[str, Any]: ...

    def repair(self) -> list[str]: ...

    def up(self) -> UpSummary: ...


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
    verify: Callable[[TenantConfig, str, str], VerifyOutcome]
    """(config, new ip, new serviceid) -> outcome, asked of the authoritative servers."""
    instance_alive: Callable[[str], bool]
    """Whether a Hostwinds serviceid still exists (not deleted/terminated)."""
    taken_selectors: Callable[[TenantConfig], set[str]]
    """DKIM selectors that already exist for the domain (in Vault)."""
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


# ----------------------------------------------------------------------------------------------- pure logic
def new_selector(today: dt.date, taken: set[str]) -> str:
    """A dated selector (``pmYYYYMMDD``) not in ``taken``; ``b``, ``c``, ... appended when today's is used."""
    base = str(dated_selector(today))
    for suffix in ("", *string.ascii_lowercase[1:]):
        if base + suffix not in taken:
            return f"{base}{suffix}"
    raise MigrationError(f"no free DKIM selector left for {today:%Y-%m-%d} ({base}..{base}z are all taken)")


def make_plan(config: TenantConfig, outputs: Mapping[str, Any], reason: str, *, today: dt.date,
              taken_selectors: set[str]) -> dict[str, Any]:
    """The migration's fixed targets, computed once from the stack's config and live outputs."""
    if reason not in REASONS:
        raise MigrationError(f"reason must be one of {', '.join(REASONS)}, not {reason!r}")
    if not outputs.get("serviceid") or not outputs.get("main_ip"):
        raise MigrationError(f"stack {config.tenant_id} has no deployed VPS (no serviceid/main_ip output): "
                             "nothing to migrate; run `pulumi up` first")
    generation = config.hostwinds.vps_generation
    compromise = reason == "compromise"
    vault_refs = outputs.get("vault") or {}
    return {
        "old_serviceid": str(outputs["serviceid"]),
        "old_ip": str(outputs["main_ip"]),
        "old_generation": generation,
        "new_generation": generation + 1,
        "old_selector": config.dkim_selector,
        "new_selector": new_selector(today, taken_selectors | {config.dkim_selector}) if compromise
        else config.dkim_selector,
        "old_secrets_generation": config.secrets_generation,
        "new_secrets_generation": config.secrets_generation + (1 if compromise else 0),
        "copy_from": None if compromise else str(outputs["main_ip"]),
        "old_secret_versions": _versions(vault_refs),
    }


def target_config(config: TenantConfig, plan: Mapping[str, Any]) -> TenantConfig:
    """The stack config during the migration (absolute values from the plan: applying it twice is the same)."""
    hostwinds = config.hostwinds.model_copy(update={"vps_generation": int(plan["new_generation"])})
    copy_from = plan.get("copy_from")
    return _revalidate(config.model_copy(update={
        "hostwinds": hostwinds,
        "dkim_selector": str(plan["new_selector"]),
        "secrets_generation": int(plan["new_secrets_generation"]),
        "migration": MigrationSettings(copy_from=str(copy_from)) if copy_from else None,
    }))


def final_config(config: TenantConfig) -> TenantConfig:
    return _revalidate(config.model_copy(update={"migration": None}))


def _revalidate(config: TenantConfig) -> TenantConfig:
    return parse_tenant_config(config.model_dump(mode="json", exclude_none=True))


def _versions(vault_refs: Mapping[str, Any]) -> dict[str, int]:
    out = {}
    for name, ref in vault_refs.items():
        if isinstance(ref, Mapping) and ref.get("version") is not None:
            out[name] = int(ref["version"])
    return out


def write_stack_config(stacks_dir: Path, config: TenantConfig) -> Path:
    """Make the tenant's stack file hold ``config`` through the one stack-file writer (validated, atomic; only the
    settings that differ are edited, everything else in the file is kept)."""
    return stack_files.write_config(stacks_dir, config).path


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
            "started": self._started, "config_updated": self._config_updated, "deployed": self._deployed,
            "verified": self._verified, "cleaned_up": self._cleaned_up, "done": self._done,
        }
        for step in STEPS:
            if not journal.done(step):
                self.deps.progress(f"{step} …")
                handlers[step](journal)
        return report_of(journal)

    def _config(self) -> TenantConfig:
        return stack_files.load(self.stacks_dir, self.tenant)

    def _started(self, journal: Journal) -> None:
        t0 = self.deps.monotonic()
        config = self._config()
        if config.migration is not None:
            raise MigrationError(f"the stack config of {self.tenant} still holds `migration:` from an earlier run "
                                 "whose journal is gone; remove it (or finish that migration) first")
        outputs = self.deps.engine.outputs()
        plan = make_plan(config, outputs, str(journal.data["reason"]), today=self.deps.now().date(),
                         taken_selectors=self.deps.taken_selectors(config))
        journal.data["plan"] = plan
        journal.data["domain"] = config.domain
        self._record(journal, "started", t0)

    def _config_updated(self, journal: Journal) -> None:
        t0 = self.deps.monotonic()
        target = target_config(self._config(), journal.plan)
        write_stack_config(self.stacks_dir, target)
        self._record(journal, "config_updated", t0, generation=target.hostwinds.vps_generation,
                     dkim_selector=target.dkim_selector, secrets_generation=target.secrets_generation,
                     copy_from=journal.plan.get("copy_from"))

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
                     secret_versions=_versions(outputs.get("vault") or {}),
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
            config = self._config()
            if config.migration is not None:
                write_stack_config(self.stacks_dir, final_config(config))
            self._up(journal)  # removes the copy resource; everything else is unchanged
            ran_up = True
        self._record(journal, "cleaned_up", t0, ran_up=ran_up)

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
    )


def audit_event(journal: Journal, report: MigrationReport) -> dict[str, Any]:
    """The audit record of a finished migration: public facts only (ids, addresses, versions, timings)."""
    plan = journal.plan
    burned: dict[str, Any] = {}
    if report.reason == "compromise":  # what must never be trusted again (kept in Vault history for forensics)
        before = report.secret_versions_before
        burned = {"dkim": f"dkim/{journal.data.get('domain', '?')}/{plan.get('old_selector')}",
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
