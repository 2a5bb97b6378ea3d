"""Fleet-wide rotation: read every tenant's rotation state, decide what is due, perform it with bounded parallelism.

Tenants run in parallel (``parallelism`` workers); one tenant's items run in order (regenerate, finish, rotate),
each re-reading the stack file first because a DKIM step rewrites it. A failure stops that tenant's remaining items,
is audited and reported, and never stops the other tenants.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fleet.clock import Clock
from fleet.rotation import (
    SSH_KINDS,
    Action,
    DueItem,
    DuePlan,
    Kind,
    TenantSnapshot,
    due_items,
    read_snapshot,
)
from fleet.rotation_context import RotationContext
from fleet.rotation_dkim import finish_dkim, rotate_dkim
from fleet.rotation_smtp import rotate_smtp
from fleet.rotation_ssh import finish_ssh, regenerate_ssh, rotate_ssh
from toolkit import stack_files
from toolkit.errors import ConfigError, ToolkitError
from toolkit.redact import scrub
from toolkit.tenant_config import TenantConfig
from vault.client import VaultClient


@dataclass
class Outcome:
    tenant: str
    kind: str
    action: str
    status: str  # done | planned | failed | skipped
    detail: str = ""
    summary: dict[str, Any] = field(default_factory=dict)


def load_tenants(stacks_dir: Path, tenants: Sequence[str] = ()) -> tuple[list[TenantConfig], list[str]]:
    """Every ``Pulumi.<tenant>.yaml`` (or just ``tenants``); unreadable stack files are returned as problems."""
    names = list(tenants) or sorted(p.name[len("Pulumi."):-len(".yaml")] for p in stacks_dir.glob("Pulumi.*.yaml"))
    configs, problems = [], []
    for name in names:
        try:
            configs.append(stack_files.load(stacks_dir, name))
        except ConfigError as exc:
            problems.append(f"{name}: {exc}")
    return configs, problems


def read_snapshots(vault: VaultClient, configs: Sequence[TenantConfig], parallelism: int = 8,
                   on_read: Callable[[str], None] | None = None) -> list[TenantSnapshot]:
    def one(config: TenantConfig) -> TenantSnapshot:
        snapshot = read_snapshot(vault, config)
        if on_read is not None:
            on_read(config.tenant_id)
        return snapshot

    with ThreadPoolExecutor(max_workers=max(1, parallelism)) as pool:
        return list(pool.map(one, configs))


def plan_due(vault: VaultClient, configs: Sequence[TenantConfig], clock: Clock, *, parallelism: int = 8,
             on_read: Callable[[str], None] | None = None) -> DuePlan:
    return due_items(read_snapshots(vault, configs, parallelism, on_read), clock.now())


def perform(ctx: RotationContext, item: DueItem, *, dry_run: bool = False) -> Outcome:
    """Carry out one due item (the tenant's stack file is re-read first)."""
    config = stack_files.load(ctx.stacks_dir, item.tenant)
    summary: dict[str, Any] = {}
    if item.kind in SSH_KINDS:
        kind = SSH_KINDS[item.kind]
        if item.action is Action.REGENERATE:
            summary = regenerate_ssh(ctx, config, kind, dry_run=dry_run).summary()
        elif item.action is Action.FINISH:
            finished = finish_ssh(ctx, config, kind, dry_run=dry_run)
            summary = finished.summary() if finished else {"note": "no open grace window"}
        else:
            summary = rotate_ssh(ctx, config, kind, dry_run=dry_run).summary()
    elif item.kind is Kind.SMTP:
        summary = rotate_smtp(ctx, config, dry_run=dry_run).summary()
    elif item.action is Action.FINISH:
        summary = {"removed": [r.summary() for r in finish_dkim(ctx, config, dry_run=dry_run)]}
    else:
        summary = rotate_dkim(ctx, config, dry_run=dry_run).summary()
    return Outcome(item.tenant, item.kind.value, item.action.value, "planned" if dry_run else "done",
                   item.reason, summary)


def run_items(ctx: RotationContext, items: Sequence[DueItem], *, parallelism: int = 4, dry_run: bool = False,
              on_done: Callable[[Outcome], None] | None = None) -> list[Outcome]:
    by_tenant: dict[str, list[DueItem]] = {}
    for item in items:
        by_tenant.setdefault(item.tenant, []).append(item)

    def tenant_run(tenant_items: list[DueItem]) -> list[Outcome]:
        outcomes: list[Outcome] = []
        failed = False
        for item in tenant_items:
            if failed:
                outcome = Outcome(item.tenant, item.kind.value, item.action.value, "skipped",
                                  "an earlier step of this tenant failed")
            else:
                try:
                    outcome = perform(ctx, item, dry_run=dry_run)
                except ToolkitError as exc:
                    failed = True
                    detail = scrub(str(exc))
                    outcome = Outcome(item.tenant, item.kind.value, item.action.value, "failed", detail)
                    ctx.audit.event(f"rotate.{item.kind.value}.{item.action.value}", tenant=item.tenant,
                                    outcome="failed", error=type(exc).__name__, detail=detail)
            outcomes.append(outcome)
            if on_done is not None:
                on_done(outcome)
        return outcomes

    with ThreadPoolExecutor(max_workers=max(1, parallelism)) as pool:
        return [o for chunk in pool.map(tenant_run, by_tenant.values()) for o in chunk]
