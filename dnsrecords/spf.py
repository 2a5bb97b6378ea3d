"""SPF (RFC 7208): build the tenant's record, check its syntax and count the DNS lookups it costs (<= 10).

Terms that cost a lookup: the ``include``, ``a``, ``mx``, ``ptr`` and ``exists`` mechanisms and the ``redirect``
modifier. Offline, each counts once; given a ``resolve_txt`` function, includes and redirects are followed and
their own lookups added, as a receiver would.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from dnsrecords.errors import SpfLookupLimitError
from toolkit import validate
from toolkit.errors import ValidationError

LOOKUP_LIMIT = 10
LOOKUP_TERMS = frozenset({"include", "a", "mx", "ptr", "exists", "redirect"})
_MECHANISMS = frozenset({"all", "include", "a", "mx", "ptr", "ip4", "ip6", "exists"})
_TERM = re.compile(r"^(?P<q>[+?~-]?)(?P<name>[a-z0-9][a-z0-9_.-]*)(?P<sep>[:=/]?)(?P<arg>.*)$", re.IGNORECASE)

TxtResolver = Callable[[str], Sequence[str]]


@dataclass(frozen=True)
class SpfTerm:
    qualifier: str
    name: str
    argument: str
    modifier: bool

    @property
    def costs_lookup(self) -> bool:
        return self.name in LOOKUP_TERMS


def build_spf(ip: str, includes: Sequence[str] = (), all_qualifier: str = "~") -> str:
    """``v=spf1 ip4:<ip> [include:<d> ...] ~all`` (the IP is checked to be IPv4, includes to be domains)."""
    try:
        address = ipaddress.IPv4Address(ip)
    except ValueError:
        raise ValidationError("mail_ip", f"{ip!r} is not an IPv4 address") from None
    if all_qualifier not in ("~", "-", "?"):
        raise ValidationError("spf_all", f"{all_qualifier!r} must be one of ~ - ?")
    terms = ["v=spf1", f"ip4:{address}"]
    terms += [f"include:{validate.domain(d, 'spf_includes', allow_service_labels=True)}" for d in includes]
    terms.append(f"{all_qualifier}all")
    text = " ".join(terms)
    check_lookup_limit(text)
    return text


def parse_spf(text: str, field: str = "spf") -> list[SpfTerm]:
    """The terms of an SPF record; raises ``ValidationError`` on anything a receiver would reject."""
    words = text.split()
    if not words or words[0].lower() != "v=spf1":
        raise ValidationError(field, f"{text[:40]!r} must start with 'v=spf1'")
    terms: list[SpfTerm] = []
    seen_all = False
    for word in words[1:]:
        match = _TERM.fullmatch(word)
        if match is None:
            raise ValidationError(field, f"term {word!r} is not valid SPF")
        name, sep, arg = match["name"].lower(), match["sep"], match["arg"]
        if sep == "=":
            if match["q"]:
                raise ValidationError(field, f"modifier {word!r} cannot take a qualifier")
            if name in ("redirect", "exp"):
                _domain_spec(arg, field, word)
                if any(t.name == name for t in terms):
                    raise ValidationError(field, f"modifier {name!r} given twice")
            terms.append(SpfTerm("", name, arg, True))
            continue
        if name not in _MECHANISMS:
            raise ValidationError(field, f"unknown mechanism {word!r}")
        if seen_all:
            raise ValidationError(field, f"{word!r} comes after 'all' and would never be evaluated")
        _check_mechanism(name, sep, arg, field, word)
        seen_all = seen_all or name == "all"
        terms.append(SpfTerm(match["q"] or "+", name, arg, False))
    return terms


def _check_mechanism(name: str, sep: str, arg: str, field: str, word: str) -> None:
    if name == "all":
        if sep or arg:
            raise ValidationError(field, f"{word!r}: 'all' takes no argument")
    elif name in ("ip4", "ip6"):
        if sep != ":":
            raise ValidationError(field, f"{word!r} needs an address ({name}:<address>[/prefix])")
        try:
            network = ipaddress.ip_network(arg, strict=False)
        except ValueError:
            raise ValidationError(field, f"{word!r}: {arg!r} is not an IP address or network") from None
        if network.version != (4 if name == "ip4" else 6):
            raise ValidationError(field, f"{word!r}: {arg!r} is not an IPv{4 if name == 'ip4' else 6} address")
    elif name in ("include", "exists"):
        if sep != ":" or not arg:
            raise ValidationError(field, f"{word!r} needs a domain ({name}:<domain>)")
        _domain_spec(arg, field, word)
    elif sep == ":":  # a, mx, ptr with a domain and maybe a prefix length
        _domain_spec(arg.split("/", 1)[0], field, word)


def _domain_spec(arg: str, field: str, word: str) -> None:
    if "%" in arg:  # macro-expanded at evaluation time; only the shape can be checked
        if not arg or any(ch.isspace() for ch in arg):
            raise ValidationError(field, f"{word!r}: bad macro domain {arg!r}")
        return
    try:
        validate.domain(arg, field, allow_service_labels=True)  # SPF domains may hold _labels (_spf.example.com)
    except ValidationError as exc:
        raise ValidationError(field, f"{word!r}: {exc.problem}") from None


def count_lookups(text: str, resolve_txt: TxtResolver | None = None, field: str = "spf") -> int:
    """DNS lookups the record costs; follows include/redirect when ``resolve_txt`` is given."""
    return _count(text, resolve_txt, field, depth=0, seen=set())


def _count(text: str, resolve_txt: TxtResolver | None, field: str, depth: int, seen: set[str]) -> int:
    total = 0
    for term in parse_spf(text, field):
        if not term.costs_lookup:
            continue
        total += 1
        if resolve_txt is None or term.name not in ("include", "redirect") or "%" in term.argument:
            continue
        target = term.argument.lower().rstrip(".")
        if target in seen or depth >= LOOKUP_LIMIT:
            return LOOKUP_LIMIT + 1  # a loop: a receiver would hit the limit
        spf = [t for t in resolve_txt(target) if t.lower().startswith("v=spf1")]
        if len(spf) == 1:
            total += _count(spf[0], resolve_txt, f"{field} -> {target}", depth + 1, seen | {target})
        if total > LOOKUP_LIMIT:
            break
    return total


def check_lookup_limit(text: str, resolve_txt: TxtResolver | None = None, field: str = "spf") -> int:
    lookups = count_lookups(text, resolve_txt, field)
    if lookups > LOOKUP_LIMIT:
        raise SpfLookupLimitError(
            field,
            f"needs {lookups} DNS lookups; SPF allows at most {LOOKUP_LIMIT} (RFC 7208 4.6.4): drop includes "
            "or replace them by ip4:/ip6: ranges",
        )
    return lookups
