"""``pulumi up`` of a ``hostwinds.SshKey`` whose ``add_ssh_key`` reply is dropped (issue 11 item 8a), real engine.

Before the fix the first ``up`` failed on "SSH key name is already in use" (ERROR 4072) after the retry, and so
did every later one. Now the taken name is replaced within the same call: ``up`` succeeds, the account holds
exactly the stack's key, a second ``up`` changes nothing and ``destroy`` removes the key.
"""

from __future__ import annotations

import secrets
import textwrap
from pathlib import Path

from sandbox.hostwinds_sim.server import SimulatorServer
from tests.e2e.engine import pulumi, pulumi_env, python_project
from tests.fixtures.hostwinds import HW_API_KEY

PROGRAM = textwrap.dedent("""\
    import os

    import pulumi

    from components.hostwinds_network import SshKey

    key = SshKey("admin-key", name=os.environ["PM_E2E_KEY_NAME"], public_key=os.environ["PM_E2E_PUBLIC_KEY"],
                 api_url=os.environ["PM_E2E_API_URL"])
    pulumi.export("name", key.name)
""")


def test_up_after_a_dropped_add_ssh_key_reply(hw_sim: SimulatorServer, tmp_path: Path) -> None:
    name = f"pm-e2e{secrets.token_hex(3)}-admin"
    public_key = f"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI{secrets.token_hex(16)} pm-e2e"
    project = python_project(tmp_path / "project", "pm-hostwinds-sshkey-e2e", PROGRAM)
    env = pulumi_env(tmp_path / "state", {
        "HOSTWINDS_API_KEY": HW_API_KEY, "PM_E2E_KEY_NAME": name, "PM_E2E_PUBLIC_KEY": public_key,
        "PM_E2E_API_URL": hw_sim.url,
    })
    (tmp_path / "state").mkdir()

    def run(*args: str) -> str:
        return pulumi(project, env, *args).stdout

    run("stack", "init", "e2e")
    try:
        hw_sim.faults.inject("lost_reply", action="add_ssh_key", drop=True)
        run("up", "--yes", "--skip-preview")
        assert hw_sim.faults.pending() == []  # the reply really was dropped
        assert hw_sim.model.ssh_keys[name] == public_key
        run("preview", "--expect-no-changes")
        run("up", "--yes", "--skip-preview")
        assert hw_sim.model.ssh_keys[name] == public_key
    finally:
        run("destroy", "--yes", "--skip-preview")
    assert name not in hw_sim.model.ssh_keys
    run("stack", "rm", "--yes", "e2e")
