"""The status report's model: a severity per check (``Cell``), a row of cells per tenant, the fleet's roll-up.

A tenant's severity is the worst of its cells; the fleet's exit code is non-zero when anything is critical. The
columns are not fixed here: a cell is keyed by its column name (``fleet.status.PROBES`` decides which there are).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from toolkit.clock import iso
from toolkit.errors import ToolkitError


class StatusError(ToolkitError):
    """A status probe could not get its data (the cell becomes ``unknown``)."""


class Severity(StrEnum):
    OK = "ok"
    UNKNOWN = "unknown"
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {Severity.OK: 0, Severity.UNKNOWN: 1, Severity.WARNING: 2, Severity.CRITICAL: 3}
EXIT_CODES = {Severity.OK: 0, Severity.WARNING: 1, Severity.CRITICAL: 2, Severity.UNKNOWN: 3}


def worst(severities: Iterable[Severity]) -> Severity:
    return max(severities, key=lambda s: s.rank, default=Severity.OK)


@dataclass(frozen=True)
class Cell:
    """One check of one tenant: a severity, a short text for the table, JSON-able details."""

    severity: Severity
    summary: str
    details: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"severity": self.severity.value, "summary": self.summary, **self.details}


@dataclass(frozen=True)
class TenantStatus:
    tenant: str
    cells: Mapping[str, Cell]

    @property
    def severity(self) -> Severity:
        return worst(c.severity for c in self.cells.values())

    def to_json(self) -> dict[str, Any]:
        return {"tenant": self.tenant, "severity": self.severity.value,
                "checks": {name: cell.to_json() for name, cell in self.cells.items()}}


@dataclass(frozen=True)
class FleetStatus:
    tenants: Sequence[TenantStatus]
    checked_at: datetime

    @property
    def severity(self) -> Severity:
        return worst(t.severity for t in self.tenants)

    def summary(self) -> dict[str, dict[str, int]]:
        """Tenants per overall severity, and checks (cells) per severity."""
        tenants = dict.fromkeys((s.value for s in Severity), 0)
        checks = dict.fromkeys((s.value for s in Severity), 0)
        for status in self.tenants:
            tenants[status.severity.value] += 1
            for cell in status.cells.values():
                checks[cell.severity.value] += 1
        return {"tenants": tenants, "checks": checks}

    @property
    def exit_code(self) -> int:
        """The monitoring-plugin convention, by the worst check: 0 ok, 1 warning, 2 critical, 3 unknown (a check that
        could not say is not an "ok" to a monitor)."""
        return EXIT_CODES[self.severity]

    def to_json(self) -> dict[str, Any]:
        return {"checked_at": iso(self.checked_at), "severity": self.severity.value, "exit_code": self.exit_code,
                "summary": self.summary(), "tenants": [t.to_json() for t in self.tenants]}


def days(delta: timedelta) -> float:
    return round(delta.total_seconds() / 86_400, 2)
