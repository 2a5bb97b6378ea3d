"""What a stack file names (an image name, a location name, a size tier) -> the ids ``add_instance`` takes.

The API wants ids: ``template`` is an image UUID from ``get_public_images``, ``location_id`` and ``rid`` are small
integers from ``get_locations`` and ``get_price_list`` [seen/doc]. A stack file keeps names an operator can read
(``ubuntu-22.04``, ``seattle`` or ``1``, ``small``); ``Catalog`` lists the three offers once and resolves them:

- an id matches itself exactly;
- a name matches when it equals the offer's name with case and punctuation ignored ("ubuntu-22.04" = "Ubuntu
  22.04"), or is the unique start of one ("ubuntu-22.04" -> "Ubuntu 22.04 LTS", "seattle" -> "Seattle, WA");
- a size tier (vCPU and RAM minimums, given by the caller) is the smallest unmanaged plan that has at least that
  many vCPUs and that much RAM. ``get_price_list`` lists managed plans unless asked otherwise (``managed=0``).

Anything else raises ``OfferNotFound`` naming the setting and listing the valid values; more than one match is
refused the same way (a name must not pick a machine by chance). Used by the preflight (before anything exists)
and by the ``Instance`` provider at create, so both resolve the same way.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from hostwinds.errors import HostwindsError
from hostwinds.models import Image, Location, Plan
from toolkit.errors import ValidationError

if TYPE_CHECKING:
    from hostwinds.client import HostwindsClient

T = TypeVar("T")
_SIZE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([kmgt]i?b?)?\s*$", re.I)


class OfferNotFound(HostwindsError, ValidationError):
    """A stack value names no image, location or plan the account offers (or more than one)."""

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        HostwindsError.__init__(self, f"{field}: {problem}")


def normalized(text: str) -> str:
    """Case and punctuation ignored: "Ubuntu 22.04 LTS" -> "ubuntu-22-04-lts"."""
    return re.sub(r"[^a-z0-9]+", "-", text.casefold()).strip("-")


def ram_gb(value: str) -> float | None:
    """RAM in GB from a price-list value: "2 GB", "2048 MB", "2048" [guess: a bare number of 64 or more is MB]."""
    match = _SIZE.match(value or "")
    if not match:
        return None
    number, unit = float(match.group(1)), (match.group(2) or "").lower()[:1]
    if unit == "t":
        return number * 1024
    if unit == "g" or (not unit and number < 64):
        return number
    return number / 1024 if unit in ("m", "") else number / 1024 / 1024


def cpu_count(value: str) -> int | None:
    match = re.match(r"^\s*([0-9]+)", value or "")
    return int(match.group(1)) if match else None


def _pick(offers: Iterable[T], wanted: str, ident: str, name: str, describe: str,
          key: Mapping[T, tuple[str, str]]) -> T:
    """The one offer whose id is ``wanted`` or whose name matches it (see the module docstring)."""
    items = list(offers)
    exact = [o for o in items if key[o][0] == wanted.strip()]
    if exact:
        return exact[0]
    want = normalized(wanted)
    same = [o for o in items if want and normalized(key[o][1]) == want]
    starts = [o for o in items if want and normalized(key[o][1]).startswith(want + "-")]
    found = same or starts
    if len(found) == 1:
        return found[0]
    listed = ", ".join(f"{key[o][1]} ({ident} {key[o][0]})" if key[o][1] else key[o][0] for o in items)
    if found:
        names = ", ".join(repr(key[o][1]) for o in found)
        raise OfferNotFound(name, f"{wanted!r} matches more than one {describe} ({names}): write the full name "
                                  f"or the {ident}")
    article = "an" if describe[0] in "aeiou" else "a"
    raise OfferNotFound(name, f"{wanted!r} is not {article} {describe} this Hostwinds account offers: use one of "
                              f"{listed or '(none listed)'}")


@dataclass(frozen=True)
class Catalog:
    """The account's offer, listed once: public images, locations and unmanaged plans."""

    images: tuple[Image, ...]
    locations: tuple[Location, ...]
    plans: tuple[Plan, ...]

    @classmethod
    def fetch(cls, client: HostwindsClient) -> Catalog:
        return cls(tuple(i for i in client.list_images() if not i.retired), tuple(client.list_locations()),
                   tuple(client.list_plans(managed=False)))

    def image(self, wanted: str, field: str = "image") -> Image:
        return _pick(self.images, wanted, "id", field, "image",
                     {i: (i.id, i.name) for i in self.images})

    def location(self, wanted: str, field: str = "location") -> Location:
        return _pick(self.locations, wanted, "id", field, "location",
                     {loc: (loc.id, loc.name) for loc in self.locations})

    def plan(self, wanted: str, tiers: Mapping[str, tuple[int, float]], field: str = "size") -> Plan:
        """``wanted`` is a tier of ``tiers`` (name -> (vCPUs, GB RAM)), a plan's rid or its name."""
        if wanted in tiers:
            return self.plan_for(wanted, *tiers[wanted], field=field)
        return _pick(self.plans, wanted, "rid", field, "unmanaged plan",
                     {p: (p.rid, p.name) for p in self.plans})

    def plan_for(self, tier: str, cpus: int, ram: float, field: str = "size") -> Plan:
        fits = [(ram_gb(p.ram) or 0.0, cpu_count(p.cpu) or 0, _rid_order(p.rid), p) for p in self.plans
                if (cpu_count(p.cpu) or 0) >= cpus and (ram_gb(p.ram) or 0.0) >= ram]
        if fits:
            return min(fits, key=lambda fit: fit[:3])[3]
        listed = ", ".join(f"{p.rid} ({p.name}: {p.cpu or '?'} vCPU, {p.ram or '?'} RAM)" for p in self.plans)
        raise OfferNotFound(field, f"no unmanaged plan has the {cpus} vCPU / {ram:g} GB RAM of size {tier!r} "
                                   f"(get_price_list): set hostwinds.plan_id to one of {listed or '(none listed)'}")


def _rid_order(rid: str) -> tuple[int, str]:
    return (int(rid), rid) if rid.isdigit() else (1 << 62, rid)
