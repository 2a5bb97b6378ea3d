"""The one wait helper (toolkit.wait): deadline, interval and backoff, attempts, tolerated errors, the error that
says what was awaited. A fake clock whose sleep advances it: nothing really sleeps."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.fakes.clock import FakeClock
from toolkit.errors import ToolkitError, TransientError
from toolkit.wait import WaitTimeout, wait_for


def _counter(values: list[object]) -> tuple[list[int], Callable[[], Any]]:
    calls = [0]

    def poll() -> object:
        calls[0] += 1
        value = values.pop(0)
        if isinstance(value, BaseException):
            raise value
        return value

    return calls, poll


def test_returns_the_first_value_that_is_done_without_sleeping_after_it() -> None:
    clock = FakeClock()
    calls, poll = _counter([0, 0, 3])
    assert wait_for(poll, lambda v: v == 3, what="three", timeout=10, interval=1, clock=clock,
                    sleep=clock.sleep) == 3
    assert calls == [3] and clock.sleeps == [1, 1]


def test_timeout_names_what_was_awaited_and_polls_once_more_at_the_deadline() -> None:
    clock = FakeClock()
    with pytest.raises(WaitTimeout, match=r"timed out after 30 s \(7 polls\) waiting for instance 7") as caught:
        wait_for(lambda: "BUILDING", lambda s: s == "ACTIVE", what="instance 7", timeout=30, interval=5,
                 clock=clock, sleep=clock.sleep)
    assert clock.sleeps == [5] * 6 and caught.value.last == "BUILDING" and caught.value.polls == 7
    assert isinstance(caught.value, ToolkitError)


def test_the_last_sleep_stops_at_the_deadline() -> None:
    clock = FakeClock()
    with pytest.raises(WaitTimeout):
        wait_for(lambda: False, what="x", timeout=2.5, interval=1, clock=clock, sleep=clock.sleep)
    assert clock.sleeps == [1, 1, 0.5] and clock.now == 102.5


def test_backoff_grows_the_interval_up_to_its_cap() -> None:
    clock = FakeClock()
    with pytest.raises(WaitTimeout):
        wait_for(lambda: False, what="x", timeout=100, interval=1, backoff=2, max_interval=5, attempts=6,
                 clock=clock, sleep=clock.sleep)
    assert clock.sleeps == [1, 2, 4, 5, 5]


def test_attempts_bound_the_polls() -> None:
    clock = FakeClock()
    with pytest.raises(WaitTimeout, match=r"\(3 polls\)"):
        wait_for(lambda: None, what="x", timeout=1000, interval=1, attempts=3, clock=clock, sleep=clock.sleep)
    assert len(clock.sleeps) == 2


def test_tolerated_errors_are_retried_and_reported_other_errors_propagate() -> None:
    clock = FakeClock()
    calls, poll = _counter([TransientError("HTTP 502"), TransientError("HTTP 503")] * 3)
    with pytest.raises(WaitTimeout, match="last error: HTTP 503") as caught:
        wait_for(poll, what="x", timeout=5, interval=1, tolerate=(TransientError,), clock=clock, sleep=clock.sleep)
    assert caught.value.last is None and calls == [6]
    calls, poll = _counter([TransientError("HTTP 502"), KeyError("boom")])
    with pytest.raises(KeyError):
        wait_for(poll, what="x", timeout=5, interval=1, tolerate=(TransientError,), clock=clock, sleep=clock.sleep)
    assert calls == [2]
    calls, poll = _counter([TransientError("HTTP 502"), "ok"])
    assert wait_for(poll, what="x", timeout=5, tolerate=(TransientError,), clock=clock, sleep=clock.sleep) == "ok"


def test_fail_turns_the_timeout_into_the_callers_error_with_the_last_value() -> None:
    class HealthError(ToolkitError):
        pass

    clock = FakeClock()
    with pytest.raises(HealthError, match="still starting: front, admin"):
        wait_for(lambda: ["front", "admin"], lambda pending: not pending, what="services", timeout=3, interval=1,
                 fail=lambda t: HealthError(f"still starting: {', '.join(t.last)}"),  # type: ignore[arg-type]
                 clock=clock, sleep=clock.sleep)


def test_a_zero_timeout_polls_once() -> None:
    clock = FakeClock()
    _, poll = _counter([False])
    with pytest.raises(WaitTimeout, match=r"\(1 polls\)"):
        wait_for(poll, what="x", timeout=0, clock=clock, sleep=clock.sleep)
    assert clock.sleeps == []


@pytest.mark.parametrize("bad", [{"timeout": -1}, {"interval": -1}, {"backoff": 0.5}, {"attempts": 0}])
def test_nonsense_settings_are_refused(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="wait_for"):
        wait_for(lambda: True, what="x", **{"timeout": 1, **bad})  # type: ignore[arg-type]
