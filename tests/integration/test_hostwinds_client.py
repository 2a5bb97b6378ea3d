"""Every client operation and every injected fault, against the in-process simulator."""

from __future__ import annotations

import logging

import pytest
import requests

from hostwinds import (
    AuthError,
    CreateRequest,
    HostwindsClient,
    HostwindsTransientError,
    HostwindsValidationError,
    InvalidActionError,
    InvalidServiceIdError,
    RateLimitedError,
    WaitTimeoutError,
)
from hostwinds.errors import HostwindsError
from sandbox.hostwinds_sim.server import SimulatorServer
from tests.fixtures.hostwinds import DEBIAN_ID, HW_API_KEY, IMAGE_ID, LOCATION_ID, PLAN_ID, fast_settings
from tests.fixtures.ssh import ClientKey

IMAGE, PLAN, LOCATION = IMAGE_ID, PLAN_ID, LOCATION_ID


def request_for(label: str, keys: tuple[str, ...] = ()) -> CreateRequest:
    return CreateRequest(label=label, template=IMAGE, plan_id=PLAN, location_id=LOCATION, ssh_key_names=keys)


def labelled(client: HostwindsClient, label: str) -> list[str]:
    return [i.serviceid for i in client.list_instances() if i.label == label]


def test_create_waits_for_active_and_lookups(hw_client: HostwindsClient, hw_label: str,
                                              sshhost_client_key: ClientKey) -> None:
    key_name = hw_label + "-key"
    hw_client.add_ssh_key(key_name, sshhost_client_key.public_line)
    inst = hw_client.create_instance(request_for(hw_label, (key_name,)))
    assert inst.ready and inst.label == hw_label and inst.main_ip.startswith("127.77.")
    assert inst.hostname == f"hwsrv-{inst.serviceid}.hostwindsdns.com"
    assert hw_client.get_instance(inst.serviceid).serviceid == inst.serviceid
    assert hw_client.find_by_label(hw_label) == inst
    assert hw_client.get_instance_ips(inst.serviceid) == [inst.main_ip]
    assert {loc.id for loc in hw_client.list_locations()} >= {"1", "2"}
    assert PLAN in {plan.rid for plan in hw_client.list_plans()}
    assert PLAN not in {plan.rid for plan in hw_client.list_plans(managed=True)}
    hw_client.terminate(inst.serviceid)
    hw_client.delete_ssh_key(key_name)


def test_create_adopts_existing_label(hw_client: HostwindsClient, hw_label: str) -> None:
    first = hw_client.create_instance(request_for(hw_label))
    second = hw_client.create_instance(request_for(hw_label))
    assert first.serviceid == second.serviceid
    assert labelled(hw_client, hw_label) == [first.serviceid]
    hw_client.terminate(first.serviceid)


def test_rename_reinstall_rdns_firewall_power(hw_client: HostwindsClient, hw_label: str) -> None:
    inst = hw_client.create_instance(request_for(hw_label))
    renamed = hw_client.rename(inst.serviceid, hw_label + "b")
    assert renamed is not None and renamed.label == hw_label + "b"
    again = hw_client.reinstall(inst.serviceid, DEBIAN_ID)
    assert again is not None and again.ready and again.image == DEBIAN_ID and again.image_name == "Debian 12"
    assert hw_client.rdns(inst.serviceid, inst.main_ip) is None
    hw_client.set_rdns(inst.serviceid, inst.main_ip, "mail.example.com")
    assert hw_client.rdns(inst.serviceid, inst.main_ip) == "mail.example.com"
    assert hw_client.rdns(inst.serviceid, "192.0.2.1") is None
    assert hw_client.get_firewall_profile(inst.serviceid).chosen_name == "default"
    hw_client.set_firewall_profile(inst.serviceid, "mail")
    assert hw_client.get_firewall_profile(inst.serviceid).matches("mail")
    hw_client.power(inst.serviceid, "shutdown")
    assert hw_client.get_instance(inst.serviceid).status == "STOPPED"
    hw_client.power(inst.serviceid, "boot")
    assert hw_client.wait_ready(inst.serviceid).status == "ACTIVE"
    hw_client.terminate(inst.serviceid)


