"""Day-2 operations: record the intent, let the engine carry it out, prove it converged.

Every operation (SSH rotate/finish/revoke/regenerate, SMTP rotation, DKIM rotate/finish) is the same three steps:
1. validate: the stack is deployed and the intent record readable (nothing is changed before this passes);
2. record: edit the tenant's intent (``fleet.intent``, CAS) and mark the operation pending;
3. converge: ``pulumi up`` through the Automation API, then ``preview --expect-no-changes``; clear the mark.
A run killed anywhere resumes: the pending mark makes the next run of the same operation skip step 2 (no second key,
no second selector) and go straight to converging. The crash hook (``PM_DR_CRASH_AFTER=<step>``) exits right after
``recorded`` or ``deployed`` for the tests that prove it.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from fleet.audit import AuditLog
from fleet.clock import Clock, iso
from fleet.intent import PendingOp, TenantIntent, change, load
from fleet.migrate_journal import crash_hook
from fleet.stack_engine import UpSummary
from toolkit.errors import ToolkitError
from vault.client import VaultClient


class Day2Error(ToolkitError):
    """A day-2 operation was refused before it changed anything, or its convergence failed."""


class Engine(Protocol):
    def outputs(self) -> dict[str, Any]: ...

    def repair(self) -> list[str]: ...

    def up(self) -> UpSummary: ...

    def preview_no_changes(self) -> None: ...


@dataclass
class Day2Context:
    vault: VaultClient
    clock: Clock
    audit: AuditLog
    engine_for: Callable[[str], Engine]
    progress: Callable[[str], None] = field(default=lambda _message: None)
    crash: Callable[[str], None] = crash_hook


@dataclass
class Day2Result:
    tenant: str
    op: str
    resumed: bool = False
    nothing_to_do: bool = False
    changes: dict[str, int] = field(default_factory=dict)
    versions: dict[str, int] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"tenant": self.tenant, "operation": self.op}
        if self.resumed:
            out["resumed"] = "an interrupted run of this operation was completed"
        if self.nothing_to_do:
            out["result"] = "nothing to do"
        out.update(self.details)
        if self.changes:
            out["engine changes"] = ", ".join(f"{k} {v}" for k, v in sorted(self.changes.items()) if k != "same")
        out.update({f"{name} version": version for name, version in sorted(self.versions.items())})
        return out


Edit = Callable[[TenantIntent, dt.datetime], TenantIntent]


def versions_of(outputs: Mapping[str, Any]) -> dict[str, int]:
    """One version number per secret: the one the stack deployed (``vault.<name>.version`` output)."""
    refs = outputs.get("vault") or {}
    return {name: int(ref["version"]) for name, ref in refs.items()
            if isinstance(ref, Mapping) and ref.get("version") is not None}


def renewed_secrets(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    """The secrets this run put in service: a new version, or (DKIM) a new selector."""
    old, new = versions_of(before), versions_of(after)
    renewed = [name for name, version in new.items() if old.get(name) != version]
    if before.get("dkim_selector") != after.get("dkim_selector") and "dkim" not in renewed:
        renewed.append("dkim")
    return renewed


def deployed(ctx: Day2Context, tenant: str) -> tuple[Engine, dict[str, Any], TenantIntent]:
    """The checks every operation makes before changing anything."""
    engine = ctx.engine_for(tenant)
    outputs = engine.outputs()
    if not outputs.get("main_ip"):
        raise Day2Error(f"stack {tenant} is not deployed (no main_ip output): run `pulumi up --stack {tenant}` first")
    current = load(ctx.vault, tenant)
    if current is None:
        raise Day2Error(f"{tenant} has no intent record in Vault: run `pulumi up --stack {tenant}` first")
    return engine, outputs, current


def run(ctx: Day2Context, tenant: str, op: str, edit: Edit, *, details: Mapping[str, Any] | None = None,
        prepared: tuple[Engine, dict[str, Any], TenantIntent] | None = None) -> Day2Result:
    """Record ``edit`` as intent (unless an interrupted run of ``op`` already did), then converge."""
    engine, before, current = prepared or deployed(ctx, tenant)
    result = Day2Result(tenant, op, details=dict(details or {}))
    now = ctx.clock.now()
    if current.pending is not None and current.pending.op == op:
        result.resumed = True
        ctx.progress(f"{tenant}: resuming {op} started at {current.pending.started_at}")
        before = dict(current.pending.details.get("before") or before)  # what was in service when it started
    else:
        edited = edit(current, now)
        if edited == current and current.pending is None:
            result.nothing_to_do = True
            result.outputs = before
            result.versions = versions_of(before)
            return result
        started_with = {"vault": before.get("vault") or {}, "dkim_selector": before.get("dkim_selector")}
        pending = PendingOp(op, uuid.uuid4().hex[:12], iso(now), {**dict(details or {}), "before": started_with})
        change(ctx.vault, tenant, lambda latest: replace(edit(latest, now), pending=pending))
        ctx.progress(f"{tenant}: intent recorded ({op})")
    ctx.crash("recorded")
    if result.resumed:
        # Only a resumed run may clear what a killed `up` left (lock, pending operations): a first run never
        # touches another update's lock.
        repaired = engine.repair()
        if repaired:
            ctx.progress(f"{tenant}: {'; '.join(repaired)}")
    ctx.progress(f"{tenant}: pulumi up")
    summary = engine.up()
    ctx.crash("deployed")
    ctx.progress(f"{tenant}: pulumi preview --expect-no-changes")
    engine.preview_no_changes()
    result.changes = dict(summary.changes)
    result.outputs = engine.outputs()
    result.versions = versions_of(result.outputs)
    renewed = renewed_secrets(before, result.outputs)
    stamp = iso(dt.datetime.now(dt.UTC).replace(microsecond=0))

    def settle(latest: TenantIntent) -> TenantIntent:
        since = {**latest.since, **dict.fromkeys(renewed, stamp)}
        done = latest.pending is not None and latest.pending.op == op
        return replace(latest, since=since, pending=None if done else latest.pending)
    change(ctx.vault, tenant, settle)
    ctx.audit.event(op, tenant=tenant, outcome="ok", resumed=result.resumed, versions=result.versions,
                    changes=result.changes, **dict(details or {}))
    return result
