"""The clock of the day-2 tasks: ``toolkit.clock`` (one clock for fleet/ and vault/; vault/ may not import fleet/)."""

from toolkit.clock import SYSTEM_CLOCK, Clock, FrozenClock, SystemClock, clock_from, iso, parse_instant

__all__ = ["SYSTEM_CLOCK", "Clock", "FrozenClock", "SystemClock", "clock_from", "iso", "parse_instant"]