def test_terminate_is_idempotent(hw_client: HostwindsClient, hw_label: str) -> None:
    inst = hw_client.create_instance(request_for(hw_label))
    assert hw_client.is_live(inst.serviceid)
    hw_client.terminate(inst.serviceid)
    assert not hw_client.is_live(inst.serviceid)
    hw_client.terminate(inst.serviceid)
    assert labelled(hw_client, hw_label) == []
    with pytest.raises(InvalidServiceIdError):
        hw_client.get_instance(inst.serviceid)


def test_api_errors_are_typed(hw_client: HostwindsClient, hw_label: str) -> None:
    with pytest.raises(HostwindsValidationError) as info:
        hw_client.create_instance(CreateRequest(hw_label, IMAGE, PLAN, location_id="999"))
    assert info.value.field == "location_id"
    with pytest.raises(InvalidServiceIdError):
        hw_client.get_instance(1)
    with pytest.raises(InvalidActionError):
        hw_client.call("no_such_action")
    with pytest.raises(HostwindsValidationError):
        hw_client.create_instance(request_for(hw_label, ("missing-key",)))
    assert labelled(hw_client, hw_label) == []


def test_wrong_key_is_auth_error(hw_sim: SimulatorServer) -> None:
    client = HostwindsClient(fast_settings(hw_sim.url, api_key="wrong-key-000000"))
    with pytest.raises(AuthError):
        client.list_instances()


def test_json_body_is_refused_like_the_real_api(hw_sim: SimulatorServer) -> None:
    reply = requests.post(hw_sim.url, json={"action": "get_instances", "API": HW_API_KEY}, timeout=5)
    assert reply.status_code == 200 and reply.json()["message"] == "Not Authorized!"


# --- faults -----------------------------------------------------------------------------------------------

def test_http_5xx_is_retried(hw_sim: SimulatorServer, hw_client: HostwindsClient) -> None:
    hw_sim.faults.inject("http_error", times=2, status=502)
    assert isinstance(hw_client.list_instances(), list)


def test_persistent_5xx_gives_up_after_three_tries(hw_sim: SimulatorServer, hw_client: HostwindsClient) -> None:
    hw_sim.faults.inject("http_error", times=3, status=503, action="get_locations")
    with pytest.raises(HostwindsTransientError, match="HTTP 503"):
        hw_client.list_locations()
    assert hw_sim.faults.pending() == []


def test_slow_reply_times_out_then_retry_succeeds(hw_sim: SimulatorServer) -> None:
    client = HostwindsClient(fast_settings(hw_sim.url, http_timeout=0.3))
    hw_sim.faults.inject("slow", delay=1.0, action="get_locations")
    assert client.list_locations()


def test_auth_failure_fault(hw_sim: SimulatorServer, hw_client: HostwindsClient) -> None:
    hw_sim.faults.inject("auth_failure")
    with pytest.raises(AuthError):
        hw_client.list_instances()
    assert hw_client.list_instances() is not None


def test_auth_failure_wrapped_in_list(hw_sim: SimulatorServer, hw_client: HostwindsClient) -> None:
    hw_sim.settings.update({"auth_error_wrapped_in_list": True})
    hw_sim.faults.inject("auth_failure")
    with pytest.raises(AuthError):
        hw_client.list_instances()


@pytest.mark.parametrize("drop", [False, True])
def test_lost_create_reply_rerun_ends_with_exactly_one(hw_sim: SimulatorServer, hw_client: HostwindsClient,
                                                       hw_label: str, drop: bool) -> None:
    hw_sim.faults.inject("lost_reply", action="add_instance", drop=drop)
    inst = hw_client.create_instance(request_for(hw_label))
    assert labelled(hw_client, hw_label) == [inst.serviceid]
    # A whole re-run (e.g. the next `pulumi up`) adopts instead of creating a second one.
    hw_sim.faults.inject("lost_reply", action="add_instance", times=None)
    again = HostwindsClient(fast_settings(hw_sim.url)).create_instance(request_for(hw_label))
    assert again.serviceid == inst.serviceid
    assert labelled(hw_client, hw_label) == [inst.serviceid]
    hw_client.terminate(inst.serviceid)


