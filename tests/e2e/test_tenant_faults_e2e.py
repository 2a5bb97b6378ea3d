"""Hostwinds faults during `pulumi up` of a tenant: success after retries, or a clear failure after which a
re-run converges - and never a leaked (double-billed) VPS."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sandbox.hostwinds_sim.process import AdminClient
from tests.fixtures.tenant import TenantProject


@pytest.fixture
def sim_admin(tenant_project: TenantProject) -> Iterator[AdminClient]:
    admin = AdminClient(tenant_project.sandbox_env["HOSTWINDS_API_URL"].split("/cloud/")[0],
                        tenant_project.sandbox_env["HOSTWINDS_API_KEY"])
    admin.clear_faults()
    yield admin
    admin.clear_faults()


def _labels(admin: AdminClient, tenant: str) -> list[str]:
    return [str(i["srvrname"]) for i in admin.instances() if str(i.get("srvrname", "")).startswith(f"pm-{tenant}-")]


def _up_destroy(project: TenantProject, tenant: str) -> None:
    project.pulumi("preview", "--expect-no-changes", stack=tenant)
    project.pulumi("destroy", "--yes", "--skip-preview", stack=tenant)


pytestmark = pytest.mark.timeout(600)  # each case is a whole tenant `up` against injected API faults


@pytest.mark.parametrize("fault", [
    {"kind": "http_error", "status": 503, "times": 2},
    {"kind": "lost_reply", "times": 1},
    {"kind": "slow", "delay": 0.5, "times": 3},
], ids=["5xx-twice", "create-reply-lost", "slow-replies"])
def test_transient_faults_succeed_after_retries(
    tenant_project: TenantProject, sim_admin: AdminClient, fault: dict[str, object]
) -> None:
    tenant = f"flt{abs(hash(str(fault))) % 10_000}"
    tenant_project.write_stack(tenant)
    tenant_project.init(tenant)
    sim_admin.inject(action="add_instance", **fault)  # type: ignore[arg-type]
    tenant_project.pulumi("up", "--yes", "--skip-preview", stack=tenant)
    assert _labels(sim_admin, tenant) == [f"pm-{tenant}-1"]  # exactly one VPS, even when the reply was lost
    _up_destroy(tenant_project, tenant)
    assert _labels(sim_admin, tenant) == []


def test_auth_failure_is_clear_and_a_rerun_converges(tenant_project: TenantProject, sim_admin: AdminClient) -> None:
    tenant = "authfail"
    tenant_project.write_stack(tenant)
    tenant_project.init(tenant)
    sim_admin.inject("auth_failure", times=None)
    failed = tenant_project.pulumi("up", "--yes", "--skip-preview", stack=tenant, check=False)
    assert failed.returncode != 0
    assert "Not Authorized" in failed.stdout + failed.stderr
    assert tenant_project.sandbox_env["HOSTWINDS_API_KEY"] not in failed.stdout + failed.stderr
    sim_admin.clear_faults()
    tenant_project.pulumi("up", "--yes", "--skip-preview", stack=tenant)
    assert _labels(sim_admin, tenant) == [f"pm-{tenant}-1"]
    _up_destroy(tenant_project, tenant)


def test_success_but_nothing_happens_then_rerun(tenant_project: TenantProject, sim_admin: AdminClient) -> None:
    tenant = "noop"
    tenant_project.write_stack(tenant, hostwinds={"poll_timeout": 3})
    tenant_project.init(tenant)
    sim_admin.inject("noop_success", action="add_instance", times=None)
    failed = tenant_project.pulumi("up", "--yes", "--skip-preview", stack=tenant, check=False)
    assert failed.returncode != 0
    assert f"pm-{tenant}-1" in failed.stdout + failed.stderr  # the message names the instance it waited for
    assert _labels(sim_admin, tenant) == []
    sim_admin.clear_faults()
    tenant_project.pulumi("up", "--yes", "--skip-preview", stack=tenant)
    assert _labels(sim_admin, tenant) == [f"pm-{tenant}-1"]
    _up_destroy(tenant_project, tenant)
