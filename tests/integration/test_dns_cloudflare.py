"""The Cloudflare provider against the fake Cloudflare API (documented request/response shapes)."""

from __future__ import annotations

import pytest

from dnsrecords.errors import CloudflareAuthError, CloudflareError, CloudflareRateLimitedError, ZoneNotFoundError
from dnsrecords.providers.cloudflare import CloudflareProvider, CloudflareSettings
from dnsrecords.records import Record
from dnsrecords.recordset import MailDomainInputs, build_record_set
from tests.fakes.clock import FakeClock
from tests.fakes.cloudflare import FakeCloudflare
from tests.fixtures.dns import DkimKey
from toolkit.errors import TransientError
from toolkit.redact import Secret


def _set(key: DkimKey, ip: str = "192.0.2.10") -> list[Record]:
    return build_record_set(MailDomainInputs("example.test", ip, "pm20261124", key.public_b64))


def _rows(fake: FakeCloudflare) -> list[dict[str, object]]:
    return list(fake.rows[fake.zone_id("example.test")].values())


def test_create_the_full_set_in_documented_shapes(cloudflare: CloudflareProvider, fake_cloudflare: FakeCloudflare,
                                                 dkim_key: DkimKey) -> None:
    records = _set(dkim_key)
    assert cloudflare.apply(records).counts() == {"create": len(records)}
    rows = {(r["name"], r["type"]): r for r in _rows(fake_cloudflare)}
    assert rows[("example.test", "MX")]["content"] == "mail.example.test"
    assert rows[("example.test", "MX")]["priority"] == 10
    assert rows[("_imaps._tcp.example.test", "SRV")]["data"] == {
        "priority": 0, "weight": 1, "port": 993, "target": "mail.example.test"}
    dkim = str(rows[("pm20261124._domainkey.example.test", "TXT")]["content"])
    assert dkim.startswith('"v=DKIM1; k=rsa; p=') and dkim.count('" "') == 1
    assert rows[("mail.example.test", "A")]["proxied"] is False
    for record in records:
        assert cloudflare.get(record.name, record.type) == record


def test_rerun_adopts_without_writes(cloudflare: CloudflareProvider, fake_cloudflare: FakeCloudflare,
                                     dkim_key: DkimKey) -> None:
    cloudflare.apply(_set(dkim_key))
    before = len(fake_cloudflare.writes())
    assert not cloudflare.apply(_set(dkim_key)).changed
    assert len(fake_cloudflare.writes()) == before


def test_ip_change_updates_rows_in_place_with_put(cloudflare: CloudflareProvider, fake_cloudflare: FakeCloudflare,
                                                  dkim_key: DkimKey) -> None:
    cloudflare.apply(_set(dkim_key))
    ids = {(r["name"], r["type"]): r["id"] for r in _rows(fake_cloudflare)}
    before = len(fake_cloudflare.writes())
    report = cloudflare.apply(_set(dkim_key, ip="192.0.2.99"))
    assert len(report.of("update")) == 3
    new_writes = fake_cloudflare.writes()[before:]
    assert [m for m, _ in new_writes] == ["PUT", "PUT", "PUT"]
    assert {(r["name"], r["type"]): r["id"] for r in _rows(fake_cloudflare)} == ids
    assert cloudflare.get("example.test", "TXT") == Record.txt("example.test", "v=spf1 ip4:192.0.2.99 ~all")


def test_ttl_only_change_is_a_patch(cloudflare: CloudflareProvider, fake_cloudflare: FakeCloudflare) -> None:
    cloudflare.upsert(Record("mail.example.test", "A", 3600, ("192.0.2.1",)))
    cloudflare.upsert(Record("mail.example.test", "A", 300, ("192.0.2.1",)))
    assert fake_cloudflare.writes()[-1][0] == "PATCH"
    assert cloudflare.get("mail.example.test", "A") == Record("mail.example.test", "A", 300, ("192.0.2.1",))


def test_multi_value_rrsets_grow_and_shrink(cloudflare: CloudflareProvider, fake_cloudflare: FakeCloudflare) -> None:
    cloudflare.upsert(Record("mail.example.test", "A", 300, ("192.0.2.1", "192.0.2.2")))
    cloudflare.upsert(Record("mail.example.test", "A", 300, ("192.0.2.2", "192.0.2.3", "192.0.2.4")))
    assert cloudflare.get("mail.example.test", "A").values == (  # type: ignore[union-attr]
        "192.0.2.2", "192.0.2.3", "192.0.2.4")
    cloudflare.upsert(Record("mail.example.test", "A", 300, ("192.0.2.9",)))
    assert len([r for r in _rows(fake_cloudflare) if r["name"] == "mail.example.test"]) == 1


def test_listing_follows_pagination(cloudflare: CloudflareProvider, fake_cloudflare: FakeCloudflare) -> None:
    values = tuple(f"192.0.2.{n}" for n in range(1, 13))  # 12 rows, 5 per page -> 3 pages
    cloudflare.upsert(Record("many.example.test", "A", 300, values))
    assert cloudflare.get("many.example.test", "A").values == tuple(sorted(values))  # type: ignore[union-attr]
    path = f"/client/v4/zones/{fake_cloudflare.zone_id('example.test')}/dns_records"
    assert fake_cloudflare.requests.count(("GET", path)) >= 3


def test_delete(cloudflare: CloudflareProvider, dkim_key: DkimKey) -> None:
    records = _set(dkim_key)
    cloudflare.apply(records)
    report = cloudflare.apply(records[:-2], managed_previous=records)
    assert len(report.of("delete")) == 2
    assert cloudflare.get(records[-1].name, records[-1].type) is None


