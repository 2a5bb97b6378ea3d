"""Fault injection: a queue of faults, each applying to the next N matching calls.

Kinds:
- ``http_error``: reply ``status`` (default 500) with an HTML body, do nothing.
- ``slow``: sleep ``delay`` seconds, then handle the call normally (a client timeout does not undo it).
- ``auth_failure``: reply the Authorization error body whatever the key.
- ``lost_reply``: perform the call, then reply HTTP 500 (or close the connection if ``drop``).
- ``noop_success``: reply success but change nothing.
- ``rate_limit``: reply the rate-limit answer (per ``SimSettings.rate_limit_reply``).
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass
from typing import Any

from toolkit.errors import ConfigError

KINDS = ("http_error", "slow", "auth_failure", "lost_reply", "noop_success", "rate_limit")


@dataclass
class Fault:
    kind: str
    times: int | None = 1  # None: until cleared
    action: str | None = None  # None: any action
    status: int = 500
    delay: float = 0.0
    drop: bool = False

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ConfigError("fault.kind", f"{self.kind!r} is not one of {', '.join(KINDS)}")
        if self.times is not None and self.times < 1:
            raise ConfigError("fault.times", f"must be at least 1 (or null for 'until cleared'), got {self.times}")

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Fault:
        known = {"kind", "times", "action", "status", "delay", "drop"}
        unknown = set(data) - known
        if unknown:
            raise ConfigError("fault", f"unknown fields {sorted(unknown)}; known: {sorted(known)}")
        return cls(**data)


class FaultPlan:
    """Thread-safe list of pending faults."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def inject(self, kind: str, **options: Any) -> Fault:
        fault = Fault(kind=kind, **options)
        self.add(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def pending(self) -> list[dict[str, Any]]:
        with self._lock:
            return [asdict(f) for f in self._faults]

    def take(self, action: str) -> Fault | None:
        """The first fault matching ``action``, counting one use of it."""
        with self._lock:
            for fault in self._faults:
                if fault.action is None or fault.action == action:
                    if fault.times is not None:
                        fault.times -= 1
                        if fault.times == 0:
                            self._faults.remove(fault)
                    return fault
        return None
