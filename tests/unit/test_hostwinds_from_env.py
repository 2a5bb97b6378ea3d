"""One way to build a Hostwinds client from the environment, and the listing lookups every caller shares."""

from __future__ import annotations

import pytest

from hostwinds.endpoint import DEFAULT_URL
from hostwinds.errors import DuplicateLabelError
from hostwinds.models import Instance, InstanceIp, by_label, with_serviceid
from hostwinds.settings import ENV_API_KEY, ENV_API_URL, ClientSettings
from toolkit.errors import ConfigError

KEY = "from-env-key-0123456789abcdef"
SIM = "http://127.0.0.1:18700/cloud/api.php"


def test_key_and_url_come_from_the_given_mapping(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_API_KEY, raising=False)
    monkeypatch.delenv(ENV_API_URL, raising=False)
    settings = ClientSettings.from_env({ENV_API_KEY: KEY, ENV_API_URL: SIM}, rate_per_second=10.0)
    assert (settings.api_key.reveal(), settings.url, settings.rate_per_second) == (KEY, SIM, 10.0)
    assert ClientSettings.from_env({ENV_API_KEY: KEY}).url == DEFAULT_URL
    monkeypatch.setenv(ENV_API_KEY, KEY)
    assert ClientSettings.from_env().api_key.reveal() == KEY  # no mapping: the process environment


def test_the_stack_url_wins_over_the_environment() -> None:
    other = "http://127.0.0.2:9/cloud/api.php"
    assert ClientSettings.from_env({ENV_API_KEY: KEY, ENV_API_URL: other}, api_url=SIM).url == SIM


@pytest.mark.parametrize(("env", "api_url", "field"), [
    ({}, SIM, ENV_API_KEY),
    ({ENV_API_KEY: "  "}, SIM, ENV_API_KEY),
    ({ENV_API_KEY: KEY}, "https://attacker.example/cloud/api.php", "api_url"),
    ({ENV_API_KEY: KEY, ENV_API_URL: "https://attacker.example/cloud/api.php"}, None, ENV_API_URL),
])
def test_refusals_name_where_the_value_came_from(env: dict[str, str], api_url: str | None, field: str) -> None:
    with pytest.raises(ConfigError) as refused:
        ClientSettings.from_env(env, api_url=api_url)
    assert refused.value.field == field and KEY not in str(refused.value)


def _instance(serviceid: str, label: str, status: str = "ACTIVE") -> Instance:
    return Instance.from_api({"serviceid": serviceid, "srvrname": label, "status": status})


def test_listing_lookups() -> None:
    listing = [_instance("1", "pm-a-1", "TERMINATED"), _instance("2", "pm-a-1"), _instance("3", "pm-b-1")]
    assert with_serviceid(listing, "1") is listing[0] and listing[0].gone  # gone ones are found, and say so
    assert with_serviceid(listing, "9") is None
    assert by_label(listing, "pm-a-1") is listing[1]  # the terminated namesake does not count
    assert by_label(listing, "pm-c-1") is None
    with pytest.raises(DuplicateLabelError, match="2 instances are labelled 'pm-b-1'"):
        by_label([*listing, _instance("4", "pm-b-1")], "pm-b-1")


def test_instance_ip_entries() -> None:
    assert InstanceIp.from_api({"ip": "192.0.2.7", "rdns": "mail.acme.example."}) == InstanceIp(
        "192.0.2.7", "mail.acme.example")
    assert InstanceIp.from_api({"ip": "192.0.2.7"}) == InstanceIp("192.0.2.7", "")
    assert InstanceIp.from_api("192.0.2.8") == InstanceIp("192.0.2.8", "")
