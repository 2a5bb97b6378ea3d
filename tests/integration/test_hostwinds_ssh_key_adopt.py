"""Registering an SSH key whose earlier reply was lost (issue 11 item 8a), against the simulator's fault injection.

A dropped reply to ``add_ssh_key`` used to leave the key registered while the call failed; every later ``up`` then
failed on "SSH key name is already in use" (ERROR 4072). The API cannot show a key, so a taken name is replaced:
the account ends up holding exactly the requested key, whoever registered the name before.
"""

from __future__ import annotations

import logging
import secrets

import pytest

from components.hostwinds_network import _SshKeyProvider
from hostwinds import HostwindsClient, HostwindsTransientError, RetryPolicy
from sandbox.hostwinds_sim.server import SimulatorServer
from tests.fixtures.hostwinds import HW_API_KEY, fast_settings


def key_line() -> str:
    return f"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI{secrets.token_hex(16)} pm-test"


def key_name() -> str:
    return f"pm-t{secrets.token_hex(4)}-admin"


def test_dropped_add_reply_is_adopted_in_the_same_call(hw_sim: SimulatorServer, hw_client: HostwindsClient) -> None:
    name, line = key_name(), key_line()
    hw_sim.faults.inject("lost_reply", action="add_ssh_key", drop=True)
    hw_client.add_ssh_key(name, line)
    assert hw_sim.model.ssh_keys[name] == line
    assert hw_sim.faults.pending() == []


def test_next_run_after_a_failed_add_succeeds(hw_sim: SimulatorServer) -> None:
    """The first run gives up (no retries left) with the key registered; the next run must not fail on 4072."""
    name, line = key_name(), key_line()
    hw_sim.faults.inject("lost_reply", action="add_ssh_key", drop=True)
    first_run = HostwindsClient(fast_settings(hw_sim.url, retry=RetryPolicy(attempts=1, base_delay=0.001)))
    with pytest.raises(HostwindsTransientError):
        first_run.add_ssh_key(name, line)
    assert hw_sim.model.ssh_keys[name] == line  # the call went through; only its reply was lost
    HostwindsClient(fast_settings(hw_sim.url)).add_ssh_key(name, line)
    assert hw_sim.model.ssh_keys[name] == line


def test_a_different_key_under_the_name_is_replaced_not_adopted(
    hw_sim: SimulatorServer, hw_client: HostwindsClient, caplog: pytest.LogCaptureFixture,
) -> None:
    name, ours, foreign = key_name(), key_line(), key_line()
    hw_client.add_ssh_key(name, foreign)
    with caplog.at_level(logging.WARNING, logger="hostwinds"):
        hw_client.add_ssh_key(name, ours)
    assert hw_sim.model.ssh_keys[name] == ours
    assert f"SSH key named {name} already exists" in caplog.text and "replacing" in caplog.text


def test_delete_is_idempotent_even_when_its_reply_is_lost(hw_sim: SimulatorServer,
                                                         hw_client: HostwindsClient) -> None:
    name = key_name()
    hw_client.add_ssh_key(name, key_line())
    hw_sim.faults.inject("lost_reply", action="delete_ssh_key", drop=True)
    hw_client.delete_ssh_key(name)  # retried: the retry finds it gone
    assert name not in hw_sim.model.ssh_keys
    hw_client.delete_ssh_key(name)


def test_provider_create_after_a_dropped_reply(hw_sim: SimulatorServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOSTWINDS_API_KEY", HW_API_KEY)
    name, line = key_name(), key_line()
    provider = _SshKeyProvider()
    hw_sim.faults.inject("lost_reply", action="add_ssh_key", drop=True)
    created = provider.create({"name": name, "public_key": line, "api_url": hw_sim.url, "retry_base_delay": 0.001})
    assert created.id == name and hw_sim.model.ssh_keys[name] == line
    provider.delete(name, {"name": name, "public_key": line, "api_url": hw_sim.url})
    assert name not in hw_sim.model.ssh_keys
