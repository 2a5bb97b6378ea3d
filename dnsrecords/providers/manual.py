"""The ``manual`` provider: publishes nothing itself; prints what to publish and an RFC 1035 zone fragment.

For zones whose DNS host has no API we can use. ``get`` answers from what this provider has handed out so far
(or from ``known`` records given at construction, e.g. read back by the verifier), so ``apply`` still reports
create/update/unchanged sensibly and a re-run with equal records prints nothing new.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TextIO

from dnsrecords import zonefile
from dnsrecords.providers.base import Change, DnsProvider
from dnsrecords.records import Record


class ManualProvider(DnsProvider):
    name = "manual"

    def __init__(self, zone: str, out: TextIO | None = None, known: Sequence[Record] = ()) -> None:
        super().__init__(zone)
        self.out = out or sys.stdout
        self.published: dict[tuple[str, str], Record] = {r.key: r for r in known}

    def get(self, name: str, rtype: str) -> Record | None:
        return self.published.get((name, rtype))

    def _replace(self, record: Record, previous: Record | None) -> None:
        self.published[record.key] = record

    def _remove(self, previous: Record) -> None:
        self.published.pop(previous.key, None)

    def commit(self, changes: Sequence[Change]) -> None:
        if not changes:
            return
        print(f"; Publish these changes in zone {self.zone} at your DNS host:", file=self.out)
        for change in changes:
            print(f";   {change.describe()}", file=self.out)
        super().commit(changes)
        wanted = [c.desired for c in changes if c.desired is not None]
        if wanted:
            print(zonefile.render(wanted, self.zone), file=self.out, end="")
        for change in changes:
            if change.action == "delete":
                print(f"; delete every {change.type} record at {change.name}", file=self.out)

    def render_zone(self) -> str:
        """The whole record set handed out so far, as a zone file fragment."""
        return zonefile.render(list(self.published.values()), self.zone)
