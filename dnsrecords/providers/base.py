"""The one interface every DNS provider implements, and the plan/apply logic they share.

A provider answers ``get(name, type)`` and knows how to replace and remove one RRset. On top of that:
- ``upsert(record)``: adopt the RRset if it already holds exactly this data (no change), replace it in place
  if it differs, create it if absent;
- ``delete(record)``: remove the RRset (no change if it is already gone);
- ``apply(desired, managed_previous)``: plan everything first (validation, zone membership, current state),
  then commit: upserts for ``desired``, deletes for RRsets in ``managed_previous`` no longer desired.

Planning reads only; a validation failure raises before any write, so a set is never half-applied for a bad
input. ``commit`` may be overridden to send a whole plan at once (RFC 2136 does, atomically).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar, Literal

from dnsrecords.names import in_zone
from dnsrecords.records import Record, index
from toolkit.errors import ValidationError

Action = Literal["create", "update", "delete", "unchanged"]


@dataclass(frozen=True)
class Change:
    action: Action
    name: str
    type: str
    desired: Record | None = None
    previous: Record | None = None

    def describe(self) -> str:
        if self.action == "update" and self.previous and self.desired:
            return f"update {self.name} {self.type}: {self.previous.describe()} -> {self.desired.describe()}"
        shown = self.desired or self.previous
        return f"{self.action} {shown.describe() if shown else f'{self.name} {self.type}'}"


@dataclass
class ChangeReport:
    changes: list[Change] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return any(c.action != "unchanged" for c in self.changes)

    def counts(self) -> dict[str, int]:
        return dict(Counter(c.action for c in self.changes))

    def of(self, action: Action) -> list[Change]:
        return [c for c in self.changes if c.action == action]

    def summary(self) -> str:
        counts = self.counts()
        return ", ".join(f"{counts.get(a, 0)} {a}" for a in ("create", "update", "delete", "unchanged"))


class DnsProvider(ABC):
    """A DNS zone that can be read and written, one RRset at a time."""

    name: ClassVar[str] = "base"

    def __init__(self, zone: str) -> None:
        from toolkit import validate

        self.zone = validate.domain(zone, "zone")

    # -- what a provider implements -----------------------------------------------------------------------
    @abstractmethod
    def get(self, name: str, rtype: str) -> Record | None:
        """The RRset currently published at (name, type), or None."""

    @abstractmethod
    def _replace(self, record: Record, previous: Record | None) -> None:
        """Make the RRset hold exactly ``record``'s data (``previous`` is what ``get`` returned)."""

    @abstractmethod
    def _remove(self, previous: Record) -> None:
        """Remove the whole RRset."""

    # -- shared logic ---------------------------------------------------------------------------------------
    def check_in_zone(self, record: Record) -> None:
        if not in_zone(record.name, self.zone):
            raise ValidationError(f"{record.type} {record.name}", f"is not inside the zone {self.zone!r}")

    def plan(self, desired: Sequence[Record], managed_previous: Sequence[Record] = ()) -> list[Change]:
        """What ``apply`` would do. Validates every record before reading anything."""
        wanted = index(desired)
        for record in [*desired, *managed_previous]:
            if not isinstance(record, Record):
                raise ValidationError("records", f"{record!r} is not a dnsrecords.Record")
            self.check_in_zone(record)
        changes = [self._plan_one(record) for record in wanted.values()]
        for old in managed_previous:
            if old.key not in wanted:
                current = self.get(old.name, old.type)
                changes.append(Change("delete" if current else "unchanged", old.name, old.type, None, current))
        return changes

    def _plan_one(self, record: Record) -> Change:
        current = self.get(record.name, record.type)
        if current is None:
            return Change("create", record.name, record.type, record)
        if record.same_data(current):
            return Change("unchanged", record.name, record.type, record, current)
        return Change("update", record.name, record.type, record, current)

    def commit(self, changes: Sequence[Change]) -> None:
        """Carry out a plan (one call per changed RRset by default)."""
        for change in changes:
            if change.action in ("create", "update") and change.desired is not None:
                self._replace(change.desired, change.previous)
            elif change.action == "delete" and change.previous is not None:
                self._remove(change.previous)

    def apply(self, desired: Sequence[Record], managed_previous: Sequence[Record] = ()) -> ChangeReport:
        changes = self.plan(desired, managed_previous)
        self.commit([c for c in changes if c.action != "unchanged"])
        return ChangeReport(changes)

    def upsert(self, record: Record) -> Change:
        return self.apply([record]).changes[0]

    def delete(self, record: Record) -> Change:
        self.check_in_zone(record)
        current = self.get(record.name, record.type)
        if current is None:
            return Change("unchanged", record.name, record.type)
        change = Change("delete", record.name, record.type, None, current)
        self.commit([change])
        return change
