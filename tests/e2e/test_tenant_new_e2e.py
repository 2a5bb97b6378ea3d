"""Adding a tenant as an operator does after the demo: `invoke tenant.new` (defaults from the running sandbox's
connection settings), `pulumi stack init`, `pulumi up`, then `dns.check` and a no-change preview. A bad option is
one clear message and writes nothing."""

from __future__ import annotations

import pytest

from tests.e2e.day2 import assert_converged, invoke
from tests.fixtures.tenant import TenantProject


@pytest.mark.timeout(900)
def test_tenant_new_then_pulumi_up_converges(tenant_project: TenantProject) -> None:
    project, tenant = tenant_project, "fresh"
    domain = f"{tenant}.{project.settings.zone}"
    bad = invoke(project, "tenant.new", "--tenant", tenant, "--domain", domain, "--dns-port", "abc", check=False)
    assert bad.returncode == 2 and "pm:dns.port" in bad.stdout + bad.stderr and "Traceback" not in bad.stderr
    assert not (project.root / "stacks" / f"Pulumi.{tenant}.yaml").exists()

    invoke(project, "tenant.new", "--tenant", tenant, "--domain", domain, "--ssh-key-type", "ed25519",
           "--poll-interval", "0.1")
    project.init(tenant)
    project.pulumi("up", "--yes", "--skip-preview", stack=tenant)
    invoke(project, "dns.check", "--tenant", tenant)
    assert_converged(project, tenant)