def test_lost_reply_without_client_retry_then_rerun(hw_sim: SimulatorServer, hw_label: str) -> None:
    """The first run dies on the lost reply (1 try); the second run finds and adopts the instance."""
    from hostwinds import RetryPolicy

    one_try = HostwindsClient(fast_settings(hw_sim.url, retry=RetryPolicy(attempts=1)))
    hw_sim.faults.inject("lost_reply", action="add_instance")
    with pytest.raises(HostwindsTransientError):
        one_try.create_instance(request_for(hw_label))
    rerun = HostwindsClient(fast_settings(hw_sim.url))
    inst = rerun.create_instance(request_for(hw_label))
    assert labelled(rerun, hw_label) == [inst.serviceid]
    rerun.terminate(inst.serviceid)


def test_success_but_nothing_happens_on_create(hw_sim: SimulatorServer, hw_label: str) -> None:
    from hostwinds import PollSettings

    client = HostwindsClient(fast_settings(hw_sim.url, poll=PollSettings(interval=0.02, timeout=0.3)))
    hw_sim.faults.inject("noop_success", action="add_instance")
    with pytest.raises(HostwindsError, match="no instance labelled"):
        client.create_instance(request_for(hw_label))
    assert labelled(client, hw_label) == []


def test_success_but_nothing_happens_on_rename(hw_sim: SimulatorServer, hw_client: HostwindsClient,
                                               hw_label: str) -> None:
    from hostwinds import PollSettings

    inst = hw_client.create_instance(request_for(hw_label))
    client = HostwindsClient(fast_settings(hw_sim.url, poll=PollSettings(interval=0.02, timeout=0.3)))
    hw_sim.faults.inject("noop_success", action="edit_instance")
    with pytest.raises(WaitTimeoutError, match="labelled"):
        client.rename(inst.serviceid, hw_label + "x")
    hw_client.terminate(inst.serviceid)


@pytest.mark.parametrize("style", ["http429", "body"])
def test_rate_limit_fault_is_retried(hw_sim: SimulatorServer, hw_client: HostwindsClient, style: str) -> None:
    hw_sim.settings.update({"rate_limit_reply": style})
    hw_sim.faults.inject("rate_limit", times=2)
    assert hw_client.list_locations()


def test_server_side_rate_limit_surfaces_as_rate_limited(hw_sim: SimulatorServer) -> None:
    from hostwinds import RetryPolicy

    hw_sim.settings.update({"rate_limit_per_second": 1, "rate_limit_reply": "body"})
    client = HostwindsClient(fast_settings(hw_sim.url, retry=RetryPolicy(attempts=1)))
    with pytest.raises(RateLimitedError):
        for _ in range(5):
            client.list_locations()


def test_breaker_opens_against_failing_api(hw_sim: SimulatorServer) -> None:
    from hostwinds import CircuitOpenError, RetryPolicy

    client = HostwindsClient(fast_settings(hw_sim.url, retry=RetryPolicy(attempts=1)))
    hw_sim.faults.inject("http_error", times=None)
    for _ in range(5):
        with pytest.raises(HostwindsTransientError):
            client.list_locations()
    with pytest.raises(CircuitOpenError):
        client.list_locations()


def test_no_secret_in_any_log_line(hw_sim: SimulatorServer, hw_label: str, caplog: pytest.LogCaptureFixture,
                                   sshhost_client_key: ClientKey) -> None:
    client = HostwindsClient(fast_settings(hw_sim.url))
    with caplog.at_level(logging.DEBUG):
        hw_sim.faults.inject("http_error", action="get_instance")
        client.add_ssh_key(hw_label, sshhost_client_key.public_line)
        inst = client.create_instance(request_for(hw_label, (hw_label,)))
        inst = client.get_instance(inst.serviceid)
        with pytest.raises(InvalidServiceIdError):
            client.get_instance(1)
        client.terminate(inst.serviceid)
        client.delete_ssh_key(hw_label)
    assert inst.password is not None and inst.configkey is not None
    secrets = [HW_API_KEY, inst.password.reveal(), inst.configkey.reveal()]
    text = "\n".join(r.getMessage() + (r.exc_text or "") for r in caplog.records)
    assert "get_instance" in text  # the capture did see the traffic
    for secret in secrets:
        assert secret not in text
        assert secret not in caplog.text
