"""``pulumi up`` of SshKeyPair + DkimKey + SmtpCredential with the real engine against a real OpenBao.

Proves the state holds no private material (scans ``pulumi stack export --show-secrets``), that a rotation is
a new Vault version, and that ``destroy`` keeps the secrets (no purge). Skipped with a printed reason when no
``pulumi`` CLI is found, unless CI=true, where that is a failure.
"""

from __future__ import annotations

import json
import textwrap
import uuid
from pathlib import Path

from tests.e2e.engine import pulumi, pulumi_env, python_project
from vault import kv, paths
from vault.bootstrap import BootstrapResult, issue_system_secret_id
from vault.client import VaultClient

PROGRAM = textwrap.dedent("""\
    import os

    import pulumi

    from components.vault_keys import DkimKey, SmtpCredential, SshKeyPair

    tenant = os.environ["PM_E2E_TENANT"]
    trigger = os.environ.get("PM_E2E_TRIGGER", "")
    admin = SshKeyPair("admin-ssh", tenant_id=tenant, kind="admin_ssh", rotation_trigger=trigger)
    tenant_key = SshKeyPair("tenant-ssh", tenant_id=tenant, kind="tenant_ssh", algorithm="ed25519")
    dkim = DkimKey("dkim", domain=f"{tenant}.example.com", selector="pm20261124")
    smtp = SmtpCredential("smtp", tenant_id=tenant, domain=f"{tenant}.example.com")
    pulumi.export("admin_version", admin.version)
    pulumi.export("admin_fingerprint", admin.fingerprint)
    pulumi.export("dkim_dns", dkim.dns_value)
    pulumi.export("smtp_user", smtp.username)
""")


def test_up_rotate_destroy_no_private_material_in_state(
    vault_root: VaultClient, vault_bootstrap: BootstrapResult, openbao_dev: object, tmp_path: Path
) -> None:
    tenant = "e2e" + uuid.uuid4().hex[:8]
    project = python_project(tmp_path / "project", "pm-vault-keys-e2e", PROGRAM)
    (tmp_path / "state").mkdir()
    secret_id = issue_system_secret_id(vault_root)
    env = pulumi_env(tmp_path / "state", {
        # The system account through AppRole, from the environment only (never inputs or state).
        "VAULT_ADDRS": openbao_dev.address,  # type: ignore[attr-defined]
        "VAULT_ROLE_ID": vault_bootstrap.system_role_id,
        "VAULT_SECRET_ID": secret_id.reveal(),
        "PM_E2E_TENANT": tenant,
    })
    env.pop("VAULT_TOKEN", None)
    env.pop("VAULT_ADDR", None)

    def run(*args: str, extra: dict[str, str] | None = None) -> str:
        return pulumi(project, {**env, **(extra or {})}, *args).stdout

    def assert_state_clean() -> None:
        state = run("stack", "export", "--show-secrets")
        assert "PRIVATE KEY" not in state
        for path in (paths.admin_ssh(tenant), paths.tenant_ssh(tenant), paths.dkim(f"{tenant}.example.com",
                                                                                     "pm20261124")):
            body = kv.read(vault_root, path).data["private_key"].splitlines()
            for line in body[1:-1]:
                assert line not in state
        assert secret_id.reveal() not in state and vault_root.token.reveal() not in state
        ciphertext = kv.read(vault_root, paths.smtp_admin(tenant)).data["encrypted_password"]
        assert ciphertext not in state

    run("stack", "init", "e2e")
    try:
        run("up", "--yes", "--skip-preview")
        outputs = json.loads(run("stack", "output", "--json"))
        assert outputs["admin_version"] == 1 and outputs["smtp_user"] == f"admin@{tenant}.example.com"
        assert outputs["dkim_dns"].startswith("v=DKIM1; k=rsa; p=")
        assert_state_clean()
        run("up", "--yes", "--skip-preview", extra={"PM_E2E_TRIGGER": "2026-12-01"})  # rotate the admin key
        rotated = json.loads(run("stack", "output", "--json"))
        assert rotated["admin_version"] == 2 and rotated["admin_fingerprint"] != outputs["admin_fingerprint"]
        assert [v.version for v in kv.versions(vault_root, paths.admin_ssh(tenant))] == [1, 2]
        assert kv.current_version(vault_root, paths.tenant_ssh(tenant)) == 1  # untouched
        assert_state_clean()
    finally:
        run("destroy", "--yes", "--skip-preview", extra={"PM_E2E_TRIGGER": "2026-12-01"})
        run("stack", "rm", "--yes", "e2e")
    # Kept for the audit trail: destroy without purge leaves every version in Vault.
    assert kv.current_version(vault_root, paths.admin_ssh(tenant)) == 2
    dkim = kv.read(vault_root, paths.dkim(f"{tenant}.example.com", "pm20261124"))
    assert dkim.version == 2 and dkim.data["state"] == "retired"  # kept, and no longer claimed to be in service
    assert "private_key" in kv.read(vault_root, dkim.path, 1).data
