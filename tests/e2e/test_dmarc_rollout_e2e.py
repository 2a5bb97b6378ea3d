"""The DMARC rollout of one domain through the engine, with time moved by `--now` (never by sleeping): created at
day 0 with p=none, held, blocked by a record someone changed at the DNS server, then p=quarantine; pct=10 at day 31
and p=reject at day 91. Each stage is read back from the BIND server itself and followed by a clean
`pulumi preview --expect-no-changes` (and `pulumi up --refresh` with no change); `status` shows the stage, since
when and the next step's date."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from dnsrecords import wire
from dnsrecords.providers.registry import make_provider
from dnsrecords.records import Record
from fleet.intent import TenantIntent, load
from fleet.verify import dns_settings
from tests.e2e.day2 import assert_converged, invoke
from tests.fixtures.tenant import TenantProject
from toolkit import stack_files
from toolkit.clock import iso, parse_instant
from vault.client import VaultClient


def _published(project: TenantProject, domain: str) -> str:
    record = wire.authoritative_record("127.0.0.1", project.settings.dns_port, f"_dmarc.{domain}", "TXT")
    assert record is not None, f"no DMARC record for {domain} at the BIND server"
    return "".join(record.values)


def _intent(vault: VaultClient, tenant: str) -> TenantIntent:
    current = load(vault, tenant)
    assert current is not None and current.dmarc is not None
    return current


@pytest.mark.timeout(1800)
def test_dmarc_walks_none_quarantine_reject_unless_held_or_unverified(tenant_project: TenantProject) -> None:
    project, tenant = tenant_project, "dmarcy"
    project.deploy(tenant)
    vault = VaultClient.from_env(project.sandbox_env)
    domain = f"{tenant}.{project.settings.zone}"
    rua = f"rua=mailto:dmarc@{domain}"
    start = _intent(vault, tenant)
    assert start.dmarc is not None and start.dmarc.stage == "none"
    day0 = parse_instant(start.dmarc.began["none"])

    def day(n: int) -> str:
        return iso(day0 + dt.timedelta(days=n))

    assert _published(project, domain) == f"v=DMARC1; p=none; {rua}"
    early = invoke(project, "rotate.due", "--tenant", tenant, "--dry-run", "--now", day(29))
    assert "0 to advance" in early.stdout

    # A hold keeps the domain where it is (and publishes nothing: the stack still converges).
    project.write_stack(tenant, dmarc_hold=True)
    held = invoke(project, "rotate.due", "--tenant", tenant, "--now", day(31))
    assert "1 held" in held.stdout and _intent(vault, tenant).revision == start.revision
    assert _published(project, domain) == f"v=DMARC1; p=none; {rua}"
    project.pulumi("preview", "--expect-no-changes", stack=tenant)
    project.write_stack(tenant)

    # The record at the authoritative server is not what the stack says: nothing advances, the job exits 1.
    config = stack_files.load(project.root / "stacks", tenant)
    provider = make_provider("rfc2136", dns_settings(config), secret=project.sandbox_env["PM_DNS_TSIG_SECRET"])
    provider.upsert(Record.txt(f"_dmarc.{domain}", "v=DMARC1; p=reject", config.ttl))
    blocked = invoke(project, "rotate.due", "--tenant", tenant, "--now", day(31), check=False)
    assert blocked.returncode == 1 and "1 blocked" in blocked.stdout, blocked.stdout[-3000:]
    assert "NOT advanced" in blocked.stdout and _intent(vault, tenant).revision == start.revision
    project.pulumi("up", "--refresh", "--yes", "--skip-preview", stack=tenant)  # the engine puts it back

    dry = invoke(project, "rotate.due", "--tenant", tenant, "--dry-run", "--now", day(31))
    assert "1 to advance" in dry.stdout and "none -> quarantine" in dry.stdout
    assert _intent(vault, tenant).revision == start.revision  # a dry run changes nothing

    invoke(project, "rotate.due", "--tenant", tenant, "--now", day(31))
    assert _published(project, domain) == f"v=DMARC1; p=quarantine; pct=10; {rua}"
    quarantined = _intent(vault, tenant).dmarc
    assert quarantined is not None and quarantined.began["quarantine"] == day(31) and quarantined.stage == "quarantine"
    assert_converged(project, tenant)
    shown = invoke(project, "status", "--tenant", tenant, "--json", "--stacks-dir", str(project.root / "stacks"),
                   check=False)
    dns_check = json.loads(shown.stdout)["tenants"][0]["checks"]["dns"]
    assert dns_check["dmarc"] == {"stage": "quarantine", "since": day(31), "next_stage": "reject",
                                  "next_at": day(91), "held": False}
    assert f"DMARC p=quarantine; pct=10 since {day(31)}; reject due {day(91)}" in dns_check["summary"]

    invoke(project, "rotate.due", "--tenant", tenant, "--now", day(91))
    assert _published(project, domain) == f"v=DMARC1; p=reject; {rua}"
    final = _intent(vault, tenant)
    assert final.dmarc is not None and final.dmarc.began["reject"] == day(91) and final.pending is None
    assert_converged(project, tenant)
    invoke(project, "dns.check", "--tenant", tenant)
