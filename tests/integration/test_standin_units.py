"""The VPS stand-in's systemctl really runs the units an installer writes (a cluster that does not run proves
nothing), and answers for other units as before."""

from __future__ import annotations

from collections.abc import Callable

from tests.fixtures.ssh import ClientKey, ssh_connect, ssh_run
from toolkit.wait import wait_for

UNIT = """[Unit]
Description=test listener
[Service]
Environment=PM_GREETING=hello
WorkingDirectory=/srv
ExecStart=/usr/bin/python3 -c "{script}"
"""
SCRIPT = ("import os, socket, time; s = socket.socket(); s.bind(('{address}', 8123)); s.listen(); "
          "open('/srv/greeting', 'w').write(os.environ['PM_GREETING']); time.sleep(3600)")


def test_unit_start_stop_enable(sshhost_factory: Callable[..., object], sshhost_client_key: ClientKey) -> None:
    host = sshhost_factory("units")
    address = host.address  # type: ignore[attr-defined]
    client = ssh_connect(address, sshhost_client_key)
    try:
        assert ssh_run(client, "systemctl is-active docker")[:2] == (0, "active\n")  # unmanaged: as before
        unit = UNIT.replace("{script}", SCRIPT).replace("{address}", address)
        assert ssh_run(client, f"cat > /etc/systemd/system/probe.service <<'EOF'\n{unit}EOF\n")[0] == 0
        assert ssh_run(client, "systemctl is-active probe")[:2] == (3, "inactive\n")
        assert ssh_run(client, "systemctl enable --now probe && systemctl is-enabled probe")[:2] == (0, "enabled\n")
        greeting = host.path("/srv/greeting")  # type: ignore[attr-defined]
        wait_for(lambda: greeting.exists() and greeting.read_text() == "hello", what="the unit's process", timeout=20)
        pid = ssh_run(client, "cat /run/pm-standins/units/probe.pid")[1].strip()
        assert ssh_run(client, f"test -d /proc/{pid} && systemctl is-active probe")[:2] == (0, "active\n")
        assert ssh_run(client, "systemctl restart probe && cat /run/pm-standins/units/probe.pid")[1].strip() != pid
        assert ssh_run(client, "systemctl stop probe; systemctl is-active probe")[:2] == (3, "inactive\n")
        assert ssh_run(client, f"test -d /proc/{pid}")[0] != 0
    finally:
        client.close()
