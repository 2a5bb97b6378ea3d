"""Retention (30 daily + 12 monthly) as a pure function over timestamps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from vault.backup.retention import to_delete, to_keep

START = datetime(2025, 1, 1, 2, 0, tzinfo=UTC)


def daily(days: int, start: datetime = START) -> list[datetime]:
    return [start + timedelta(days=i) for i in range(days)]


def test_empty_and_few() -> None:
    assert to_delete([]) == set()
    stamps = daily(10)
    assert to_delete(stamps) == set()


def test_thirty_days_plus_monthly() -> None:
    stamps = daily(400)  # 2025-01-01 .. 2026-02-04
    keep = to_keep(stamps)
    newest = max(stamps)
    last_30 = {newest - timedelta(days=i) for i in range(30)}
    assert last_30 <= keep
    monthly = keep - last_30
    # newest backup of each of the 12 most recent months; the 2 newest months are already in last_30 or
    # represented by their last day.
    months = sorted({(t.year, t.month) for t in keep}, reverse=True)
    assert len(months) == 12
    assert all(t.day in (28, 29, 30, 31) for t in monthly)
    assert len(keep) == 30 + len(monthly)
    assert to_delete(stamps) == set(stamps) - keep
    assert min(stamps) in to_delete(stamps)


def test_several_backups_a_day_keep_the_newest_of_each_day() -> None:
    stamps = [START + timedelta(hours=h) for h in range(0, 72, 6)]  # 3 days, 4 a day
    keep = to_keep(stamps)
    assert keep == {START + timedelta(hours=18), START + timedelta(hours=42), START + timedelta(hours=66)}


def test_a_gap_never_deletes_the_last_good_backups() -> None:
    """Backups stopped a year ago: still 30 daily kept, counted in days that have backups."""
    stamps = daily(40)
    assert len(to_keep(stamps)) >= 30
    assert max(stamps) in to_keep(stamps)


def test_monthly_only_and_custom_counts() -> None:
    stamps = [datetime(2024, m, 15, tzinfo=UTC) for m in range(1, 13)] + [datetime(2025, 1, 15, tzinfo=UTC)]
    assert to_delete(stamps, daily=0, monthly=12) == {datetime(2024, 1, 15, tzinfo=UTC)}
    assert to_delete(stamps, daily=1, monthly=0) == set(stamps) - {max(stamps)}


def test_timezones_are_compared_in_utc() -> None:
    from datetime import timezone

    est = timezone(timedelta(hours=-5))
    late_evening = datetime(2025, 1, 1, 22, 0, tzinfo=est)  # 2025-01-02 03:00 UTC
    early_next_day = datetime(2025, 1, 2, 1, 0, tzinfo=UTC)
    assert to_keep([late_evening, early_next_day], daily=1, monthly=0) == {late_evening.astimezone(UTC)}
