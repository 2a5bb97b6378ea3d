"""The two human retrievals as people run them (`invoke` in subprocesses, the sandbox's real OpenBao and VPS host):
the operator hands the tenant its key once, the tenant opens it with nothing but the Vault address into a key file
that logs in to its VPS as the tenant user; a second unwrap and a second download are refused; after revoke +
regenerate the new key is handed over and the old file no longer logs in. An admin views the SMTP credentials after
password + TOTP. The clear password and the private key never appear in what the operator's tasks print, in the audit
logs or in Vault's audit log."""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

import pytest

from fleet.access_check import AccessProbe
from tests import totp
from tests.e2e.day2 import INVOKE, REPO, invoke
from tests.fixtures.tenant import TenantProject
from tests.handover_env import token_in
from toolkit.redact import Secret
from vault import auth, smtp
from vault.client import VaultClient

PASSWORD = "correct horse battery staple"


def _bare(project: TenantProject, audit: Path, *args: str, stdin: str) -> subprocess.CompletedProcess[str]:
    """A task run with the Vault address alone (the tenant's machine, or an operator logging in by password)."""
    env = {"PATH": os.environ["PATH"], "HOME": str(audit.parent), "COLUMNS": "200", "PM_AUDIT_LOG": str(audit),
           "VAULT_ADDR": project.sandbox_env["VAULT_ADDR"]}
    return subprocess.run([INVOKE, *args], cwd=REPO, env=env, input=stdin, capture_output=True, text=True,
                          timeout=300, check=False)


def _flat(result: subprocess.CompletedProcess[str]) -> str:
    return " ".join((result.stdout + result.stderr).split())


@pytest.mark.timeout(1200)
def test_key_handover_and_smtp_view_journey(tenant_project: TenantProject, tmp_path: Path) -> None:
    project, tenant = tenant_project, "handover"
    outputs = project.deploy(tenant)
    user, address = str(outputs["tenant_user"]), str(outputs["main_ip"])
    vault = VaultClient.from_env(project.sandbox_env)
    tenant_home = tmp_path / "tenant"
    tenant_home.mkdir(mode=0o700)
    tenant_audit = tenant_home / "audit.jsonl"
    printed: list[str] = []

    download = invoke(project, "ssh.download", "--tenant", tenant)
    printed.append(download.stdout + download.stderr)
    token = token_in(download.stdout)
    first = tenant_home / "id_v1"
    opened = _bare(project, tenant_audit, "ssh.unwrap", "--tenant", tenant, "--out", str(first), stdin=token + "\n")
    assert opened.returncode == 0, _flat(opened)
    assert first.stat().st_mode & 0o777 == 0o600
    assert AccessProbe(address).login_works(Secret(first.read_text()), user), "the handed-over key opens the VPS"

    again = _bare(project, tenant_audit, "ssh.unwrap", "--tenant", tenant, "--out", str(tenant_home / "x"),
                  stdin=token + "\n")
    assert again.returncode == 2 and "already used" in _flat(again) and "ssh.regenerate" in _flat(again)
    second = invoke(project, "ssh.download", "--tenant", tenant, check=False)
    assert second.returncode == 2 and "was already handed over" in _flat(second)

    invoke(project, "ssh.revoke", "--tenant", tenant, "--kind", "tenant", "--reason", "handover check")
    revoked = invoke(project, "ssh.download", "--tenant", tenant, check=False)
    assert revoked.returncode == 2 and "is revoked" in _flat(revoked)
    invoke(project, "ssh.regenerate", "--tenant", tenant, "--kind", "tenant")
    download = invoke(project, "ssh.download", "--tenant", tenant)
    printed.append(download.stdout + download.stderr)
    fresh = tenant_home / "id_v3"
    opened = _bare(project, tenant_audit, "ssh.unwrap", "--tenant", tenant, "--out", str(fresh),
                   stdin=token_in(download.stdout) + "\n")
    assert opened.returncode == 0, _flat(opened)
    probe = AccessProbe(address)
    assert probe.login_works(Secret(fresh.read_text()), user)
    assert not probe.login_works(Secret(first.read_text()), user), "the revoked key no longer opens the VPS"

    admin = "ops" + uuid.uuid4().hex[:8]
    with VaultClient.from_env(project.sandbox_env) as root:
        secret = totp.secret_of(auth.create_admin(root, admin, Secret(PASSWORD)).url.reveal())
    operator_audit = project.root / "audit.jsonl"
    view = _bare(project, operator_audit, "smtp.credentials", "--tenant", tenant, "--user", admin, "--totp",
                 totp.code(secret), "--work-dir", str(project.root), stdin=PASSWORD + "\n")
    assert view.returncode == 0, _flat(view)
    printed.append(view.stdout + view.stderr)
    shown = _bare(project, operator_audit, "smtp.unwrap", "--tenant", tenant, stdin=token_in(view.stdout) + "\n")
    password = smtp.decrypt_password(vault, tenant).reveal()
    assert shown.returncode == 0 and f"password: {password}" in shown.stdout
    assert f"username: admin@{tenant}." in shown.stdout

    keys = [first.read_text(), fresh.read_text()]
    logs = [operator_audit.read_text(), tenant_audit.read_text(),
            Path(project.sandbox_env["PM_VAULT_AUDIT_LOG"]).read_text(errors="replace")]
    for text in printed + logs:
        assert password not in text
        assert "PRIVATE KEY" not in text and not any(k.splitlines()[1] in text for k in keys)
    assert token not in "".join(logs)
    vault.close()
