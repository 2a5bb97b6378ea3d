"""A monotonic clock for ``toolkit.wait`` and the clients that take ``clock``/``sleep``: its sleep only moves it, so
waits, retries and backoffs run at once and their pauses can be asserted."""

from __future__ import annotations


class FakeClock:
    def __init__(self, now: float = 100.0) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
