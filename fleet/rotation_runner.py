"""Fleet-wide rotation: read every tenant's rotation state, decide what is due, carry it out with bounded parallelism.

Tenants run in parallel (``parallelism`` workers). Everything due for one tenant (key rotations, ended windows, the
next DMARC stage) becomes one intent change and one ``pulumi up`` (``fleet.day2``), so a scheduled run is never
undone by the next deploy from main. A failure is audited and reported, and never stops the other tenants.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from fleet import day2, day2_ops, dmarc, intent
from fleet.clock import Clock
from fleet.day2 import Day2Context, Edit
from fleet.dmarc import DmarcItem
from fleet.dmarc_check import DmarcPlan, StageCheck, plan_dmarc, stage_check
from fleet.intent import TenantIntent
from fleet.intent_bulk import load_intent
from fleet.rotation import (
    SSH_KINDS,
    Action,
    DueItem,
    DuePlan,
    Kind,
    TenantSnapshot,
    due_items,
    snapshot_of,
)
from toolkit import stack_batch
from toolkit.clock import iso
from toolkit.errors import ToolkitError
from toolkit.redact import scrub
from toolkit.tenant_config import TenantConfig
from vault.bulk import BulkReader
from vault.client import VaultClient


@dataclass(frozen=True)
class TenantState:
    config: TenantConfig
    intent: TenantIntent | None
    snapshot: TenantSnapshot


@dataclass
class Outcome:
    tenant: str
    items: str
    status: str  # done | planned | failed
    detail: str = ""
    seconds: float = 0.0


def load_tenants(stacks_dir: Path, tenants: Sequence[str] = ()) -> tuple[list[TenantConfig], list[str]]:
    """Every ``Pulumi.<tenant>.yaml`` (or just ``tenants``); unreadable stack files are returned as problems. Read
    with ``toolkit.stack_batch`` (libyaml, worker processes for a large fleet)."""
    names = list(tenants) or sorted(p.name[len("Pulumi."):-len(".yaml")] for p in stacks_dir.glob("Pulumi.*.yaml"))
    configs, problems = [], []
    for name, loaded in stack_batch.load_many(stacks_dir, names):
        if isinstance(loaded, str):
            problems.append(f"{name}: {loaded}")
        else:
            configs.append(loaded)
    return configs, problems


def read_tenants(vault: VaultClient, configs: Sequence[TenantConfig], parallelism: int = 8,
                 on_read: Callable[[str], None] | None = None) -> list[TenantState]:
    """Each tenant's intent (one read) and the rotation snapshot built from it."""
    with BulkReader(vault) as reader:
        def one(config: TenantConfig) -> TenantState:
            current = load_intent(reader, vault, config.tenant_id)
            state = TenantState(config, current, snapshot_of(vault, config, current))
            if on_read is not None:
                on_read(config.tenant_id)
            return state

        with ThreadPoolExecutor(max_workers=max(1, parallelism)) as pool:
            return list(pool.map(one, configs))


def plan_due(vault: VaultClient, configs: Sequence[TenantConfig], clock: Clock, *, parallelism: int = 8,
             on_read: Callable[[str], None] | None = None) -> DuePlan:
    return plan(vault, configs, clock, parallelism=parallelism, on_read=on_read, verify=None)[0]


def plan(vault: VaultClient, configs: Sequence[TenantConfig], clock: Clock, *, parallelism: int = 8,
         on_read: Callable[[str], None] | None = None,
         verify: StageCheck | None = stage_check) -> tuple[DuePlan, DmarcPlan]:
    """What is due at the clock's now: key rotations and windows, and the DMARC stages (verified at the DNS
    servers by ``verify``; None: DMARC not planned). One intent read per tenant for both."""
    states = read_tenants(vault, configs, parallelism, on_read)
    now = clock.now()
    due = due_items([s.snapshot for s in states], now)
    if verify is None:
        return due, DmarcPlan()
    return due, plan_dmarc([(s.config, s.intent) for s in states], now, parallelism=parallelism, verify=verify)


