"""The one injectable clock: rotation ages, grace windows, backup freshness and status thresholds are computed from
``Clock.now()``, never from sleeps.

``SystemClock`` is the real UTC time (``SYSTEM_CLOCK``: the default of every function that takes a clock);
``FrozenClock`` is set and moved by hand (tests, "what would be due on <date>" dry runs). Instants are
timezone-aware UTC; Vault and stack files store them as ``YYYY-MM-DDTHH:MM:SSZ``.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from typing import Protocol

from toolkit.errors import ValidationError


class Clock(Protocol):
    def now(self) -> dt.datetime:
        """The current instant, timezone-aware UTC."""
        ...


class SystemClock:
    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC).replace(microsecond=0)


SYSTEM_CLOCK: Clock = SystemClock()


class FrozenClock:
    """A clock that only moves when told to (thread-safe)."""

    def __init__(self, start: dt.datetime | str) -> None:
        self._now = parse_instant(start) if isinstance(start, str) else _utc(start)
        self._lock = threading.Lock()

    def now(self) -> dt.datetime:
        with self._lock:
            return self._now

    def advance(self, delta: dt.timedelta | None = None, *, hours: float = 0, days: float = 0) -> dt.datetime:
        with self._lock:
            self._now += (delta or dt.timedelta()) + dt.timedelta(hours=hours, days=days)
            return self._now

    def set(self, instant: dt.datetime | str) -> None:
        with self._lock:
            self._now = parse_instant(instant) if isinstance(instant, str) else _utc(instant)


def _utc(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None:
        raise ValidationError("instant", f"{value.isoformat()} has no time zone (use UTC)")
    return value.astimezone(dt.UTC)


def parse_instant(text: str, field: str = "instant") -> dt.datetime:
    """``2026-11-25T10:00:00Z`` (or any ISO 8601 with an offset; a bare date means 00:00 UTC) -> aware UTC."""
    raw = str(text).strip()
    try:
        value = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise ValidationError(field, f"{raw!r} is not an ISO 8601 instant like 2026-11-25T10:00:00Z") from None
    if value.tzinfo is None:
        if len(raw) == 10:  # a date
            return value.replace(tzinfo=dt.UTC)
        raise ValidationError(field, f"{raw!r} has no time zone (append Z for UTC)")
    return value.astimezone(dt.UTC)


def iso(instant: dt.datetime) -> str:
    return _utc(instant).replace(microsecond=0).isoformat().replace("+00:00", "Z")


class Laps:
    """Seconds spent per step, for reports: ``lap(label)`` records the time since the previous lap (or the start)."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic
        self._mark = monotonic()
        self.timings: dict[str, float] = {}

    def lap(self, label: str) -> None:
        now = self._monotonic()
        self.timings[label] = now - self._mark
        self._mark = now


def clock_from(now: str = "") -> Clock:
    """The system clock, or a frozen one at ``now`` (the tasks' ``--now`` option)."""
    return FrozenClock(now) if now else SystemClock()
