"""Attack: make the toolkit send the Hostwinds API key to a host of the attacker's choosing (issue 11 item 6).

"Plain http only for loopback" used to be a string-prefix test, so ``http://localhost@127.0.0.2:PORT/`` (user info
``localhost``, host 127.0.0.2) sent the real key to another listener, and ``http://127.0.0.1@203.0.113.9/`` or
``http://localhost.attacker.example/`` passed too. Now ``hostwinds.endpoint`` parses the URL and decides on the
parsed host. Every hostile URL is fed through each way a URL enters the toolkit (client settings, the
``HOSTWINDS_API_URL`` environment, the transport, the Pulumi providers' ``api_url`` input and ``check``, and the
tenant stack config ``hostwinds.api_url``): each is refused naming its field, the real listener on 127.0.0.2
receives nothing, and no connection or name lookup leaves the test's thread at all (seen through Python's audit
hooks, not a mock).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from components.hostwinds_instance import InstanceProvider, client_from
from components.hostwinds_network import _MailNetworkingProvider, _SshKeyProvider
from hostwinds import ClientSettings, HostwindsClient
from hostwinds.endpoint import ENV_API_HOSTS, check_api_url
from hostwinds.settings import ENV_API_KEY, ENV_API_URL
from hostwinds.transport import RequestsTransport
from sandbox.hostwinds_sim.server import SimulatorServer
from sandbox.hostwinds_sim.settings import SimSettings
from toolkit.errors import ConfigError
from toolkit.redact import Secret
from toolkit.tenant_config import TenantConfigError, parse_tenant_config

API_KEY = "hw-exfil-test-key-6f1c2a9e77"

# --- observing the network without mocking it ---------------------------------------------------------------

_WATCHED: dict[int, list[tuple[str, str]]] = {}


def _audit(event: str, args: tuple[Any, ...]) -> None:
    seen = _WATCHED.get(threading.get_ident())
    if seen is not None and event in ("socket.connect", "socket.getaddrinfo"):
        target = args[1] if event == "socket.connect" else args[0]
        seen.append((event, repr(target)))


sys.addaudithook(_audit)


@contextmanager
def network_watch() -> Iterator[list[tuple[str, str]]]:
    """Every connect and name lookup this thread makes inside the block (Python's audit events)."""
    seen: list[tuple[str, str]] = []
    _WATCHED[threading.get_ident()] = seen
    try:
        yield seen
    finally:
        del _WATCHED[threading.get_ident()]


# --- the attacker's listener --------------------------------------------------------------------------------

class Listener:
    """A real HTTP server on 127.0.0.2 that records every request it receives (the attacker's end)."""

    def __init__(self) -> None:
        self.requests: list[bytes] = []
        received = self.requests

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                received.append(self.requestline.encode() + b"\n" + str(self.headers).encode()
                                + self.rfile.read(length))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"success": []}')

            do_GET = do_POST

            def log_message(self, *_args: object) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.2", 0), Handler)
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> Listener:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


@pytest.fixture()
def listener() -> Iterator[Listener]:
    with Listener() as server:
        # Control: the listener really receives what is sent to it (so "it got nothing" below means something).
        requests.post(f"http://127.0.0.2:{server.port}/probe", data={"probe": "1"}, timeout=5)
        assert len(server.requests) == 1 and b"probe" in server.requests[0]
        server.requests.clear()
        yield server


def hostile_urls(port: int) -> list[str]:
    return [
        f"http://localhost@127.0.0.2:{port}/cloud/api.php",            # the reported one: user info "localhost"
        f"http://127.0.0.1@127.0.0.2:{port}/cloud/api.php",
        f"http://127.0.0.1:{port}@127.0.0.2:{port}/cloud/api.php",
        f"http://user:password@127.0.0.2:{port}/cloud/api.php",
        f"https://clients.hostwinds.com@127.0.0.2:{port}/cloud/api.php",
        "http://127.0.0.1@203.0.113.9/cloud/api.php",
        "http://localhost.attacker.example/cloud/api.php",
        "https://api.attacker.example/cloud/api.php",                 # https, but not an allowed API host
        "https://clients.hostwinds.com.attacker.example/cloud/api.php",
        "http://clients.hostwinds.com/cloud/api.php",                 # the real host, but in clear text
        f"http://127.0.0.1\\@127.0.0.2:{port}/cloud/api.php",
        f"http://127.0.0.1%40127.0.0.2:{port}/cloud/api.php",
        "http://2130706433/cloud/api.php",                           # 127.0.0.1 in a form resolvers accept
    ]


