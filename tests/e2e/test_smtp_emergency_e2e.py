"""The SMTP emergency reset through the engine, as an operator runs it: refused without an incident id, killed right
after Mailu was changed and completed by the same command, then checked from outside: one new Vault version with a
48-byte password that marks the old version compromised with the incident, Mailu holding the new password (the
installer's marker on the VPS), the incident in the audit log, and the clear passwords nowhere in the output or the
audit log. No IMAPS listens in the sandbox, so the login is reported UNVERIFIED (exit 3)."""

from __future__ import annotations

import base64
import json

import pytest

from fleet.intent import load
from fleet.migrate_journal import CRASH_ENV, CRASH_EXIT_CODE
from mailu.installer import ADMIN_MARKER, admin_marker_matches
from tests.e2e.day2 import assert_converged, invoke
from tests.fixtures.tenant import TenantProject
from toolkit.ssh import KnownHosts, SshExecutor
from vault import keys, kv, paths, smtp
from vault.client import VaultClient


@pytest.mark.timeout(1200)
def test_emergency_reset_marks_the_old_version_compromised_and_resumes(tenant_project: TenantProject) -> None:
    project, tenant = tenant_project, "urgent"
    outputs = project.deploy(tenant)
    vault = VaultClient.from_env(project.sandbox_env)
    path = paths.smtp_admin(tenant)
    old, old_password = kv.current_version(vault, path), smtp.decrypt_password(vault, tenant)
    before = load(vault, tenant)
    assert before is not None

    refused = invoke(project, "rotate.smtp", "--tenant", tenant, "--emergency", check=False)
    assert refused.returncode == 2 and "--incident" in refused.stdout
    after_refusal = load(vault, tenant)
    assert kv.current_version(vault, path) == old and after_refusal is not None
    assert after_refusal.revision == before.revision  # nothing was recorded

    crashed = invoke(project, "rotate.smtp", "--tenant", tenant, "--incident", "INC-7", check=False,
                     extra_env={CRASH_ENV: "deployed"})  # killed after `pulumi up` set it in Mailu
    assert crashed.returncode == CRASH_EXIT_CODE, crashed.stdout[-3000:]
    other = invoke(project, "rotate.smtp", "--tenant", tenant, "--incident", "INC-8", check=False)
    assert other.returncode == 2 and "--incident INC-7" in other.stdout
    plain = invoke(project, "rotate.smtp", "--tenant", tenant, check=False)
    assert plain.returncode == 2 and "--incident INC-7" in plain.stdout

    done = invoke(project, "rotate.smtp", "--tenant", tenant, "--incident", "INC-7", "--verbose", check=False)
    assert done.returncode == 3 and "UNVERIFIED" in done.stdout, done.stdout[-3000:]
    assert "resumed" in done.stdout and "wall time" in done.stdout and "INC-7" in done.stdout

    record = kv.read(vault, path)
    assert record.version == old + 1  # one new password, not two
    assert record.data["incident_id"] == "INC-7" and record.data["compromised_versions"] == [old]
    assert [(m["version"], m["incident_id"]) for m in record.data["compromised"]] == [(old, "INC-7")]
    new_password = smtp.decrypt_password(vault, tenant)
    assert len(base64.b64decode(new_password.reveal())) == 48

    admin_key = keys.read_private(vault, paths.admin_ssh(tenant))
    with SshExecutor(str(outputs["main_ip"]), admin_key, known_hosts=KnownHosts(trust_on_first_use=True)) as ssh:
        marker = ssh.read_file(ADMIN_MARKER).decode()
    email = f"admin@{tenant}.{project.settings.zone}"
    assert admin_marker_matches(marker, email, new_password) and not admin_marker_matches(marker, email, old_password)

    audit = (project.root / "audit.jsonl").read_text()
    events = [json.loads(line) for line in audit.splitlines() if line.strip()]
    converged = [e for e in events if e["event"] == "rotate.smtp.emergency"]
    final = [e for e in events if e["event"] == "rotate.smtp.emergency.report"]
    assert len(converged) == 1 and converged[0]["outcome"] == "ok" and converged[0]["details"]["resumed"] is True
    assert len(final) == 1 and final[0]["outcome"] == "unverified" and final[0]["details"]["new_version"] == old + 1
    for event in (*converged, *final):
        assert event["details"]["incident_id"] == "INC-7" and event["details"]["compromised_version"] == old
    for text in (crashed.stdout + crashed.stderr, done.stdout + done.stderr, audit):
        assert new_password.reveal() not in text and old_password.reveal() not in text
    assert_converged(project, tenant)
