"""The DMARC rollout's pure parts: where a domain stands, what `rotate.due` does about it, the intent edits, the
stage the program deploys, and records written before the schedule existed."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from dnsrecords.verify import Check
from fleet import dmarc, intent
from fleet.day2 import Day2Error
from fleet.dmarc import DmarcAction
from fleet.dmarc_check import plan_dmarc
from fleet.intent import DkimIntent, DmarcIntent, TenantIntent
from toolkit.clock import iso, parse_instant
from toolkit.tenant_config import TenantConfig, TenantConfigError, parse_tenant_config

T0 = parse_instant("2026-12-01T09:00:00Z")


def _config(**overrides: Any) -> TenantConfig:
    return parse_tenant_config({"tenant_id": "acme", "domain": "acme.example", "dns": {"provider": "manual"},
                                **overrides})


def _intent(config: TenantConfig) -> TenantIntent:
    return TenantIntent("acme", DkimIntent("pm20261201", "n"), dmarc=intent.first_dmarc(config, iso(T0)))


def _day(days: float) -> dt.datetime:
    return T0 + dt.timedelta(days=days)


def test_new_domain_walks_none_quarantine_reject() -> None:
    config = _config()
    record = _intent(config)
    first = intent.initial(config, set(), T0.date()).dmarc
    assert first is not None and (first.stage, first.stack_stage, list(first.began)) == ("none", "none", ["none"])
    waiting = dmarc.plan_item(config, record, _day(29))
    assert waiting is not None and waiting.action is DmarcAction.WAIT and waiting.due_at == _day(30)

    step = dmarc.plan_item(config, record, _day(31))
    assert step is not None and step.action is DmarcAction.ADVANCE and (step.stage, step.target) == ("none",
                                                                                                    "quarantine")
    quarantined = dmarc.advance("none", "none", "quarantine")(record, _day(31))
    assert intent.apply(config, quarantined).dmarc_stage == "quarantine"
    assert quarantined.dmarc is not None and quarantined.dmarc.began["quarantine"] == iso(_day(31))
    assert dmarc.advance("none", "none", "quarantine")(quarantined, _day(32)) == quarantined  # absolute

    where = dmarc.schedule(config, quarantined)
    assert where.next_stage == "reject" and where.next_at == _day(91)
    assert "p=quarantine; pct=10 since" in where.describe() and "reject due" in where.describe()
    later = dmarc.plan_item(config, quarantined, _day(91))
    assert later is not None and later.action is DmarcAction.ADVANCE and later.target == "reject"
    rejected = dmarc.advance("none", "quarantine", "reject")(quarantined, _day(91))
    assert intent.apply(config, rejected).dmarc_stage == "reject"
    assert dmarc.plan_item(config, rejected, _day(400)) is None  # the final stage
    assert "final stage" in dmarc.schedule(config, rejected).describe()


def test_a_held_domain_is_reported_not_advanced() -> None:
    config = _config(dmarc_hold=True)
    item = dmarc.plan_item(config, _intent(config), _day(45))
    assert item is not None and item.action is DmarcAction.HELD and "pm:dmarc_hold" in item.reason
    assert "held" in dmarc.schedule(config, _intent(config)).describe()
    with pytest.raises(TenantConfigError, match="dmarc_hold"):
        _config(dmarc_hold="maybe")


def test_each_stage_gets_its_full_period_after_a_hold() -> None:
    config = _config()
    late = dmarc.advance("none", "none", "quarantine")(_intent(config), _day(200))  # held until day 200
    item = dmarc.plan_item(config, late, _day(201))
    assert item is not None and item.action is DmarcAction.WAIT and item.due_at == _day(260)


def test_an_edit_of_the_stack_stage_wins_and_restarts_the_schedule() -> None:
    record = dmarc.advance("none", "none", "quarantine")(_intent(_config()), _day(31))
    operator = _config(dmarc_stage="none")  # unchanged stack file: the schedule's stage is in force
    assert intent.apply(operator, record).dmarc_stage == "quarantine"
    edited = _config(dmarc_stage="reject")
    assert intent.apply(edited, record).dmarc_stage == "reject"  # the operator's decision, at once
    item = dmarc.plan_item(edited, record, _day(32))
    assert item is not None and item.action is DmarcAction.START and "changed to reject" in item.reason
    started = dmarc.start("reject", _day(32))(record)
    assert started.dmarc == DmarcIntent("reject", "reject", {"none": iso(T0), "quarantine": iso(_day(31)),
                                                             "reject": iso(_day(32))})
    assert intent.apply(edited, started).dmarc_stage == "reject"
    with pytest.raises(Day2Error, match="changed since it was planned"):
        dmarc.advance("none", "none", "quarantine")(started, _day(33))


def test_records_from_before_the_schedule_read_and_deploy_as_before() -> None:
    config = _config(dmarc_stage="quarantine")
    old = {"dkim": {"selector": "pm20261201", "nonce": "n"}, "smtp_generation": 2}
    record = intent.from_data("acme", old, 3)
    assert record.dmarc is None and record.smtp_emergency is None
    assert intent.apply(config, record).dmarc_stage == "quarantine"
    item = dmarc.plan_item(config, record, _day(1))
    assert item is not None and item.action is DmarcAction.START and "predates" in item.reason
    started = dmarc.start("quarantine", _day(1))(record)
    assert intent.from_data("acme", started.to_data(), 4).dmarc == started.dmarc
    with pytest.raises(intent.IntentError, match="malformed"):
        intent.from_data("acme", {**old, "dmarc": {"stage": "strict", "stack_stage": "none"}}, 1)
    assert intent.archived(started).dmarc is None  # a stack created again publishes anew: its schedule restarts


def test_the_fleet_plan_asks_the_dns_servers_only_about_due_advances() -> None:
    asked: list[str] = []

    def verify(deployed: TenantConfig) -> Check:
        asked.append(deployed.tenant_id)
        found = "v=DMARC1; p=reject" if deployed.tenant_id == "bad" else "v=DMARC1; p=none"
        return Check("TXT _dmarc", "ok" if deployed.tenant_id != "bad" else "wrong", "v=DMARC1; p=none", found)

    def tenant(name: str, **overrides: Any) -> TenantConfig:
        return _config(tenant_id=name, domain=f"{name}.example", **overrides)

    legacy = intent.from_data("old", {"dkim": {"selector": "pm20261201", "nonce": "n"}}, 1)
    recent = TenantIntent("soon", DkimIntent("pm20261201", "n"), dmarc=DmarcIntent("none", "none",
                                                                                    {"none": iso(_day(5))}))
    plan = plan_dmarc([(tenant("due"), _intent(_config())), (tenant("bad"), _intent(_config())),
                       (tenant("held", dmarc_hold=True), _intent(_config())), (tenant("soon"), recent),
                       (tenant("old"), legacy), (tenant("never"), None)], _day(31), parallelism=2, verify=verify)
    assert sorted(asked) == ["bad", "due"]
    assert [i.tenant for i in plan.ready] == ["due"] and [i.tenant for i in plan.starts] == ["old"]
    assert [i.tenant for i in plan.held] == ["held"] and [i.tenant for i in plan.upcoming] == ["soon"]
    assert [i.tenant for i in plan.blocked] == ["bad"] and "NOT advanced" in plan.blocked[0].reason
    assert "'v=DMARC1; p=reject'" in plan.blocked[0].reason