def tenant_edit(ctx: Day2Context, config: TenantConfig, items: Sequence[DueItem],
                dmarc_items: Sequence[DmarcItem] = ()) -> Edit:
    """Everything due for one tenant as one intent edit (windows closed first, then regenerations and rotations,
    then the next DMARC stage)."""
    edits: list[Edit] = []
    if any(item.action is Action.FINISH for item in items):
        edits.append(day2_ops.finish())
    for item in items:
        if item.kind in SSH_KINDS and item.action is Action.REGENERATE:
            edits.append(day2_ops.regenerate_ssh(ctx.vault, config.tenant_id, SSH_KINDS[item.kind]))
        elif item.kind in SSH_KINDS and item.action is Action.ROTATE:
            edits.append(day2_ops.rotate_ssh(ctx.vault, config.tenant_id, SSH_KINDS[item.kind]))
        elif item.kind is Kind.SMTP and item.action is Action.ROTATE:
            edits.append(day2_ops.rotate_smtp)
        elif item.kind is Kind.DKIM and item.action is Action.ROTATE:
            edits.append(day2_ops.rotate_dkim(ctx.vault, config.domain))
    edits += [dmarc.advance(config.dmarc_stage, step.stage, step.target) for step in dmarc_items]
    return day2_ops.compose(*edits)


def run_items(ctx: Day2Context, configs: Mapping[str, TenantConfig], items: Sequence[DueItem], *,
              dmarc_items: Sequence[DmarcItem] = (), parallelism: int = 4, dry_run: bool = False,
              on_done: Callable[[Outcome], None] | None = None) -> list[Outcome]:
    """One intent change and one ``pulumi up`` per tenant; a tenant's failure never stops the others."""
    by_tenant: dict[str, tuple[list[DueItem], list[DmarcItem]]] = {}
    for item in items:
        by_tenant.setdefault(item.tenant, ([], []))[0].append(item)
    for step in dmarc_items:
        by_tenant.setdefault(step.tenant, ([], []))[1].append(step)

    def tenant_run(tenant: str, tenant_items: list[DueItem], steps: list[DmarcItem]) -> Outcome:
        what = ", ".join([*(f"{i.kind.value} {i.action.value}" for i in tenant_items), *(s.what for s in steps)])
        if dry_run:
            reasons = [*(i.reason for i in tenant_items), *(s.reason for s in steps)]
            outcome = Outcome(tenant, what, "planned", "; ".join(reasons))
        else:
            started = time.monotonic()
            try:
                result = day2.run(ctx, tenant, "rotate.due", tenant_edit(ctx, configs[tenant], tenant_items, steps),
                                  details={"items": what})
                outcome = Outcome(tenant, what, "done", f"versions {result.versions}",
                                  seconds=time.monotonic() - started)
            except ToolkitError as exc:
                detail = scrub(str(exc))
                outcome = Outcome(tenant, what, "failed", detail, seconds=time.monotonic() - started)
                ctx.audit.event("rotate.due", tenant=tenant, outcome="failed", error=type(exc).__name__,
                                detail=detail)
        if on_done is not None:
            on_done(outcome)
        return outcome

    with ThreadPoolExecutor(max_workers=max(1, parallelism)) as pool:
        return list(pool.map(lambda entry: tenant_run(entry[0], *entry[1]), by_tenant.items()))


def record_dmarc_starts(ctx: Day2Context, items: Sequence[DmarcItem]) -> list[Outcome]:
    """Start the DMARC schedules of ``items``: an intent write each, nothing to deploy (the program already
    publishes that stage)."""
    outcomes: list[Outcome] = []
    for item in items:
        now = ctx.clock.now()
        try:
            intent.change(ctx.vault, item.tenant, dmarc.start(item.target, now))
        except ToolkitError as exc:
            detail = scrub(str(exc))
            outcomes.append(Outcome(item.tenant, item.what, "failed", detail))
            ctx.audit.event("rotate.due", tenant=item.tenant, outcome="failed", error=type(exc).__name__,
                            detail=detail)
            continue
        outcomes.append(Outcome(item.tenant, item.what, "done", f"p={item.target} in force since {iso(now)} "
                                                                 "(nothing to deploy)"))
        ctx.audit.event("rotate.due", tenant=item.tenant, outcome="ok", items=item.what, since=iso(now))
    return outcomes
