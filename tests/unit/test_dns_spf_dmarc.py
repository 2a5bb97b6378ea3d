"""SPF syntax and lookup counting (over 10 refused), DMARC syntax and the staging schedule."""

from __future__ import annotations

import pytest

from dnsrecords.dmarc import parse_dmarc, stage_for_age
from dnsrecords.errors import SpfLookupLimitError
from dnsrecords.spf import build_spf, check_lookup_limit, count_lookups, parse_spf
from toolkit.errors import ValidationError


def test_build_spf() -> None:
    assert build_spf("192.0.2.10") == "v=spf1 ip4:192.0.2.10 ~all"
    assert build_spf("192.0.2.10", ["a.example"], "-") == "v=spf1 ip4:192.0.2.10 include:a.example -all"


@pytest.mark.parametrize("text, lookups", [
    ("v=spf1 ip4:192.0.2.1 ip6:2001:db8::/32 -all", 0),
    ("v=spf1 a mx ptr -all", 3),
    ("v=spf1 a:x.example/24 mx:y.example exists:%{i}.z.example include:w.example -all", 4),
    ("v=spf1 ip4:192.0.2.1 redirect=_spf.example", 1),
    ("v=spf1 include:a.example exp=explain.example ~all", 1),
])
def test_lookup_count(text: str, lookups: int) -> None:
    assert count_lookups(text) == lookups


def test_ten_lookups_pass_eleven_are_refused() -> None:
    ten = [f"i{n}.example" for n in range(9)]
    assert check_lookup_limit(build_spf("192.0.2.1", ten).replace("~all", "a ~all")) == 10
    with pytest.raises(SpfLookupLimitError, match="needs 11 DNS lookups; SPF allows at most 10"):
        build_spf("192.0.2.1", [f"i{n}.example" for n in range(11)])


def test_nested_includes_are_counted_when_a_resolver_is_given() -> None:
    zone = {
        "a.example": ["v=spf1 include:b.example include:c.example -all"],
        "b.example": ["v=spf1 a mx ptr exists:x.example -all"],
        "c.example": ["v=spf1 include:d.example include:e.example a -all", "unrelated"],
        "d.example": ["v=spf1 ip4:192.0.2.0/24 -all"],
        "e.example": ["v=spf1 a -all"],
    }
    text = "v=spf1 include:a.example ~all"
    assert count_lookups(text) == 1
    assert count_lookups(text, lambda name: zone.get(name, [])) == 1 + 2 + 4 + 3 + 1
    with pytest.raises(SpfLookupLimitError):
        check_lookup_limit(text, lambda name: zone.get(name, []))


def test_an_include_loop_is_over_the_limit() -> None:
    zone = {"a.example": ["v=spf1 include:b.example -all"], "b.example": ["v=spf1 include:a.example -all"]}
    assert count_lookups("v=spf1 include:a.example -all", lambda n: zone[n]) > 10


@pytest.mark.parametrize("text, message", [
    ("spf1 -all", "must start with 'v=spf1'"),
    ("v=spf1 ip4:300.1.1.1 -all", "not an IP address"),
    ("v=spf1 ip4:2001:db8::1 -all", "not an IPv4"),
    ("v=spf1 include: -all", "needs a domain"),
    ("v=spf1 include:bad..example -all", "empty label"),
    ("v=spf1 -all a", "after 'all'"),
    ("v=spf1 bogus:x -all", "unknown mechanism"),
    ("v=spf1 redirect=a.example redirect=b.example", "given twice"),
    ("v=spf1 ~redirect=a.example", "cannot take a qualifier"),
])
def test_bad_spf(text: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        parse_spf(text)


def test_dmarc_parse() -> None:
    tags = parse_dmarc("v=DMARC1; p=quarantine; pct=10; rua=mailto:a@example.com,mailto:b@example.com!10m")
    assert tags["p"] == "quarantine" and tags["pct"] == "10"


@pytest.mark.parametrize("text, message", [
    ("p=none; v=DMARC1", "must start with 'v=DMARC1'"),
    ("v=DMARC1; rua=mailto:a@example.com; p=none", "must follow"),
    ("v=DMARC1; p=monitor", "must be one of"),
    ("v=DMARC1; p=none; pct=150", "0..100"),
    ("v=DMARC1; p=none; rua=https://example.com", "mailto"),
    ("v=DMARC1; p=none; adkim=x", "r or s"),
    ("v=DMARC1; p=none; p=reject", "given twice"),
])
def test_bad_dmarc(text: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        parse_dmarc(text)


@pytest.mark.parametrize("days, stage", [(0, "none"), (29, "none"), (30, "quarantine"), (89, "quarantine"),
                                         (90, "reject"), (400, "reject")])
def test_staging_schedule(days: int, stage: str) -> None:
    assert stage_for_age(days) == stage
