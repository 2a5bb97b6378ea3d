"""Issue 17 against the simulator: each mismatch with the real contract, as the updated simulator reproduces it.

1. IPv4 egress: a dual-stack name (``localhost`` resolving to ::1 first, as most /etc/hosts say) must reach the API
   over IPv4; the simulator's IPv6 listener answers ``Not Authorized!`` like the real API and must receive nothing.
2. Names -> ids through the listings; unmanaged plans; "Hourly products are disabled!".
3. SSH keys: the field name is a setting; a lost reply is adopted; a listed identical key is adopted.
4. Firewall profiles with a unique-id prefix, both reply shapes, fail fast when missing.
5. Empty account, terminated instances listed, IP items without an address.
6. Simulator: UUID templates, typed fields, change_password, the two-step upgrade, numeric ERROR.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from components.hostwinds_instance import InstanceProvider
from hostwinds import (
    AuthError,
    CreateRequest,
    FirewallProfileMissing,
    HostwindsClient,
    HostwindsValidationError,
    RetryPolicy,
)
from hostwinds.errors import HostwindsApiError
from sandbox.hostwinds_sim.server import SimulatorServer
from sandbox.hostwinds_sim.settings import SimSettings
from tests.fixtures.hostwinds import HW_API_KEY, IMAGE_ID, LOCATION_ID, PLAN_ID, fast_settings
from toolkit.errors import ConfigError

KEY_LINE = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKc0ntract0nlyf0rt3st1ng0000000000000000 pm"


@pytest.fixture
def api_sim(tmp_path: Path) -> Iterator[SimulatorServer]:
    """A private API-only simulator (its own empty account) with an IPv6 loopback listener on the same port."""
    with SimulatorServer(tmp_path / "sim", HW_API_KEY, settings=SimSettings(vps_hosts=False), ipv6=True) as sim:
        yield sim


def _client(sim: SimulatorServer, url: str = "", **overrides: Any) -> HostwindsClient:
    return HostwindsClient(fast_settings(url or sim.url, **overrides))


def _create(client: HostwindsClient, label: str, **fields: Any) -> str:
    request = CreateRequest(label, IMAGE_ID, PLAN_ID, LOCATION_ID, **fields)
    return client.create_instance(request).serviceid


# --- 1. IPv4 egress ---------------------------------------------------------------------------------------------

@pytest.fixture
def dual_stack_localhost(monkeypatch: pytest.MonkeyPatch) -> None:
    """``localhost`` resolves to ::1 first, then 127.0.0.1 (the resolver honours the family asked for). Only the
    name lookup is replaced: this machine's /etc/hosts has no ::1 line; both listeners and all sockets are real."""
    real = socket.getaddrinfo

    def resolve(host: Any, port: Any, family: int = 0, type: int = 0, proto: int = 0, flags: int = 0) -> Any:
        if host != "localhost":
            return real(host, port, family, type, proto, flags)
        v6 = real("::1", port, socket.AF_INET6, type, proto, flags)
        v4 = real("127.0.0.1", port, socket.AF_INET, type, proto, flags)
        return {socket.AF_INET: v4, socket.AF_INET6: v6}.get(socket.AddressFamily(family), v6 + v4)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)


def test_calls_leave_over_ipv4_and_the_ipv6_listener_never_receives_one(api_sim: SimulatorServer,
                                                                        dual_stack_localhost: None) -> None:
    url = api_sim.url.replace("127.0.0.1", "localhost")
    # The control: an ordinary client follows the resolver to ::1 and is refused, as the real API refuses IPv6.
    plain = requests.post(url, data={"action": "get_locations", "API": HW_API_KEY}, timeout=5).json()
    assert plain["message"] == "Not Authorized!" and [c["family"] for c in api_sim.calls] == ["ipv6"]
    api_sim.calls.clear()
    client = _client(api_sim, url=url)
    assert client.list_locations() and client.list_instances() == []
    _create(client, "pm-ipv4-1")
    assert api_sim.calls and {c["family"] for c in api_sim.calls} == {"ipv4"}, list(api_sim.calls)


def test_an_ipv6_api_address_is_refused_before_any_call(api_sim: SimulatorServer) -> None:
    with pytest.raises(ConfigError, match="IPv4 only"):
        _client(api_sim, url=f"http://[::1]:{api_sim.port}/cloud/api.php").list_locations()
    assert list(api_sim.calls) == []


def test_an_auth_error_says_calls_leave_over_ipv4(api_sim: SimulatorServer) -> None:
    api_sim.faults.inject("auth_failure")
    with pytest.raises(AuthError) as refused:
        _client(api_sim).list_instances()
    assert "Not Authorized!" in str(refused.value) and "IPv4 only from 127.0.0.1" in str(refused.value)
    assert HW_API_KEY not in str(refused.value)


# --- 2. ids, unmanaged plans, billing --------------------------------------------------------------------------------

