"""Wait for an asynchronous change by polling, with an interval and a timeout from PollSettings."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from hostwinds.errors import CircuitOpenError, HostwindsTransientError, WaitTimeoutError
from hostwinds.settings import PollSettings

T = TypeVar("T")
log = logging.getLogger("hostwinds.polling")


def wait_for(
    fetch: Callable[[], T],
    done: Callable[[T], bool],
    what: str,
    settings: PollSettings,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Call ``fetch`` until ``done(result)``; transient errors while polling are tolerated until the timeout."""
    deadline = clock() + settings.timeout
    polls = 0
    last_error: Exception | None = None
    while True:
        polls += 1
        try:
            value = fetch()
        except (HostwindsTransientError, CircuitOpenError) as exc:
            last_error = exc
            log.debug("waiting for %s: poll %d failed transiently: %s", what, polls, exc)
        else:
            if done(value):
                return value
        if clock() >= deadline:
            suffix = f"; last error: {last_error}" if last_error else ""
            raise WaitTimeoutError(f"timed out after {settings.timeout:g} s ({polls} polls) waiting for {what}{suffix}")
        sleep(settings.interval)
