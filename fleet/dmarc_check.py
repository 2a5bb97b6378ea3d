"""The DMARC plan of ``rotate.due``: each domain's schedule (``fleet.dmarc``), and the stage in force verified at the
zone's authoritative servers before anything is recorded: a domain advances (or starts its schedule) only when the
record served there is exactly what the stack and intent say.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

from dnsrecords.records import Record
from dnsrecords.verify import Check, Server, check_record
from fleet import intent
from fleet.dmarc import DmarcAction, DmarcItem, plan_item
from fleet.verify import domain_inputs, servers_for
from toolkit.errors import ToolkitError
from toolkit.tenant_config import TenantConfig
from vault.client import VaultClient

UPCOMING = dt.timedelta(days=7)

StageCheck = Callable[[TenantConfig], Check]


def stage_check(deployed: TenantConfig, servers: list[Server] | None = None) -> Check:
    """The ``_dmarc`` TXT record of the deployed config (stack + intent) as every authoritative server serves it."""
    inputs = domain_inputs(deployed, mail_ip="")
    record = Record.txt(f"_dmarc.{deployed.domain}", inputs.dmarc.text(), inputs.ttl)
    try:
        return check_record(record, servers or servers_for(deployed))
    except ToolkitError as exc:
        return Check(f"TXT {record.name}", "missing", inputs.dmarc.text(), "", str(exc))


@dataclass
class DmarcPlan:
    ready: list[DmarcItem] = field(default_factory=list)
    """Advances whose current stage verified: recorded as intent and carried out by the engine."""
    starts: list[DmarcItem] = field(default_factory=list)
    """Schedules to start (their stage verified): recorded in the intent, nothing to deploy."""
    blocked: list[DmarcItem] = field(default_factory=list)
    """Due, but the stage in force did not verify (the reason says what the servers hold)."""
    held: list[DmarcItem] = field(default_factory=list)
    upcoming: list[DmarcItem] = field(default_factory=list)

    @property
    def due(self) -> list[DmarcItem]:
        return [*self.ready, *self.starts]


def _blocked(item: DmarcItem, check: Check) -> DmarcItem:
    found = f"found {check.found!r}" if check.found else "found nothing"
    return replace(item, reason=f"{item.reason}; NOT advanced: {check.subject} {check.status} at the authoritative "
                                f"servers (expected {check.expected!r}, {found}) {check.detail}".rstrip())


def plan_dmarc(vault: VaultClient, configs: Sequence[TenantConfig], now: dt.datetime, *, parallelism: int = 8,
               verify: StageCheck = stage_check) -> DmarcPlan:
    """Every domain's DMARC item at ``now``; due ones are verified at their authoritative servers first."""
    def one(config: TenantConfig) -> tuple[DmarcItem, Check | None] | None:
        current = intent.load(vault, config.tenant_id)
        if current is None:
            return None  # not deployed: `rotate.due` notes it through the rotation plan
        item = plan_item(config, current, now)
        if item is None or item.action not in (DmarcAction.ADVANCE, DmarcAction.START):
            return (item, None) if item is not None else None
        return item, verify(intent.apply(config, current))

    plan = DmarcPlan()
    with ThreadPoolExecutor(max_workers=max(1, parallelism)) as pool:
        results = list(pool.map(one, configs))
    for result in results:
        if result is None:
            continue
        item, check = result
        if item.action is DmarcAction.HELD:
            plan.held.append(item)
        elif item.action is DmarcAction.WAIT:
            if item.due_at <= now + UPCOMING:
                plan.upcoming.append(item)
        elif check is not None and check.status != "ok":
            plan.blocked.append(_blocked(item, check))
        elif item.action is DmarcAction.ADVANCE:
            plan.ready.append(item)
        else:
            plan.starts.append(item)
    return plan
