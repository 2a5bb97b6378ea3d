"""The dynamic provider's create / read / update / delete against the simulator, without the engine."""

from __future__ import annotations

import pytest

from components.hostwinds_instance import InstanceProvider
from sandbox.hostwinds_sim.server import SimulatorServer
from tests.fixtures.hostwinds import HW_API_KEY


def test_provider_lifecycle(hw_sim: SimulatorServer, hw_label: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOSTWINDS_API_KEY", HW_API_KEY)
    props = {"label": hw_label, "location_id": "1", "plan_id": "small", "image": "ubuntu-22.04",
             "ssh_key_names": [], "api_url": hw_sim.url, "poll_interval": 0.02, "poll_timeout": 10,
             "retry_base_delay": 0.001}
    provider = InstanceProvider()
    created = provider.create(props)
    outs = created.outs or {}
    assert outs["status"] == "ACTIVE" and outs["serviceid"] == created.id and outs["main_ip"]
    live = hw_sim.model.instances[int(created.id)]
    assert live.password not in str(outs) and HW_API_KEY not in str(outs)

    # Drift: label and status changed behind Pulumi's back.
    live.srvrname, live.status = hw_label + "-x", "STOPPED"
    read = provider.read(created.id, outs)
    assert read.outs is not None and read.inputs is not None
    assert read.outs["status"] == "STOPPED" and read.inputs["label"] == hw_label + "-x"
    diff = provider.diff(created.id, read.outs, props)
    assert diff.changes and diff.replaces == []
    live.status = "ACTIVE"
    updated = provider.update(created.id, read.outs, props)
    assert (updated.outs or {})["label"] == hw_label

    provider.delete(created.id, outs)
    assert int(created.id) not in hw_sim.model.instances
    assert provider.read(created.id, outs).id is None
