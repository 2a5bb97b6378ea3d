"""Retention: keep 30 daily + 12 monthly backups. A pure function over timestamps.

Rules (UTC calendar buckets, newest backup of a bucket represents it):
- daily: the newest backup of each of the ``daily`` most recent days *that have a backup*;
- monthly: the newest backup of each of the ``monthly`` most recent months that have a backup;
- everything else is deleted.

Counting days/months that have backups (not "the last 30 calendar days") means a stretch without backups never
makes the policy delete the last good ones. The newest backup is always kept.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from datetime import UTC, datetime

DAILY = 30
MONTHLY = 12


def _newest_per_bucket(stamps: list[datetime], bucket: Callable[[datetime], Hashable], count: int) -> set[datetime]:
    kept: set[datetime] = set()
    seen: set[Hashable] = set()
    for stamp in stamps:  # newest first
        key = bucket(stamp)
        if key in seen:
            continue
        if len(seen) >= count:
            break
        seen.add(key)
        kept.add(stamp)
    return kept


def to_keep(timestamps: Iterable[datetime], daily: int = DAILY, monthly: int = MONTHLY) -> set[datetime]:
    if daily < 0 or monthly < 0:
        raise ValueError("daily and monthly must be >= 0")
    stamps = sorted({t.astimezone(UTC) for t in timestamps}, reverse=True)
    if not stamps:
        return set()
    kept = {stamps[0]}
    kept |= _newest_per_bucket(stamps, lambda t: t.date(), daily)
    kept |= _newest_per_bucket(stamps, lambda t: (t.year, t.month), monthly)
    return kept


def to_delete(timestamps: Iterable[datetime], daily: int = DAILY, monthly: int = MONTHLY) -> set[datetime]:
    """The timestamps whose backups the policy deletes (timezone-aware datetimes, compared in UTC)."""
    stamps = {t.astimezone(UTC) for t in timestamps}
    return stamps - to_keep(stamps, daily, monthly)
