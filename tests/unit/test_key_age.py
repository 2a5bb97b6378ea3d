"""The one key-age computation (``fleet.key_age``): which stamp counts, how it is read, and the states at ``now``."""

from __future__ import annotations

import datetime as dt

import pytest

from fleet.key_age import AgeState, Kind, key_age, stamp

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(("text", "expected"), [
    ("2026-05-01T10:00:00Z", dt.datetime(2026, 5, 1, 10, tzinfo=dt.UTC)),
    ("2026-05-01T12:00:00+02:00", dt.datetime(2026, 5, 1, 10, tzinfo=dt.UTC)),
    ("2026-05-01T10:00:00.123456789Z", dt.datetime(2026, 5, 1, 10, 0, 0, 123456, tzinfo=dt.UTC)),  # Vault's ns
    ("2026-05-01T10:00:00", dt.datetime(2026, 5, 1, 10, tzinfo=dt.UTC)),  # no zone: UTC
    ("2026-05-01", dt.datetime(2026, 5, 1, tzinfo=dt.UTC)),
    ("yesterday", None),
    ("", None),
])
def test_stamps(text: str, expected: dt.datetime | None) -> None:
    assert stamp(text) == expected


def test_the_first_stamp_present_decides() -> None:
    age = key_age(Kind.SMTP, "smtp/acme/admin", 180, {"last_rotated": None, "created_at": "2026-05-01T00:00:00Z",
                                                      "created_time": "2020-01-01T00:00:00Z"}, version=3)
    assert age.rotated_at == dt.datetime(2026, 5, 1, tzinfo=dt.UTC) and age.version == 3 and not age.problem
    bad = key_age(Kind.SMTP, "smtp/acme/admin", 180, {"last_rotated": "soon", "created_at": "2026-05-01T00:00:00Z"})
    assert bad.rotated_at is None and bad.problem == "last_rotated 'soon' is not an ISO 8601 instant"
    assert key_age(Kind.DKIM, "dkim/a/b", 365, {}).problem == "no rotation date recorded"


@pytest.mark.parametrize(("days_ago", "state"), [
    (0, AgeState.OK), (82.9, AgeState.OK), (83, AgeState.SOON), (89.9, AgeState.SOON), (90, AgeState.DUE),
    (120, AgeState.DUE),
])
def test_states(days_ago: float, state: AgeState) -> None:
    rotated = (NOW - dt.timedelta(days=days_ago)).isoformat()
    age = key_age(Kind.SSH_ADMIN, "vps/acme/admin_ssh", 90, {"last_rotated": rotated})
    assert age.state(NOW) is state
    assert age.due_at(NOW) == NOW - dt.timedelta(days=days_ago) + dt.timedelta(days=90)


def test_undated_and_revoked_keys_are_due_now() -> None:
    undated = key_age(Kind.SMTP, "smtp/acme/admin", 180, {})
    assert undated.state(NOW) is AgeState.DUE and undated.due_at(NOW) == NOW
    revoked = key_age(Kind.SSH_TENANT, "vps/acme/tenant_ssh", 90, {"since": NOW.isoformat()}, revoked=True)
    assert revoked.state(NOW) is AgeState.REVOKED and revoked.due_at(NOW) == NOW