def test_unquoted_txt_rows_made_elsewhere_are_read(cloudflare: CloudflareProvider,
                                                   fake_cloudflare: FakeCloudflare) -> None:
    fake_cloudflare.add_row("example.test", {"type": "TXT", "name": "_dmarc.example.test",
                                             "content": "v=DMARC1; p=none", "ttl": 3600})
    assert cloudflare.upsert(Record.txt("_dmarc.example.test", "v=DMARC1; p=none")).action == "unchanged"


def test_wrong_token_is_an_auth_error_that_hides_the_token(fake_cloudflare: FakeCloudflare) -> None:
    token = "cf-wrong-" + "x" * 30
    settings = CloudflareSettings(zone="example.test", token=Secret(token), api_url=fake_cloudflare.url)
    provider = CloudflareProvider(settings)
    with pytest.raises(CloudflareAuthError, match="10000: Authentication error") as caught:
        provider.get("mail.example.test", "A")
    assert token not in str(caught.value) and fake_cloudflare.token not in str(caught.value)
    assert caught.value.status == 403


def test_unknown_zone(fake_cloudflare: FakeCloudflare) -> None:
    provider = CloudflareProvider(CloudflareSettings(zone="nope.test", token=Secret(fake_cloudflare.token),
                                                     api_url=fake_cloudflare.url))
    with pytest.raises(ZoneNotFoundError, match=r"no zone 'nope\.test'"):
        provider.get("mail.nope.test", "A")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def retrying(fake_cloudflare: FakeCloudflare, clock: FakeClock) -> CloudflareProvider:
    """The provider with its retry pauses on a fake clock (nothing sleeps); zone id already looked up."""
    settings = CloudflareSettings(zone="example.test", token=Secret(fake_cloudflare.token), api_url=fake_cloudflare.url)
    provider = CloudflareProvider(settings, clock=clock, sleep=clock.sleep)
    provider.zone_id()
    return provider


def test_error_envelope_is_mapped_to_typed_errors_and_refusals_are_not_retried(
        retrying: CloudflareProvider, fake_cloudflare: FakeCloudflare, clock: FakeClock) -> None:
    fake_cloudflare.fail_next(400, 9005, "Content for record is invalid")
    before = len(fake_cloudflare.requests)
    with pytest.raises(CloudflareError, match="9005: Content for record is invalid") as caught:
        retrying.upsert(Record("x.example.test", "A", 300, ("192.0.2.1",)))
    assert caught.value.errors == [(9005, "Content for record is invalid")]
    assert len(fake_cloudflare.requests) == before + 1 and clock.sleeps == []


def test_rate_limits_and_server_errors_are_retried_with_growing_pauses(
        retrying: CloudflareProvider, fake_cloudflare: FakeCloudflare, clock: FakeClock) -> None:
    fake_cloudflare.fail_next(429, 971, "Please wait and consider throttling your request speed")
    fake_cloudflare.fail_next(502, 0, "bad gateway")
    assert retrying.upsert(Record("x.example.test", "A", 300, ("192.0.2.1",))).action == "create"
    assert clock.sleeps == [1.0, 2.0]
    assert retrying.get("x.example.test", "A") == Record("x.example.test", "A", 300, ("192.0.2.1",))


def test_retries_are_bounded_then_the_typed_error(retrying: CloudflareProvider, fake_cloudflare: FakeCloudflare,
                                                 clock: FakeClock) -> None:
    for _ in range(4):
        fake_cloudflare.fail_next(429, 971, "Please wait and consider throttling your request speed")
    with pytest.raises(CloudflareRateLimitedError):
        retrying.get("x.example.test", "A")
    assert clock.sleeps == [1.0, 2.0, 4.0]
    for _ in range(4):
        fake_cloudflare.fail_next(503, 0, "unavailable")
    with pytest.raises(TransientError, match="HTTP 503"):
        retrying.get("x.example.test", "A")
    assert len(clock.sleeps) == 6


def test_no_answer_is_retried_and_then_named(fake_cloudflare: FakeCloudflare, clock: FakeClock) -> None:
    dead = CloudflareSettings(zone="example.test", token=Secret(fake_cloudflare.token), api_url="http://127.0.0.1:9/client/v4",
                              zone_id="z", timeout=1.0)
    with pytest.raises(TransientError, match=r"did not answer \(list A x\.example\.test\): ConnectionError"):
        CloudflareProvider(dead, clock=clock, sleep=clock.sleep).get("x.example.test", "A")
    assert clock.sleeps == [1.0, 2.0, 4.0]


def test_a_lost_reply_is_not_done_twice(retrying: CloudflareProvider, fake_cloudflare: FakeCloudflare) -> None:
    record = Record("x.example.test", "A", 300, ("192.0.2.1",))
    fake_cloudflare.lose_next_reply()  # the POST creates the row, the reply is lost: the retry finds it made
    assert retrying.upsert(record).action == "create"
    assert len([r for r in _rows(fake_cloudflare) if r["name"] == "x.example.test"]) == 1
    fake_cloudflare.lose_next_reply()  # the DELETE removes the row, the reply is lost: the retry finds it gone
    assert retrying.delete(record).action == "delete"
    assert retrying.get("x.example.test", "A") is None


def test_zone_id_can_be_given(fake_cloudflare: FakeCloudflare) -> None:
    settings = CloudflareSettings(zone="example.test", token=Secret(fake_cloudflare.token), api_url=fake_cloudflare.url,
                                  zone_id=fake_cloudflare.zone_id("example.test"))
    CloudflareProvider(settings).upsert(Record("mail.example.test", "A", 300, ("192.0.2.1",)))
    assert not any(path.endswith("/zones") for _, path in fake_cloudflare.requests)
    assert settings.replaced(zone_id=None).zone_id is None
