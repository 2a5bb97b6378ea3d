"""The day-2 journey of one tenant, driven as an operator drives it (invoke as a subprocess, the sandbox's env).

After every step: `pulumi preview --expect-no-changes` passes, `pulumi up --refresh` changes nothing, `dns.check`
passes, the keys that should open the VPS do and the others are refused, no burned or finished selector is in DNS,
and exactly one VPS carries the tenant's label. Time moves with `--now`, never by sleeping.
"""

from __future__ import annotations

import datetime as dt

import pytest

from fleet.intent import load
from tests.e2e.day2 import Logins, assert_converged, invoke, txt, vps_count
from tests.fixtures.tenant import TenantProject
from vault import kv, paths
from vault.client import VaultClient

ADMIN, TENANT = paths.SshKeyKind.ADMIN, paths.SshKeyKind.TENANT


def _version(vault: VaultClient, tenant: str, kind: paths.SshKeyKind) -> int:
    return kv.current_version(vault, paths.ssh_key(tenant, kind))


def _stamp(delta: dt.timedelta) -> str:
    return (dt.datetime.now(dt.UTC) + delta).strftime("%Y-%m-%dT%H:%M:%SZ")


class Journey:
    def __init__(self, project: TenantProject, tenant: str) -> None:
        self.project, self.tenant = project, tenant
        self.vault = VaultClient.from_env(project.sandbox_env)
        self.domain = f"{tenant}.{project.settings.zone}"
        self.gone_selectors: set[str] = set()

    def logins(self) -> Logins:
        outputs = self.project.outputs(self.tenant)
        return Logins(self.vault, self.tenant, str(outputs["tenant_user"]), str(outputs["main_ip"]))

    def check(self, *, open_keys: dict[paths.SshKeyKind, list[int]],
              closed_keys: dict[paths.SshKeyKind, list[int]]) -> None:
        assert_converged(self.project, self.tenant)
        invoke(self.project, "dns.check", "--tenant", self.tenant)
        logins = self.logins()
        for kind, versions in open_keys.items():
            for version in versions:
                assert logins.works(kind, version), f"{kind.value} v{version} should open the VPS"
        for kind, versions in closed_keys.items():
            for version in versions:
                assert not logins.works(kind, version), f"{kind.value} v{version} should be refused"
        for selector in self.gone_selectors:
            assert not txt(self.project, f"{selector}._domainkey.{self.domain}"), f"{selector} still in DNS"
        assert vps_count(self.project, self.tenant) == 1

    def state(self, selector: str) -> str:
        return str(kv.read(self.vault, paths.dkim(self.domain, selector)).data["state"])


@pytest.mark.timeout(1800)
def test_day2_journey(tenant_project: TenantProject) -> None:
    project, tenant = tenant_project, "journey"
    project.deploy(tenant)
    j = Journey(project, tenant)
    a1, t1 = _version(j.vault, tenant, ADMIN), _version(j.vault, tenant, TENANT)
    first = load(j.vault, tenant)
    assert first is not None
    assert j.state(first.dkim.selector) == "active"  # pending -> active once verified
    j.check(open_keys={ADMIN: [a1], TENANT: [t1]}, closed_keys={})

    invoke(project, "rotate.ssh", "--tenant", tenant, "--kind", "admin")
    a2 = _version(j.vault, tenant, ADMIN)
    assert a2 == a1 + 1
    j.check(open_keys={ADMIN: [a1, a2], TENANT: [t1]}, closed_keys={})

    invoke(project, "rotate.ssh", "--tenant", tenant, "--kind", "tenant")
    t2 = _version(j.vault, tenant, TENANT)
    j.check(open_keys={ADMIN: [a1, a2], TENANT: [t1, t2]}, closed_keys={})

    smtp_before = kv.current_version(j.vault, paths.smtp_admin(tenant))
    result = invoke(project, "rotate.smtp", "--tenant", tenant, check=False)
    assert result.returncode == 3 and "UNVERIFIED" in result.stdout  # no IMAPS listener in the sandbox
    assert kv.current_version(j.vault, paths.smtp_admin(tenant)) == smtp_before + 1
    j.check(open_keys={ADMIN: [a2], TENANT: [t2]}, closed_keys={})

    invoke(project, "rotate.dkim", "--tenant", tenant)
    rotated = load(j.vault, tenant)
    assert rotated is not None and rotated.dkim.selector != first.dkim.selector
    assert txt(project, f"{first.dkim.selector}._domainkey.{j.domain}")  # overlap: both published
    assert j.state(first.dkim.selector) == "retired" and j.state(rotated.dkim.selector) == "active"
    j.check(open_keys={ADMIN: [a1, a2], TENANT: [t1, t2]}, closed_keys={})

    invoke(project, "rotate.finish", "--tenant", tenant, "--now", _stamp(dt.timedelta(days=3)))
    j.gone_selectors.add(first.dkim.selector)
    j.check(open_keys={ADMIN: [a2], TENANT: [t2]}, closed_keys={ADMIN: [a1], TENANT: [t1]})

    invoke(project, "ssh.revoke", "--tenant", tenant, "--kind", "tenant", "--reason", "laptop stolen")
    j.check(open_keys={ADMIN: [a2]}, closed_keys={TENANT: [t1, t2]})
    invoke(project, "ssh.regenerate", "--tenant", tenant, "--kind", "tenant")
    t4 = _version(j.vault, tenant, TENANT)
    j.check(open_keys={ADMIN: [a2], TENANT: [t4]}, closed_keys={TENANT: [t1, t2]})

    before = load(j.vault, tenant)
    assert before is not None
    invoke(project, "dr.migrate", "--tenant", tenant, "--reason", "compromise")
    after = load(j.vault, tenant)
    assert after is not None and after.dkim.selector != before.dkim.selector
    j.gone_selectors.add(before.dkim.selector)
    assert j.state(before.dkim.selector) == "compromised"
    j.check(open_keys={ADMIN: [a2], TENANT: [t4]}, closed_keys={ADMIN: [a1], TENANT: [t2]})

    invoke(project, "dr.migrate", "--tenant", tenant, "--reason", "failure")
    j.check(open_keys={ADMIN: [a2], TENANT: [t4]}, closed_keys={ADMIN: [a1]})

    invoke(project, "rotate.due", "--tenant", tenant, "--now", _stamp(dt.timedelta(days=100)))
    a3, t5 = _version(j.vault, tenant, ADMIN), _version(j.vault, tenant, TENANT)
    assert a3 == a2 + 1 and t5 == t4 + 1  # both SSH keys were 90+ days old
    j.check(open_keys={ADMIN: [a2, a3], TENANT: [t4, t5]}, closed_keys={ADMIN: [a1]})
