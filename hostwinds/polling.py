"""Wait for an asynchronous change by polling (``toolkit.wait``), with an interval and a timeout from PollSettings."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from hostwinds.errors import CircuitOpenError, HostwindsTransientError, WaitTimeoutError
from hostwinds.settings import PollSettings
from toolkit.wait import wait_for as poll_until

T = TypeVar("T")


def wait_for(
    fetch: Callable[[], T],
    done: Callable[[T], bool],
    what: str,
    settings: PollSettings,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Call ``fetch`` until ``done(result)``; transient errors while polling are tolerated until the timeout."""
    return poll_until(fetch, done, what=what, timeout=settings.timeout, interval=settings.interval,
                      tolerate=(HostwindsTransientError, CircuitOpenError),
                      fail=lambda timed_out: WaitTimeoutError(str(timed_out)), clock=clock, sleep=sleep)
