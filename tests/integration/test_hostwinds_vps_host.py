"""Simulated VPSes are real SSH hosts: key login, private files, recorded stand-ins, nothing left behind."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hostwinds import CreateRequest, HostwindsClient
from sandbox.hostwinds_sim.server import SimulatorServer
from tests.fixtures.hostwinds import IMAGE_ID, LOCATION_ID, PLAN_ID
from tests.fixtures.ssh import ClientKey, new_client_key, ssh_connect, ssh_run
from toolkit.errors import ValidationError

COMPOSE = "services:\n  front:\n    image: nginx\n  admin:\n    image: mailu/admin\n"


def processes_inside(root_dir: Path) -> list[int]:
    """Pids whose root directory lies inside a VPS host's directory (i.e. processes of that VPS)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                root = os.readlink(entry / "root")
            except OSError:
                continue
            if root.startswith(root_dir.as_posix()):
                pids.append(int(entry.name))
    return pids


def test_key_login_and_pinned_host_key(sshhost_factory: Callable[..., Any], sshhost_client_key: ClientKey) -> None:
    host = sshhost_factory("alpha")
    client = ssh_connect(host.address, sshhost_client_key, host_key_line=host.known_hosts_line())
    with client:
        code, out, _ = ssh_run(client, "hostname; id -u; cat /etc/hostname")
    assert code == 0
    assert out.split() == ["alpha", "0", "alpha"]


def test_unknown_key_is_refused(sshhost_factory: Callable[..., Any]) -> None:
    import paramiko

    host = sshhost_factory("beta")
    with pytest.raises(paramiko.AuthenticationException):
        ssh_connect(host.address, new_client_key())


def test_two_hosts_do_not_share_files(sshhost_factory: Callable[..., Any], sshhost_client_key: ClientKey) -> None:
    one, two = sshhost_factory("one"), sshhost_factory("two")
    assert one.address != two.address
    with ssh_connect(one.address, sshhost_client_key) as c1:
        ssh_run(c1, "mkdir -p /mailu && echo one > /mailu/marker && echo one > /etc/pm-marker && echo x > /root/f")
    with ssh_connect(two.address, sshhost_client_key) as c2:
        _, out, _ = ssh_run(c2, "ls /mailu/marker /etc/pm-marker /root/f 2>&1; ls /root")
    assert "No such file" in out and "marker" not in out.replace("/mailu/marker", "").replace("/etc/pm-marker", "")
    assert one.read_text("/mailu/marker") == "one\n"
    assert not Path("/mailu/marker").exists() and not Path("/etc/pm-marker").exists()
    assert not two.path("/mailu/marker").exists()


def test_standins_record_calls_and_report_health(sshhost_factory: Callable[..., Any],
                                                 sshhost_client_key: ClientKey) -> None:
    host = sshhost_factory("gamma")
    with ssh_connect(host.address, sshhost_client_key) as client:
        ssh_run(client, f"mkdir -p /mailu && printf '{COMPOSE}' > /mailu/docker-compose.yml")
        assert ssh_run(client, "cd /mailu && docker compose config -q")[0] == 0
        assert ssh_run(client, "cd /mailu && docker compose up -d")[0] == 0
        code, out, _ = ssh_run(client, "cd /mailu && docker compose ps --format json")
        assert code == 0 and out.count('"Health": "healthy"') == 2
        assert ssh_run(client, "apt-get install -y fail2ban && systemctl restart fail2ban && ufw allow 25/tcp "
                               "&& /usr/bin/systemctl is-active docker && fail2ban-client ping")[0] == 0
    tools = [call["tool"] for call in host.standin_calls()]
    assert tools[:3] == ["docker", "docker", "docker"]
    assert {"apt-get", "systemctl", "ufw", "fail2ban-client"} <= set(tools)
    assert host.standin_calls()[1]["args"] == ["compose", "up", "-d"]


def test_stop_leaves_nothing_behind_and_start_keeps_files(sshhost_factory: Callable[..., Any],
                                                          sshhost_client_key: ClientKey) -> None:
    host = sshhost_factory("delta")
    with ssh_connect(host.address, sshhost_client_key) as client:
        ssh_run(client, "echo kept > /root/kept; setsid sleep 600 </dev/null >/dev/null 2>&1 &")
    assert processes_inside(host.root_dir)  # sshd (and the detached sleep) run inside the VPS
    assert host.stop()
    assert processes_inside(host.root_dir) == []
    host.start()
    assert host.read_text("/root/kept") == "kept\n"
    host.remove()
    assert processes_inside(host.root_dir) == []
    assert not host.root_dir.exists()


def test_bad_inputs_name_the_field(tmp_path: Path) -> None:
    from sandbox.vps_host import VpsHost

    with pytest.raises(ValidationError) as info:
        VpsHost.create(tmp_path / "x", ["not a key"])
    assert info.value.field == "authorized_keys"
    with pytest.raises(ValidationError) as info:
        VpsHost.create(tmp_path / "y", [], address="10.0.0.1")
    assert info.value.field == "address"


def test_simulated_instance_is_an_ssh_host(hw_sim: SimulatorServer, hw_client: HostwindsClient, hw_label: str,
                                           sshhost_client_key: ClientKey) -> None:
    hw_client.add_ssh_key(hw_label, sshhost_client_key.public_line)
    inst = hw_client.create_instance(CreateRequest(hw_label, IMAGE_ID, PLAN_ID, LOCATION_ID, (hw_label,)))
    with ssh_connect(inst.main_ip, sshhost_client_key) as client:
        assert ssh_run(client, "hostname")[1].strip() == f"hwsrv-{inst.serviceid}"
        ssh_run(client, "echo before > /root/data")
    hw_client.reinstall(inst.serviceid, IMAGE_ID)
    with ssh_connect(inst.main_ip, sshhost_client_key) as client:
        assert ssh_run(client, "cat /root/data")[0] != 0  # reinstall gives a fresh disk
    host = hw_sim.model.hosts.host(int(inst.serviceid))
    assert host is not None
    hw_client.terminate(inst.serviceid)
    assert not host.running() and not host.root_dir.exists()
    hw_client.delete_ssh_key(hw_label)
