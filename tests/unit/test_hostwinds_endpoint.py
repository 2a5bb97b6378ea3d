"""Where the Hostwinds API key may be sent (hostwinds.endpoint): decided on the parsed URL, never on its prefix."""

from __future__ import annotations

import pytest

from hostwinds.endpoint import DEFAULT_URL, ENV_API_HOSTS, allowed_hosts, check_api_url
from toolkit.errors import ConfigError


@pytest.mark.parametrize("url", [
    DEFAULT_URL,
    "https://clients.hostwinds.com:443/cloud/api.php",
    "http://127.0.0.1:18080/cloud/api.php",
    "http://127.0.0.2:18080/cloud/api.php",
    "HTTP://127.0.0.1:18080/cloud/api.php",
    "http://localhost:18080/cloud/api.php",
    "http://[::1]:18080/cloud/api.php",
    "https://127.0.0.1:18443/cloud/api.php",
])
def test_accepted(url: str) -> None:
    assert check_api_url(url) == url


@pytest.mark.parametrize(("url", "problem"), [
    ("http://localhost@127.0.0.2:1/", "user info"),
    ("https://a:b@clients.hostwinds.com/cloud/api.php", "user info"),
    ("http://localhost.attacker.example/", "not an allowed"),
    ("https://clients.hostwinds.com./cloud/api.php", "not an allowed"),
    ("https://xclients.hostwinds.com/cloud/api.php", "not an allowed"),
    ("http://clients.hostwinds.com/cloud/api.php", "must be https"),
    ("http://127.1/", "not an allowed"),
    ("http://0x7f.0.0.1/", "not an allowed"),
    ("http://[::ffff:127.0.0.1]/", "not an allowed"),
    ("http://127.0.0.1:99999/", "invalid port"),
    ("http://127.0.0.1:1/?next=@evil.example", "query"),
    ("http://127.0.0.1:1/#@evil.example", "query"),
    ("http://127.0.0.1 @evil.example/", "printable ASCII"),
    ("http://127.0.0.1\t@evil.example/", "printable ASCII"),
    ("ftp://127.0.0.1/", "http(s)://"),
    ("http:127.0.0.1/", "http(s)://"),
    ("http://[evil.example/", "parseable"),
    ("", "must be the Hostwinds API URL"),
])
def test_refused(url: str, problem: str) -> None:
    with pytest.raises(ConfigError) as refused:
        check_api_url(url, "hostwinds.api_url")
    assert refused.value.field == "hostwinds.api_url"
    assert problem in refused.value.problem


def test_refusal_never_echoes_user_info() -> None:
    with pytest.raises(ConfigError) as refused:
        check_api_url("https://admin:hunter2secret@clients.hostwinds.com/cloud/api.php")
    assert "hunter2secret" not in str(refused.value)


def test_allowed_hosts_from_the_environment() -> None:
    assert allowed_hosts({}) == {"clients.hostwinds.com"}
    assert allowed_hosts({ENV_API_HOSTS: " Proxy.Example , other.example"}) == {
        "clients.hostwinds.com", "proxy.example", "other.example"}
    with pytest.raises(ConfigError) as bad:
        allowed_hosts({ENV_API_HOSTS: "https://proxy.example/"})
    assert bad.value.field == ENV_API_HOSTS
    assert check_api_url("https://proxy.example/api.php", extra_hosts=["proxy.example"])
