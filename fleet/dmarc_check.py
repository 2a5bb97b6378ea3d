"""The DMARC plan of ``rotate.due``: each domain's schedule (``fleet.dmarc``), and the stage in force verified at the
zone's authoritative servers before the next one is recorded: a domain advances only when the record served there
is exactly what the stack and intent say. Starting a schedule (a record from before it existed, an edited
``pm:dmarc_stage``) only records when the stage in force began; it asks no server (the step after it will).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

from dnsrecords.records import Record
from dnsrecords.verify import Check, Server, check_record
from fleet.dmarc import DmarcAction, DmarcItem, plan_item
from fleet.intent import TenantIntent, apply
from fleet.verify import domain_inputs, servers_for
from toolkit.errors import ToolkitError
from toolkit.tenant_config import TenantConfig

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
    """Schedules to start: recorded in the intent, nothing to deploy."""
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


def plan_dmarc(tenants: Sequence[tuple[TenantConfig, TenantIntent | None]], now: dt.datetime, *,
               parallelism: int = 8, verify: StageCheck = stage_check) -> DmarcPlan:
    """Every domain's DMARC item at ``now`` from its (already read) intent; the due advances are verified at their
    authoritative servers first (in parallel). A tenant without intent was never deployed: nothing to do."""
    def one(tenant: tuple[TenantConfig, TenantIntent | None]) -> tuple[DmarcItem, Check | None] | None:
        config, current = tenant
        item = None if current is None else plan_item(config, current, now)
        if item is None or current is None or item.action is not DmarcAction.ADVANCE:
            return (item, None) if item is not None else None
        return item, verify(apply(config, current))

    plan = DmarcPlan()
    with ThreadPoolExecutor(max_workers=max(1, parallelism)) as pool:
        results = list(pool.map(one, tenants))
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
