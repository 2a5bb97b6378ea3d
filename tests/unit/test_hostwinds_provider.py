"""The Pulumi provider's pure parts: diff rules, pickling, where the key comes from."""

from __future__ import annotations

import pytest
from pulumi.dynamic.dynamic import serialize_provider

from components.hostwinds_instance import InstanceProvider, client_from
from toolkit.errors import ConfigError

OLDS = {"label": "pm-a-1", "location_id": "1", "plan_id": "1002", "image": "ubuntu-22.04", "serviceid": "5"}


@pytest.mark.parametrize(("change", "replaces", "changes"), [
    ({}, [], False),
    ({"label": "pm-a-2"}, [], True),
    ({"location_id": "2"}, ["location_id"], True),
    ({"plan_id": "1003"}, ["plan_id"], True),
    ({"image": "debian-12"}, ["image"], True),
    ({"ssh_key_names": ["other"]}, [], False),
])
def test_diff(change: dict[str, object], replaces: list[str], changes: bool) -> None:
    result = InstanceProvider().diff("5", OLDS, {**OLDS, **change})
    assert result.replaces == replaces and result.changes is changes


def test_check_names_missing_and_bad_fields() -> None:
    failures = InstanceProvider().check({}, {"label": "Bad Label", "location_id": "1"}).failures
    assert {f.property for f in failures} == {"label", "plan_id", "image"}


def test_provider_pickles_without_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOSTWINDS_API_KEY", "pickle-test-key-123456")
    assert serialize_provider(InstanceProvider())


def test_key_comes_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HOSTWINDS_API_KEY", raising=False)
    with pytest.raises(ConfigError) as info:
        client_from({"api_url": "http://127.0.0.1:1/cloud/api.php"})
    assert info.value.field == "HOSTWINDS_API_KEY"
