"""`invoke hostwinds.probe` (issue 17) as an operator runs it against a new account: it reports each assumption and
sends only listing actions, whatever the account holds; the account is exactly as before."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hostwinds import CreateRequest, HostwindsClient
from hostwinds.probe import READ_ACTIONS, ProbeRefused, Wanted, probe, read_only_client
from sandbox.hostwinds_sim.server import SimulatorServer
from sandbox.hostwinds_sim.settings import SimSettings
from tests.e2e.day2 import INVOKE
from tests.fixtures.hostwinds import HW_API_KEY, IMAGE_ID, LOCATION_ID, PLAN_ID, fast_settings
from toolkit import stack_files
from toolkit.tenant_config import size_minimums

REPO = Path(__file__).resolve().parents[2]
KEY_LINE = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPr0be0nlyf0rt3st1ng000000000000000000000 pm"


@pytest.fixture
def account(tmp_path: Path) -> Iterator[SimulatorServer]:
    """An account holding an instance (with a prefixed firewall profile) and an SSH key, with a key listing."""
    settings = SimSettings(vps_hosts=False, ssh_key_list_action="get_ssh_keys", firewall_reply_shape="map",
                           ips_without_address=True)
    with SimulatorServer(tmp_path / "sim", HW_API_KEY, settings=settings) as sim:
        client = HostwindsClient(fast_settings(sim.url))
        client.add_ssh_key("pm-probe-admin", KEY_LINE)
        sid = client.create_instance(CreateRequest("pm-probe-1", IMAGE_ID, PLAN_ID, LOCATION_ID,
                                                   ("pm-probe-admin",))).serviceid
        client.set_firewall_profile(sid, "mail")
        sim.calls.clear()
        yield sim


def _state(sim: SimulatorServer) -> Any:
    return json.dumps([[i.to_api(sim.settings) for i in sim.model.instances.values()], sim.model.ssh_keys],
                      sort_keys=True)


def _probe(sim: SimulatorServer, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {"PATH": os.environ["PATH"], "HOME": os.environ["HOME"], "LANG": "C.UTF-8", "COLUMNS": "220",
                   "HOSTWINDS_API_KEY": HW_API_KEY, "PM_ENV_FILE": str(REPO / ".no-sandbox-env-here"), **env}
    return subprocess.run([INVOKE, "hostwinds.probe", "--api-url", sim.url, *args], cwd=REPO, env=environment,
                          capture_output=True, text=True, timeout=300, check=False)


def test_probe_reports_every_assumption_and_sends_only_listings(account: SimulatorServer, tmp_path: Path) -> None:
    before = _state(account)
    result = _probe(account, "--json", PM_HOSTWINDS_SSH_KEY_LIST_ACTION="get_ssh_keys")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    report = json.loads(result.stdout)
    found = {f["topic"]: f for f in report["findings"]}
    assert found["API key over IPv4"]["verdict"] == "ok" and "from 127.0.0.1" in found["API key over IPv4"]["answered"]
    assert "locked: int, power_state: int, image: dict" in found["instance field types"]["answered"]
    assert found["stack image 'ubuntu-22.04'"]["answered"].startswith("resolves to Ubuntu 22.04 LTS")
    assert found["stack size 'small'"]["answered"] == "resolves to 53"
    assert "managed=1 lists 2 (other rids)" in found["get_price_list managed=0"]["answered"]
    assert found["SSH key listing 'get_ssh_keys'"]["verdict"] == "ok"
    assert found["add_ssh_key public-key field"]["verdict"] == "unknown"
    firewall = next(f for topic, f in found.items() if topic.startswith("firewall of "))
    assert "a map of id -> profile: '7b4d8e61 mail' (chosen name 'mail'); 'mail' on it" in firewall["answered"]
    assert "1 without an address" in found["get_instance_ips"]["answered"]
    sent = [c["action"] for c in account.calls]
    assert sent and set(sent) <= READ_ACTIONS | {"get_ssh_keys"}, sent
    assert report["sent"] == sent
    assert _state(account) == before


def test_probe_says_what_differs_for_a_stack_and_exits_1(account: SimulatorServer, tmp_path: Path) -> None:
    raw = {"tenant_id": "probed", "domain": "probed.example.com", "image": "windows-95", "location": "dallas",
           "dns": {"provider": "rfc2136", "server": "127.0.0.1", "zone": "example.com", "tsig_key_name": "k"},
           "dkim_selector": "pm20261125"}
    stack_files.create(tmp_path / "stacks", raw)
    result = _probe(account, "--tenant", "probed", "--work-dir", str(tmp_path))
    assert result.returncode == 1, result.stdout[-4000:] + result.stderr[-2000:]
    out = " ".join(result.stdout.split())
    assert "'windows-95' is not an image this Hostwinds account offers" in out
    assert "resolves to Dallas, TX" in out and "CONTRACT.md" in out
    assert {c["action"] for c in account.calls} <= READ_ACTIONS | {"get_ssh_keys"}


def test_a_refused_key_exits_2_and_names_ipv4(account: SimulatorServer) -> None:
    account.faults.inject("auth_failure", times=None)
    result = _probe(account)
    assert result.returncode == 2
    assert "IPv4 only" in " ".join(result.stdout.split()) and HW_API_KEY not in result.stdout + result.stderr


def test_the_probe_client_cannot_send_a_change(account: SimulatorServer) -> None:
    client, transport = read_only_client(fast_settings(account.url))
    sid = client.list_instances()[0].serviceid
    for attempt in (lambda: client.terminate(sid), lambda: client.delete_ssh_key("pm-probe-admin"),
                    lambda: client.mutate("change_password", {"serviceid": sid, "password": "x" * 12}),
                    lambda: client.set_firewall_profile(sid, "default")):
        with pytest.raises(ProbeRefused):
            attempt()
    assert [c["action"] for c in account.calls] == ["get_instances"] == transport.sent
    assert client.is_live(sid) and "pm-probe-admin" in account.model.ssh_keys


def test_an_empty_account_answering_an_error_reads_as_empty(tmp_path: Path) -> None:
    settings = SimSettings(vps_hosts=False, empty_account_reply="error")
    with SimulatorServer(tmp_path / "empty", HW_API_KEY, settings=settings) as sim:
        report = probe(fast_settings(sim.url), Wanted("ubuntu-22.04", "1", "small", "mail", size_minimums()))
    found = {f.topic: f for f in report.findings}
    listing = found["get_instances on this account"]
    assert listing.verdict == "ok" and listing.answered == "an error: No instances found."
    assert found["get_instance_firewall_profile"].verdict == "unknown" and report.exit_code == 0
