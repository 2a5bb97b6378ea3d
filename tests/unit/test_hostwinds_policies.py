"""Rate limiter, circuit breaker and backoff policy, with a fake clock and a fake transport."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from hostwinds import ClientSettings, HostwindsClient, PollSettings, RetryPolicy
from hostwinds.breaker import BreakerState, CircuitBreaker
from hostwinds.endpoint import DEFAULT_URL
from hostwinds.errors import (
    AuthError,
    CircuitOpenError,
    HostwindsTransientError,
    HostwindsValidationError,
    WaitTimeoutError,
)
from hostwinds.ratelimit import RateLimiter
from hostwinds.transport import RawReply
from toolkit.errors import ConfigError
from toolkit.redact import Secret

KEY = "unit-api-key-0123456789abcdef"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class FakeTransport:
    """Replies from a script: each item is a body (JSON-encoded) or an exception to raise."""

    def __init__(self, *script: Any) -> None:
        self.script = list(script)
        self.calls: list[list[tuple[str, str]]] = []

    def post(self, fields: list[tuple[str, str]], action: str) -> RawReply:
        self.calls.append(fields)
        item = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        if isinstance(item, Exception):
            raise item
        return RawReply(200, json.dumps(item))


def make_client(transport: FakeTransport, clock: FakeClock, **overrides: Any) -> HostwindsClient:
    settings = ClientSettings(api_key=Secret(KEY), url=DEFAULT_URL, **overrides)
    return HostwindsClient(settings, transport=transport, clock=clock, sleep=clock.sleep)


def test_rate_limiter_spaces_requests() -> None:
    clock = FakeClock()
    limiter = RateLimiter(2.0, clock=clock, sleep=clock.sleep)
    waits = [limiter.acquire() for _ in range(5)]
    assert waits == [0.0, 0.5, 0.5, 0.5, 0.5]


def test_client_default_rate_is_two_per_second() -> None:
    clock = FakeClock()
    client = make_client(FakeTransport({"success": []}), clock)
    for _ in range(4):
        client.list_instances()
    assert clock.sleeps == [0.5, 0.5, 0.5]


def test_breaker_opens_after_threshold_and_half_opens() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(threshold=5, reset_after=60, clock=clock)
    for _ in range(5):
        breaker.before_call()
        breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    with pytest.raises(CircuitOpenError):
        breaker.before_call()
    clock.now += 60
    assert breaker.state is BreakerState.HALF_OPEN
    breaker.before_call()  # one trial call
    with pytest.raises(CircuitOpenError):
        breaker.before_call()
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED


def test_breaker_failed_trial_reopens() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(threshold=1, reset_after=10, clock=clock)
    breaker.record_failure()
    clock.now += 10
    breaker.before_call()
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN


def test_backoff_doubles_from_one_second_with_three_tries() -> None:
    clock = FakeClock()
    transport = FakeTransport(HostwindsTransientError("HTTP 503"))
    client = make_client(transport, clock, rate_per_second=1000.0)
    with pytest.raises(HostwindsTransientError):
        client.list_instances()
    assert len(transport.calls) == 3
    backoff = [s for s in clock.sleeps if s >= 0.5]
    assert backoff == [1.0, 2.0]


def test_backoff_policy_caps_at_thirty_seconds() -> None:
    policy = RetryPolicy(attempts=8)
    assert [policy.delay_before(n) for n in range(2, 9)] == [1, 2, 4, 8, 16, 30, 30]


def test_validation_errors_are_never_retried() -> None:
    clock = FakeClock()
    transport = FakeTransport([{"result": "error", "message": "Template is invalid.", "ERROR": "5012"}])
    client = make_client(transport, clock)
    with pytest.raises(HostwindsValidationError):
        client.reinstall("123", "bad-image")
    assert len(transport.calls) == 1


def test_auth_errors_are_not_retried_but_count_for_the_breaker() -> None:
    clock = FakeClock()
    transport = FakeTransport({"result": "error", "action": "Authorization", "message": "Not Authorized!"})
    client = make_client(transport, clock, breaker_threshold=2)
    for _ in range(2):
        with pytest.raises(AuthError):
            client.list_instances()
    assert len(transport.calls) == 2
    with pytest.raises(CircuitOpenError):
        client.list_instances()
    assert len(transport.calls) == 2


def test_breaker_opens_after_five_transient_failures_through_client() -> None:
    clock = FakeClock()
    transport = FakeTransport(HostwindsTransientError("HTTP 500"))
    client = make_client(transport, clock, retry=RetryPolicy(attempts=1))
    for _ in range(5):
        with pytest.raises(HostwindsTransientError):
            client.list_instances()
    with pytest.raises(CircuitOpenError, match="5 consecutive failures"):
        client.list_instances()
    assert len(transport.calls) == 5


def test_retry_succeeds_after_transient_failure() -> None:
    clock = FakeClock()
    transport = FakeTransport(HostwindsTransientError("timeout"), {"success": []})
    assert make_client(transport, clock).list_instances() == []
    assert len(transport.calls) == 2


def test_polling_timeout_is_configurable() -> None:
    clock = FakeClock()
    building = {"success": {"serviceid": 7, "status": "BUILDING", "task_state": "spawning"}}
    client = make_client(FakeTransport(building), clock, rate_per_second=1000.0,
                         poll=PollSettings(interval=5, timeout=30))
    with pytest.raises(WaitTimeoutError, match="instance 7 to become ACTIVE"):
        client.wait_ready(7)
    assert clock.sleeps.count(5) == 6


def test_api_key_is_sent_as_upper_case_api_field_and_never_shown() -> None:
    clock = FakeClock()
    transport = FakeTransport({"success": []})
    client = make_client(transport, clock)
    client.list_instances()
    assert ("API", KEY) in transport.calls[0] and ("action", "get_instances") in transport.calls[0]
    assert KEY not in repr(client) and KEY not in repr(client.settings)


def test_redaction_in_logs_and_exceptions(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    password, configkey = "RootPassword-unit-777", "ConfigKey-unit-888"
    instance = {"serviceid": 5, "status": "ACTIVE", "task_state": "", "password": password, "configkey": configkey}
    echo_error = [{"result": "error", "message": f"bad request API={KEY} password={password}"}]
    transport = FakeTransport({"success": instance}, echo_error)
    client = make_client(transport, clock)
    with caplog.at_level(logging.DEBUG):
        inst = client.get_instance(5)
        with pytest.raises(Exception) as info:
            client.rename(5, "pm-new-1")
    secrets = (KEY, password, configkey)
    assert not any(s in caplog.text for s in secrets)
    assert not any(s in repr(inst) for s in secrets)
    assert not any(s in str(info.value) or s in repr(info.value) for s in secrets)


@pytest.mark.parametrize(("field", "kwargs"), [
    ("api_key", {"api_key": Secret("")}),
    ("url", {"url": "http://example.com/api.php"}),
    ("rate_per_second", {"rate_per_second": 0}),
])
def test_bad_settings_name_the_field(field: str, kwargs: dict[str, Any]) -> None:
    values: dict[str, Any] = {"api_key": Secret(KEY), **kwargs}
    with pytest.raises(ConfigError) as info:
        ClientSettings(**values)
    assert info.value.field == field


def test_bad_inputs_name_the_field() -> None:
    client = make_client(FakeTransport({"success": []}), FakeClock())
    with pytest.raises(ConfigError) as info:
        client.get_instance("12; rm -rf /")
    assert info.value.field == "serviceid"
    with pytest.raises(ConfigError) as info:
        client.rename(1, "Bad Label!")
    assert info.value.field == "label"
    with pytest.raises(ConfigError) as info:
        client.set_rdns(1, "not-an-ip", "mail.example.com")
    assert info.value.field == "ip"
    with pytest.raises(ConfigError) as info:
        client.add_ssh_key("k", "not a key")
    assert info.value.field == "public_key"