def _entry_points(url: str, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Callable[[], object]]]:
    """(field the refusal must name, how the toolkit would be pointed at ``url``)."""
    monkeypatch.setenv(ENV_API_KEY, API_KEY)

    def from_env() -> object:
        monkeypatch.setenv(ENV_API_URL, url)
        try:
            return HostwindsClient(ClientSettings.from_env()).list_instances()
        finally:
            monkeypatch.delenv(ENV_API_URL)

    return [
        ("url", lambda: HostwindsClient(ClientSettings(api_key=Secret(API_KEY), url=url)).list_instances()),
        (ENV_API_URL, from_env),
        ("url", lambda: RequestsTransport(url, 5.0).post([("API", API_KEY), ("action", "get_instances")],
                                                         "get_instances")),
        ("api_url", lambda: client_from({"api_url": url}).list_instances()),
    ]


def test_hostile_api_url_is_refused_and_the_key_goes_nowhere(listener: Listener,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    for url in hostile_urls(listener.port):
        for field, attempt in _entry_points(url, monkeypatch):
            with network_watch() as traffic, pytest.raises(ConfigError) as refused:
                attempt()
            assert refused.value.field == field, (url, refused.value)
            assert API_KEY not in str(refused.value) and "password" not in str(refused.value)
            assert traffic == [], (url, field, traffic)
    assert listener.requests == []


def test_providers_refuse_hostile_api_url_at_check(listener: Listener) -> None:
    """``pulumi preview``/``up`` stop at ``check``, before any resource calls the API."""
    base = {"label": "pm-acme-1", "location_id": "1", "plan_id": "1002", "image": "ubuntu-22.04"}
    providers = [InstanceProvider(), _SshKeyProvider(), _MailNetworkingProvider()]
    for url in hostile_urls(listener.port):
        for provider in providers:
            with network_watch() as traffic:
                failures = provider.check({}, {**base, "api_url": url}).failures
            assert [f.property for f in failures if f.property == "api_url"] == ["api_url"], (url, provider)
            assert traffic == []
    assert listener.requests == []


def test_tenant_config_refuses_hostile_api_url(listener: Listener) -> None:
    raw: dict[str, Any] = {
        "tenant_id": "acme", "domain": "acme.sandbox.test", "dkim_selector": "pm20261125",
        "dns": {"provider": "rfc2136", "server": "127.0.0.1", "tsig_key_name": "sandbox-key"},
    }
    for url in hostile_urls(listener.port):
        with pytest.raises(TenantConfigError) as refused:
            parse_tenant_config({**raw, "hostwinds": {"api_url": url}})
        assert [key for key, _ in refused.value.problems] == ["pm:hostwinds.api_url"], url
        assert "password" not in str(refused.value)
    assert listener.requests == []


def test_operator_can_allow_another_https_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_API_HOSTS, "hostwinds-proxy.corp.example")
    assert check_api_url("https://hostwinds-proxy.corp.example/cloud/api.php")
    with pytest.raises(ConfigError, match="must be https"):
        check_api_url("http://hostwinds-proxy.corp.example/cloud/api.php")
    with pytest.raises(ConfigError, match="not an allowed"):
        check_api_url("https://evil.hostwinds-proxy.corp.example/cloud/api.php")
    monkeypatch.setenv(ENV_API_HOSTS, "*.example")
    with pytest.raises(ConfigError) as bad:
        check_api_url("https://clients.hostwinds.com/cloud/api.php")
    assert bad.value.field == ENV_API_HOSTS


def test_simulator_url_still_works(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The loopback simulator stays reachable over plain http, through the client and the providers' path."""
    with SimulatorServer(tmp_path, API_KEY, settings=SimSettings(vps_hosts=False)) as sim:
        assert HostwindsClient(ClientSettings(api_key=Secret(API_KEY), url=sim.url)).list_instances() == []
        local = sim.url.replace("127.0.0.1", "localhost")
        assert HostwindsClient(ClientSettings(api_key=Secret(API_KEY), url=local)).list_instances() == []
        monkeypatch.setenv(ENV_API_KEY, API_KEY)
        assert client_from({"api_url": sim.url}).list_instances() == []