def test_templates_are_uuids_and_names_are_refused_by_the_api(api_sim: SimulatorServer) -> None:
    client = _client(api_sim)
    with pytest.raises(HostwindsValidationError, match="Template is invalid"):
        client.create_instance(CreateRequest("pm-name-1", "ubuntu-22.04", PLAN_ID, LOCATION_ID))
    retired = client.catalog()
    assert "Ubuntu 18.04 LTS" not in {i.name for i in retired.images}  # retired images are not offered
    assert client.list_instances() == []


def test_price_list_is_managed_unless_asked_and_managed_plans_are_never_resolved(api_sim: SimulatorServer) -> None:
    client = _client(api_sim)
    assert {p.rid for p in client.list_plans(managed=True)} == {"36", "37"}
    assert {p.rid for p in client.list_plans()} == {"52", "53", "54", "55"}
    assert client.catalog().plan("medium", {"medium": (2, 4.0)}).rid == "54"  # not managed 36 (2 vCPU, 4 GB)


def test_hourly_billing_disabled_is_named_with_the_fix(api_sim: SimulatorServer) -> None:
    api_sim.settings.update({"hourly_disabled": True})
    with pytest.raises(HostwindsValidationError) as refused:
        _create(_client(api_sim), "pm-hourly-1")
    assert "Hourly products are disabled!" in str(refused.value)
    assert "PM_HOSTWINDS_BILLING_CYCLE=monthly" in str(refused.value) and refused.value.field == "billingcycle"
    assert _client(api_sim).list_instances() == []
    monthly = _client(api_sim, billing_cycle="monthly")
    sid = _create(monthly, "pm-hourly-1")
    assert api_sim.model.instances[int(sid)].billingcycle == "monthly"


# --- 3. SSH keys -----------------------------------------------------------------------------------------------------

def test_the_public_key_field_is_a_setting(api_sim: SimulatorServer) -> None:
    api_sim.settings.update({"ssh_key_field": "public_key"})
    with pytest.raises(HostwindsApiError, match="SSH key is invalid"):
        _client(api_sim).add_ssh_key("pm-f-admin", KEY_LINE)
    assert _client(api_sim, ssh_key_field="public_key").add_ssh_key("pm-f-admin", KEY_LINE) == "added"
    assert api_sim.model.ssh_keys["pm-f-admin"] == KEY_LINE


def test_a_lost_reply_is_adopted_without_a_delete(api_sim: SimulatorServer) -> None:
    api_sim.faults.inject("lost_reply", action="add_ssh_key", drop=True)
    assert _client(api_sim).add_ssh_key("pm-l-admin", KEY_LINE) == "adopted"
    actions = [c["action"] for c in api_sim.calls]
    assert actions == ["add_ssh_key", "add_ssh_key"] and api_sim.model.ssh_keys["pm-l-admin"] == KEY_LINE


def test_a_listed_identical_key_is_adopted_a_different_one_replaced(api_sim: SimulatorServer) -> None:
    api_sim.settings.update({"ssh_key_list_action": "get_ssh_keys"})
    first = HostwindsClient(fast_settings(api_sim.url, retry=RetryPolicy(attempts=1)))
    first.add_ssh_key("pm-k-admin", KEY_LINE)
    listing = _client(api_sim, ssh_key_list_action="get_ssh_keys")
    assert listing.list_ssh_keys() == {"pm-k-admin": KEY_LINE}
    api_sim.calls.clear()
    assert listing.add_ssh_key("pm-k-admin", KEY_LINE.replace(" pm", " other-comment")) == "adopted"
    assert "delete_ssh_key" not in [c["action"] for c in api_sim.calls]
    other = KEY_LINE.replace("AAAAIKc0", "AAAAIKd1")
    assert listing.add_ssh_key("pm-k-admin", other) == "replaced" and api_sim.model.ssh_keys["pm-k-admin"] == other
    assert _client(api_sim).list_ssh_keys() is None  # no listing configured: nothing to compare


# --- 4. firewall profiles --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("shape", ["object", "map"])
def test_a_prefixed_profile_is_applied_and_read_back_by_its_chosen_name(api_sim: SimulatorServer, shape: str) -> None:
    api_sim.settings.update({"firewall_reply_shape": shape})
    client = _client(api_sim)
    sid = _create(client, f"pm-fw-{shape}")
    applied = client.set_firewall_profile(sid, "mail")
    assert applied is not None and applied.name == "7b4d8e61 mail" and applied.chosen_name == "mail"
    assert client.get_firewall_profile(sid).matches("mail")


@pytest.mark.parametrize("reply", ["error", "noop"])
def test_a_missing_profile_fails_fast_with_the_fix(api_sim: SimulatorServer, reply: str) -> None:
    api_sim.settings.update({"firewall_unknown_reply": reply})
    client = _client(api_sim, firewall_wait=0.2)  # the poll timeout stays 10 s: the wait must not use it
    sid = _create(client, f"pm-nofw-{reply}")
    with pytest.raises(FirewallProfileMissing) as missing:
        client.set_firewall_profile(sid, "smtp-only")
    assert "create a firewall profile named 'smtp-only' in the Hostwinds portal" in str(missing.value)
    assert "'<unique id> smtp-only'" in str(missing.value)
    assert api_sim.model.instances[int(sid)].firewall == "3f9a1c2e default"


