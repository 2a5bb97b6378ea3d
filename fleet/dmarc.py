"""The DMARC staged rollout as day-2 intent: a new domain starts at ``p=none``, moves to ``p=quarantine; pct=10``
after 30 days and to ``p=reject`` after 90 (requirements section 6).

Pure logic over (stack config, intent, now); the daily ``rotate.due`` reads it, verifies the stage in force at the
authoritative DNS servers (``fleet.dmarc_check``) and records the next stage as intent, which the engine publishes
(``fleet.day2``). The intent keeps when each stage began (``fleet.intent.DmarcIntent``):
- a stage lasts at least its period counted from when it began (none 30 days, quarantine 60 more: a domain held
  or blocked for a while still gets its full observation time at each stage);
- ``pm:dmarc_hold: true`` in the stack file stops the progression of a domain that is not ready;
- an edit of ``pm:dmarc_stage`` is an operator's decision: that stage is in force at once (the program), and the
  next ``rotate.due`` restarts the schedule from it (``start``), as it does for a record written before the schedule
  existed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import StrEnum

from dnsrecords.dmarc import DEFAULT_PCT, QUARANTINE_AFTER_DAYS, REJECT_AFTER_DAYS
from fleet.day2 import Day2Error, Edit
from fleet.intent import DmarcIntent, TenantIntent
from toolkit.clock import iso, parse_instant
from toolkit.tenant_config import TenantConfig

NEXT: dict[str, str] = {"none": "quarantine", "quarantine": "reject"}
PERIOD: dict[str, dt.timedelta] = {"none": dt.timedelta(days=QUARANTINE_AFTER_DAYS),
                                   "quarantine": dt.timedelta(days=REJECT_AFTER_DAYS - QUARANTINE_AFTER_DAYS)}
"""How long a stage stays in force before the next one is due."""


class DmarcAction(StrEnum):
    ADVANCE = "advance"  # the next stage is due
    START = "start"  # the schedule of the stage in force is not recorded yet: it starts now
    HELD = "held"  # pm:dmarc_hold
    WAIT = "wait"  # the next stage is not due yet


@dataclass(frozen=True)
class DmarcSchedule:
    """Where one domain stands: the stage in force, since when, what comes next and when."""

    stage: str
    since: dt.datetime | None
    next_stage: str | None
    next_at: dt.datetime | None
    held: bool
    recorded: bool
    """The intent records the schedule of the stage in force (False: a record from before the schedule, or the
    operator changed ``pm:dmarc_stage``)."""

    def describe(self) -> str:
        text = f"p={self.stage}" + (f"; pct={DEFAULT_PCT[self.stage]}" if DEFAULT_PCT[self.stage] != 100 else "")
        text += f" since {iso(self.since)}" if self.since else " (start not recorded yet)"
        if self.next_stage is None:
            return text + " (final stage)"
        if self.held:
            return text + f"; held (pm:dmarc_hold), {self.next_stage} not scheduled"
        when = iso(self.next_at) if self.next_at else "after the next rotate.due records the start"
        return text + f"; {self.next_stage} due {when}"


@dataclass(frozen=True)
class DmarcItem:
    tenant: str
    action: DmarcAction
    stage: str
    """The stage in force (it must verify at the authoritative servers before anything is recorded)."""
    target: str
    """``advance``: the next stage; ``start``: the stage whose schedule starts."""
    due_at: dt.datetime
    reason: str

    @property
    def what(self) -> str:
        return f"dmarc {self.stage} -> {self.target}" if self.action is DmarcAction.ADVANCE \
            else f"dmarc {self.action.value} {self.target}"


def schedule(config: TenantConfig, current: TenantIntent) -> DmarcSchedule:
    dmarc = current.dmarc
    recorded = dmarc is not None and dmarc.stack_stage == config.dmarc_stage
    stage = dmarc.in_force(config.dmarc_stage) if dmarc is not None else config.dmarc_stage
    began = dmarc.began.get(stage) if dmarc is not None and recorded else None
    since = parse_instant(began, "dmarc.began") if began else None
    next_stage = NEXT.get(stage)
    next_at = since + PERIOD[stage] if since is not None and next_stage is not None else None
    return DmarcSchedule(stage, since, next_stage, next_at, config.dmarc_hold, recorded)


def plan_item(config: TenantConfig, current: TenantIntent, now: dt.datetime) -> DmarcItem | None:
    """What ``rotate.due`` does about one domain's DMARC stage at ``now`` (None: nothing, the final stage)."""
    tenant, where = config.tenant_id, schedule(config, current)
    if not where.recorded or where.since is None:
        why = ("the record predates the DMARC schedule" if current.dmarc is None
               else f"pm:dmarc_stage was changed to {where.stage}")
        return DmarcItem(tenant, DmarcAction.START, where.stage, where.stage, now,
                         f"{why}: the schedule of p={where.stage} starts now")
    if where.next_stage is None or where.next_at is None:
        return None
    if where.held:
        return DmarcItem(tenant, DmarcAction.HELD, where.stage, where.next_stage, where.next_at,
                         f"p={where.stage} since {iso(where.since)}: held by pm:dmarc_hold")
    action = DmarcAction.ADVANCE if where.next_at <= now else DmarcAction.WAIT
    return DmarcItem(tenant, action, where.stage, where.next_stage, where.next_at,
                     f"p={where.stage} since {iso(where.since)}; {where.next_stage} due {iso(where.next_at)}")


def advance(stack_stage: str, stage: str, target: str) -> Edit:
    """Put ``target`` in force (absolute: applying it twice is applying it once), recording when it began. Refused
    when the schedule moved since it was planned (another run, or an edit of ``pm:dmarc_stage``)."""
    def edit(intent: TenantIntent, now: dt.datetime) -> TenantIntent:
        dmarc = intent.dmarc
        if dmarc is None or dmarc.stack_stage != stack_stage or dmarc.stage not in (stage, target):
            raise Day2Error(f"the DMARC schedule of {intent.tenant} changed since it was planned: run rotate.due again")
        if dmarc.stage == target:
            return intent
        return replace(intent, dmarc=replace(dmarc, stage=target, began={**dmarc.began, target: iso(now)}))
    return edit


def start(stage: str, now: dt.datetime) -> Callable[[TenantIntent], TenantIntent]:
    """Record that the stack's ``stage`` is in force from ``now`` (the program already deploys it: nothing changes
    in the world, so this is written without a ``pulumi up``)."""
    def edit(intent: TenantIntent) -> TenantIntent:
        dmarc = intent.dmarc
        if dmarc is not None and dmarc.stack_stage == stage and stage in dmarc.began:
            return intent
        began = dict(dmarc.began) if dmarc is not None else {}
        return replace(intent, dmarc=DmarcIntent(stage, stage, {**began, stage: iso(now)}))
    return edit
