"""Backup freshness: < 24 h healthy, 24-48 h warning, > 48 h (or no backup at all) critical.

Monitoring hook: ``alert`` is set once the newest backup is older than 25 h (the daily 02:00 UTC run plus an
hour of slack), so a single missed run pages before the warning band is half over. ``exit_code`` follows the
Nagios convention (0 ok, 1 warning, 2 critical) for cron/monitoring wrappers.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from toolkit import clock as clocks

WARNING_AFTER = timedelta(hours=24)
CRITICAL_AFTER = timedelta(hours=48)
ALERT_AFTER = timedelta(hours=25)

class Freshness(StrEnum):
    OK = "ok"
    WARNING = "warning"
    CRITICAL = "critical"


@dataclass(frozen=True)
class FreshnessReport:
    status: Freshness
    latest: datetime | None
    age: timedelta | None
    alert: bool
    """True when the newest backup is older than 25 h (or missing): the monitoring hook."""

    @property
    def exit_code(self) -> int:
        return {Freshness.OK: 0, Freshness.WARNING: 1, Freshness.CRITICAL: 2}[self.status]

    def describe(self) -> str:
        if self.latest is None or self.age is None:
            return "critical: no backup found"
        hours = self.age.total_seconds() / 3600
        return f"{self.status.value}: newest backup {self.latest:%Y-%m-%d %H:%M} UTC, {hours:.1f} h old"


def classify(age: timedelta) -> Freshness:
    if age < WARNING_AFTER:
        return Freshness.OK
    if age <= CRITICAL_AFTER:
        return Freshness.WARNING
    return Freshness.CRITICAL


def assess(timestamps: Iterable[datetime], clock: clocks.Clock = clocks.SYSTEM_CLOCK) -> FreshnessReport:
    """Freshness of the newest of ``timestamps`` at ``clock.now()``. A backup dated in the future counts as age 0."""
    stamps = [t.astimezone(UTC) for t in timestamps]
    if not stamps:
        return FreshnessReport(Freshness.CRITICAL, None, None, alert=True)
    latest = max(stamps)
    age = max(clock.now() - latest, timedelta(0))
    return FreshnessReport(classify(age), latest, age, alert=age > ALERT_AFTER)
