"""The SSH grace window is intent the engine keeps: during it the previous tenant key stays authorized across any
number of `pulumi up` (the installer rewrites authorized_keys from the intent, not from the current key alone), and
the engine removes it once a task records that the window ended."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.e2e.day2 import Logins, assert_converged, invoke
from tests.fixtures.tenant import TenantProject
from vault import kv, paths
from vault.client import VaultClient


@pytest.mark.timeout(1200)
def test_previous_key_survives_every_up_until_the_window_is_closed(tenant_project: TenantProject) -> None:
    project, tenant = tenant_project, "gracey"
    project.deploy(tenant)
    vault = VaultClient.from_env(project.sandbox_env)
    old = kv.current_version(vault, paths.tenant_ssh(tenant))

    invoke(project, "rotate.ssh", "--tenant", tenant, "--kind", "tenant")
    new = kv.current_version(vault, paths.tenant_ssh(tenant))
    for _ in range(2):  # any number of deploys keeps the window open
        project.pulumi("up", "--yes", "--skip-preview", stack=tenant)
    outputs = project.outputs(tenant)
    logins = Logins(vault, tenant, str(outputs["tenant_user"]), str(outputs["main_ip"]))
    assert logins.works(paths.SshKeyKind.TENANT, old) and logins.works(paths.SshKeyKind.TENANT, new)

    early = invoke(project, "rotate.finish", "--tenant", tenant)  # the window has not ended: nothing closes
    assert "nothing has ended" in early.stdout
    assert logins.works(paths.SshKeyKind.TENANT, old)

    later = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=25)).strftime("%Y-%m-%dT%H:%M:%SZ")
    invoke(project, "rotate.finish", "--tenant", tenant, "--now", later)
    assert not logins.works(paths.SshKeyKind.TENANT, old) and logins.works(paths.SshKeyKind.TENANT, new)
    assert_converged(project, tenant)
