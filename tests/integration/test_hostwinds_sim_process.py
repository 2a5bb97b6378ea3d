"""The simulator as a background process: admin endpoint, restart with state and hosts kept, clean stop."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hostwinds import CreateRequest, HostwindsClient
from sandbox.hostwinds_sim.process import SimulatorProcess
from tests.fixtures.hostwinds import HW_API_KEY, IMAGE_ID, LOCATION_ID, PLAN_ID, fast_settings
from tests.fixtures.ssh import ClientKey, require_vps_hosts, ssh_connect, ssh_run
from toolkit.net import free_port


@pytest.fixture
def sim_process(tmp_path: Path) -> Iterator[SimulatorProcess]:
    require_vps_hosts()
    process = SimulatorProcess(tmp_path / "sim", free_port(), HW_API_KEY)
    process.start()
    yield process
    process.stop()


def test_state_and_hosts_survive_a_restart(sim_process: SimulatorProcess, sshhost_client_key: ClientKey) -> None:
    client = HostwindsClient(fast_settings(sim_process.url))
    client.add_ssh_key("k1", sshhost_client_key.public_line)
    inst = client.create_instance(CreateRequest("pm-proc-1", IMAGE_ID, PLAN_ID, LOCATION_ID, ("k1",)))
    with ssh_connect(inst.main_ip, sshhost_client_key) as ssh:
        ssh_run(ssh, "mkdir -p /mailu && echo persisted > /mailu/data")
    assert sim_process.stop()
    assert not Path(f"{sim_process.state_dir}/vps/{inst.serviceid}/sshd.pid").exists()
    sim_process.start()
    again = client.get_instance(inst.serviceid)
    assert (again.label, again.main_ip, again.status) == ("pm-proc-1", inst.main_ip, "ACTIVE")
    with ssh_connect(inst.main_ip, sshhost_client_key) as ssh:
        assert ssh_run(ssh, "cat /mailu/data")[1] == "persisted\n"
    client.terminate(inst.serviceid)


def test_admin_endpoint_injects_faults_and_drift(sim_process: SimulatorProcess) -> None:
    admin = sim_process.admin()
    client = HostwindsClient(fast_settings(sim_process.url))
    inst = client.create_instance(CreateRequest("pm-proc-2", IMAGE_ID, PLAN_ID, LOCATION_ID))
    admin.inject("http_error", times=1, status=500)
    assert client.get_instance(inst.serviceid).serviceid == inst.serviceid
    assert admin.faults() == []
    admin.patch_instance(inst.serviceid, status="STOPPED", srvrname="renamed-by-hand")
    drifted = client.get_instance(inst.serviceid)
    assert (drifted.status, drifted.label) == ("STOPPED", "renamed-by-hand")
    listed = admin.instances()
    assert "password" not in listed[0] and "configkey" not in listed[0]
    admin.update_settings(build_delay=0.0)
    client.terminate(inst.serviceid)


def test_process_log_holds_no_key(sim_process: SimulatorProcess) -> None:
    HostwindsClient(fast_settings(sim_process.url)).list_instances()
    sim_process.stop()
    assert HW_API_KEY not in sim_process.spec.log_file.read_text()
