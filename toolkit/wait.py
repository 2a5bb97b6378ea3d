"""Wait for something by polling: the one loop every "poll until ready, or give up" in the toolkit uses.

``wait_for(poll, done, what=..., timeout=...)`` calls ``poll`` until ``done(value)`` holds, sleeping ``interval``
seconds between polls (growing by ``backoff`` up to ``max_interval``, never past the deadline), and gives up when
the deadline has passed or ``attempts`` polls were made. Exceptions listed in ``tolerate`` count as "not yet";
any other propagates at once. Giving up raises ``WaitTimeout`` (what was awaited, for how long, how many polls,
the last error tolerated), or whatever ``fail`` makes of it, so each package keeps its own error types; ``fail``
sees the last value polled (e.g. to name the services still unhealthy).

Clock and sleep are injectable: tests pass a fake clock whose sleep advances it, so nothing really sleeps.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

from toolkit.errors import ToolkitError

T = TypeVar("T")
Clock = Callable[[], float]
Sleep = Callable[[float], None]

log = logging.getLogger(__name__)

_NOTHING: Any = object()


class WaitTimeout(ToolkitError):
    """What was awaited did not happen in time. ``last`` is the last value polled (None if no poll answered)."""

    def __init__(self, what: str, timeout: float, polls: int, last: object = None,
                 last_error: BaseException | None = None) -> None:
        self.what = what
        self.timeout = timeout
        self.polls = polls
        self.last: Any = last
        self.last_error = last_error
        suffix = f"; last error: {last_error}" if last_error is not None else ""
        super().__init__(f"timed out after {timeout:g} s ({polls} polls) waiting for {what}{suffix}")


def _truthy(value: object) -> bool:
    return bool(value)


def wait_for(
    poll: Callable[[], T],
    done: Callable[[T], bool] = _truthy,
    *,
    what: str,
    timeout: float,
    interval: float = 0.25,
    backoff: float = 1.0,
    max_interval: float | None = None,
    attempts: int | None = None,
    tolerate: tuple[type[BaseException], ...] = (),
    fail: Callable[[WaitTimeout], BaseException] | None = None,
    clock: Clock = time.monotonic,
    sleep: Sleep = time.sleep,
) -> T:
    """Poll until ``done(poll())``; return that value. ``poll`` runs at least once, and once more at the deadline.

    ``timeout`` and ``interval`` are seconds; ``backoff`` multiplies the interval after each poll (1.0: fixed),
    capped at ``max_interval``; ``attempts`` bounds the number of polls as well as the time."""
    if timeout < 0 or interval < 0 or backoff < 1.0 or (attempts is not None and attempts < 1):
        raise ValueError(f"wait_for({what!r}): timeout/interval >= 0, backoff >= 1, attempts >= 1")
    deadline = clock() + timeout
    delay = interval
    polls = 0
    last: Any = _NOTHING
    last_error: BaseException | None = None
    while True:
        polls += 1
        try:
            value = poll()
        except tolerate as exc:
            last_error = exc
            log.debug("waiting for %s: poll %d failed: %s", what, polls, exc)
        else:
            if done(value):
                return value
            last = value
        remaining = deadline - clock()
        if remaining <= 0 or (attempts is not None and polls >= attempts):
            timed_out = WaitTimeout(what, timeout, polls, None if last is _NOTHING else last, last_error)
            raise (fail(timed_out) if fail is not None else timed_out)
        sleep(min(delay, remaining))
        delay = delay * backoff if max_interval is None else min(delay * backoff, max_interval)