# --- 5. the unknowns, made safe -----------------------------------------------------------------------------------

@pytest.mark.parametrize("reply", ["list", "object", "null", "error"])
def test_an_empty_account_lists_no_instances_whatever_it_answers(api_sim: SimulatorServer, reply: str) -> None:
    api_sim.settings.update({"empty_account_reply": reply})
    client = _client(api_sim)
    assert client.list_instances() == [] and client.find_by_label("pm-e-1") is None
    assert _create(client, "pm-e-1")  # the create's before/after listing works on an empty account


def test_a_terminated_instance_still_listed_counts_as_gone(api_sim: SimulatorServer,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    api_sim.settings.update({"terminated_listed_as": "TERMINATED"})
    client = _client(api_sim)
    sid = _create(client, "pm-t-1")
    client.terminate(sid)
    assert [i.status for i in client.list_instances()] == ["TERMINATED"]
    assert not client.is_live(sid) and client.find_by_label("pm-t-1") is None
    client.terminate(sid)  # idempotent
    monkeypatch.setenv("HOSTWINDS_API_KEY", HW_API_KEY)
    assert InstanceProvider().read(sid, {"api_url": api_sim.url, "retry_base_delay": 0.001}).id is None
    assert _create(client, "pm-t-1") != sid  # the label is free again: a new instance


def test_ip_entries_without_an_address_are_skipped(api_sim: SimulatorServer) -> None:
    api_sim.settings.update({"ips_without_address": True})
    client = _client(api_sim)
    sid = _create(client, "pm-ip-1")
    ip = api_sim.model.instances[int(sid)].main_ip
    assert client.get_instance_ips(sid) == [ip]
    client.set_rdns(sid, ip, "mail.ip.example")
    assert client.rdns(sid, ip) == "mail.ip.example"


# --- 6. the simulator follows the sources --------------------------------------------------------------------------

def test_instance_fields_are_typed_as_the_sources_show(api_sim: SimulatorServer) -> None:
    client = _client(api_sim)
    sid = _create(client, "pm-typed-1")
    raw = client.read("get_instance", {"serviceid": sid})
    assert raw["locked"] == 0 and raw["power_state"] == 1 and raw["location_id"] == 1
    assert raw["image"]["uuid"] == raw["template_uuid"] == IMAGE_ID and raw["image"]["name"] == "Ubuntu 22.04 LTS"
    client.mutate("toggle_lock", {"serviceid": sid})
    locked = client.get_instance(sid)
    assert locked.locked and locked.raw["locked"] == 1


def test_change_password_requires_a_password(api_sim: SimulatorServer) -> None:
    client = _client(api_sim)
    sid = _create(client, "pm-pw-1")
    with pytest.raises(HostwindsValidationError, match="valid password is required"):
        client.mutate("change_password", {"serviceid": sid})
    client.mutate("change_password", {"serviceid": sid, "password": "a-new-root-password"})
    fresh = client.get_instance(sid)
    assert fresh.password is not None and fresh.password.reveal() == "a-new-root-password"


def test_an_upgrade_takes_two_steps_then_a_confirmation(api_sim: SimulatorServer) -> None:
    client = _client(api_sim)
    sid = _create(client, "pm-up-1")
    with pytest.raises(HostwindsApiError, match="No upgrade is pending"):
        client.mutate("upgrade_server", {"serviceid": sid})
    client.mutate("upgrade_instance", {"serviceid": sid, "rid": "54"})
    assert client.get_instance(sid).status == "ACTIVE" and api_sim.model.instances[int(sid)].rid == PLAN_ID
    with pytest.raises(HostwindsApiError, match="needs RESIZED"):
        client.mutate("confirm_upgrade", {"serviceid": sid})
    client.mutate("upgrade_server", {"serviceid": sid})
    assert client.get_instance(sid).status == "RESIZED" and api_sim.model.instances[int(sid)].rid == "54"
    client.mutate("confirm_upgrade", {"serviceid": sid})
    assert client.wait_ready(sid).status == "ACTIVE"


@pytest.mark.parametrize("as_number", [False, True])
def test_error_entries_carry_a_numeric_error_code(api_sim: SimulatorServer, as_number: bool) -> None:
    api_sim.settings.update({"error_code_as_number": as_number})
    body = requests.post(api_sim.url, data={"action": "get_instance", "API": HW_API_KEY, "serviceid": "1"},
                         timeout=5).json()
    code = body[0]["ERROR"]
    assert isinstance(code, int) is as_number and str(code).isdigit() and len(str(code)) in (6, 7)
    with pytest.raises(HostwindsApiError) as refused:
        _client(api_sim).get_instance(1)
    assert refused.value.error_code == str(code)
