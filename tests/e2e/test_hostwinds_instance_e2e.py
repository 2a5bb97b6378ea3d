"""``pulumi up`` / ``refresh`` / ``destroy`` of one ``hostwinds.Instance`` against the simulator, with the real engine.

Skipped (with the reason printed) when no ``pulumi`` CLI is found, unless CI=true, where that is a failure.
"""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

from sandbox.hostwinds_sim.server import SimulatorServer
from tests.e2e.engine import pulumi, pulumi_env, python_project
from tests.fixtures.hostwinds import HW_API_KEY

PROGRAM = textwrap.dedent("""\
    import os

    import pulumi

    from components.hostwinds_instance import Instance

    vps = Instance(
        "vps", label=os.environ["PM_E2E_LABEL"], location_id="1", plan_id="small", image="ubuntu-22.04",
        api_url=os.environ["PM_E2E_API_URL"], poll_interval=0.05, poll_timeout=60, retry_base_delay=0.01,
    )
    pulumi.export("serviceid", vps.serviceid)
    pulumi.export("main_ip", vps.main_ip)
    pulumi.export("status", vps.status)
    pulumi.export("label", vps.label)
""")


def test_up_refresh_destroy(hw_sim: SimulatorServer, tmp_path: Path) -> None:
    project = python_project(tmp_path / "project", "pm-hostwinds-e2e", PROGRAM)
    label = "pm-e2e-" + os.urandom(3).hex()
    env = pulumi_env(tmp_path / "state", {
        "HOSTWINDS_API_KEY": HW_API_KEY, "PM_E2E_LABEL": label, "PM_E2E_API_URL": hw_sim.url,
    })
    (tmp_path / "state").mkdir()

    def run(*args: str) -> str:
        return pulumi(project, env, *args).stdout

    def instances() -> list[dict[str, object]]:
        return [i.to_api(hw_sim.settings) for i in hw_sim.model.instances.values() if i.srvrname == label]

    def resource_outputs() -> dict[str, object]:
        # Stack outputs are only recomputed by `up`; refreshed values live in the resource's state.
        deployment = json.loads(run("stack", "export"))["deployment"]
        [resource] = [r for r in deployment["resources"] if r["type"].endswith("hostwinds:Instance")]
        outputs: dict[str, object] = resource["outputs"]
        return outputs

    run("stack", "init", "e2e")
    try:
        run("up", "--yes", "--skip-preview")
        outputs = json.loads(run("stack", "output", "--json"))
        assert outputs["status"] == "ACTIVE" and outputs["label"] == label
        live = instances()
        assert [str(i["serviceid"]) for i in live] == [outputs["serviceid"]]
        state = run("stack", "export", "--show-secrets")
        assert HW_API_KEY not in state and str(live[0]["password"]) not in state

        # Drift: renamed by hand; refresh sees it, the next up renames it back (update, not replace).
        hw_sim.model.instances[int(outputs["serviceid"])].srvrname = label + "-x"
        run("refresh", "--yes", "--skip-preview")
        assert resource_outputs()["label"] == label + "-x"
        run("up", "--yes", "--skip-preview")
        assert [(i["serviceid"], i["srvrname"]) for i in instances()] == [(live[0]["serviceid"], label)]
        assert resource_outputs()["label"] == label
    finally:
        run("destroy", "--yes", "--skip-preview")
    assert instances() == []
    run("stack", "rm", "--yes", "e2e")
