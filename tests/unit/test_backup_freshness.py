"""Freshness thresholds with an injected clock: <24 h ok, 24-48 h warning, >48 h critical, alert >25 h."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from toolkit.clock import FrozenClock
from vault.backup.freshness import Freshness, assess

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
clock = FrozenClock(NOW)


@pytest.mark.parametrize(
    ("age", "status", "alert", "code"),
    [
        (timedelta(0), Freshness.OK, False, 0),
        (timedelta(hours=23, minutes=59), Freshness.OK, False, 0),
        (timedelta(hours=24), Freshness.WARNING, False, 1),
        (timedelta(hours=25), Freshness.WARNING, False, 1),
        (timedelta(hours=25, seconds=1), Freshness.WARNING, True, 1),
        (timedelta(hours=48), Freshness.WARNING, True, 1),
        (timedelta(hours=48, seconds=1), Freshness.CRITICAL, True, 2),
        (timedelta(days=30), Freshness.CRITICAL, True, 2),
    ],
)
def test_thresholds(age: timedelta, status: Freshness, alert: bool, code: int) -> None:
    report = assess([NOW - age, NOW - age - timedelta(days=3)], clock)
    assert (report.status, report.alert, report.exit_code, report.age) == (status, alert, code, age)


def test_no_backup_is_critical() -> None:
    report = assess([], clock)
    assert report.status is Freshness.CRITICAL and report.alert and report.latest is None
    assert "no backup" in report.describe()


def test_future_backup_counts_as_fresh() -> None:
    report = assess([NOW + timedelta(hours=1)], clock)
    assert report.status is Freshness.OK and report.age == timedelta(0)
