"""docs/production.md, run against the sandbox equivalents it names: Vault bootstrapped with an admin token and then
used through the system AppRole (role id + secret id, no token), the Pulumi state in an S3-compatible bucket (the
moto server), the passphrase from a file, the Hostwinds/DNS credentials exported as production would, no sandbox
env file, the read-only Hostwinds probe of step 2, then `tenant.new` with explicit options, `pulumi up`, the checks of
step 7 and the CI roles of step 8."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from pipeline.vault_oidc import vault_jwt_login
from tests.e2e.day2 import INVOKE
from tests.fixtures.tenant import TenantProject
from tests.integration.test_ci_vault_login import _jwt
from toolkit.errors import ToolkitError
from vault.ci_auth import GITHUB_ISSUER
from vault.client import VaultClient

REPO = Path(__file__).resolve().parents[2]
TENANT = "prod1"


def _run(argv: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=900, check=False)
    if result.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} exited {result.returncode}:\n{result.stdout[-5000:]}\n"
                             f"{result.stderr[-3000:]}")
    return result


@pytest.mark.timeout(900)
def test_production_guide_on_sandbox_equivalents(tenant_project: TenantProject, s3_server: dict[str, Any],
                                                 tmp_path: Path) -> None:
    project, sandbox = tenant_project, tenant_project.sandbox_env
    base = {"PATH": os.environ["PATH"], "HOME": os.environ["HOME"], "LANG": "C.UTF-8", "COLUMNS": "200",
            "PULUMI_SKIP_UPDATE_CHECK": "true", "PM_ENV_FILE": str(tmp_path / "no-sandbox-here"),
            "PM_AUDIT_LOG": str(tmp_path / "audit.jsonl"), "PULUMI_HOME": str(tmp_path / "pulumi-home")}

    def invoke(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        return _run([INVOKE, *args], REPO, env)

    # 1. Vault: bootstrap with the admin token, then only the AppRole.
    secret_file = tmp_path / "vault-secret-id"
    admin = {**base, "VAULT_ADDR": sandbox["VAULT_ADDR"], "VAULT_TOKEN": sandbox["VAULT_TOKEN"]}
    boot = invoke("vault.bootstrap", "--secret-id-file", str(secret_file), env=admin)
    role_id = next(line.split("│")[2].strip() for line in boot.stdout.splitlines() if "VAULT_ROLE_ID" in line)
    assert (secret_file.stat().st_mode & 0o777) == 0o600
    assert secret_file.read_text().strip() not in boot.stdout + boot.stderr  # written, never printed
    # 2. Hostwinds: the key exported, then the read-only probe of the account (the simulator's URL stands in for the
    #    real API's default).
    hostwinds = {**base, "HOSTWINDS_API_KEY": sandbox["HOSTWINDS_API_KEY"]}
    assert "listing calls" in invoke("hostwinds.probe", "--api-url", sandbox["HOSTWINDS_API_URL"],
                                     env=hostwinds).stdout
    # 4. Pulumi state in S3, the passphrase from a file.
    passphrase = tmp_path / "pulumi-passphrase"
    passphrase.write_text("correct horse battery staple\n")
    backend = f"s3://{s3_server['bucket']}?endpoint={s3_server['endpoint']}&use_path_style=true&region=us-east-1"
    # 5. Backups: a key outside Vault.
    key_file = tmp_path / "backup.key"
    _run(["bash", "-c", f"head -c 32 /dev/urandom | base64 > {key_file} && chmod 600 {key_file}"], tmp_path, base)
    operator = {
        **base, "VAULT_ADDRS": sandbox["VAULT_ADDRS"], "VAULT_ROLE_ID": role_id,
        "VAULT_SECRET_ID": secret_file.read_text().strip(),
        "HOSTWINDS_API_KEY": sandbox["HOSTWINDS_API_KEY"], "PM_DNS_TSIG_SECRET": sandbox["PM_DNS_TSIG_SECRET"],
        "PULUMI_BACKEND_URL": backend, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
        "PULUMI_CONFIG_PASSPHRASE_FILE": str(passphrase),
        "PM_BACKUP_DEST": str(tmp_path / "backups"), "PM_BACKUP_KEY_FILE": str(key_file),
        "PM_SOURCE_UNSEAL_KEYS_FILE": sandbox["PM_SOURCE_UNSEAL_KEYS_FILE"],
    }
    _run(["pulumi", "login"], project.root, operator)

    # 6. The first tenant, every setting an option.
    invoke("tenant.new", "--tenant", TENANT, "--domain", f"{TENANT}.{project.settings.zone}",
           "--dns-server", "127.0.0.1", "--dns-port", str(project.settings.dns_port),
           "--dns-zone", project.settings.zone, "--tsig-key-name", sandbox["PM_DNS_TSIG_NAME"],
           "--hostwinds-api-url", sandbox["HOSTWINDS_API_URL"], "--ptr-check", "hostwinds",
           "--ssh-key-type", "ed25519", "--poll-interval", "0.1", "--work-dir", str(project.root), env=operator)
    _run(["pulumi", "stack", "init", TENANT], project.root, operator)
    _run(["pulumi", "preview", "--stack", TENANT], project.root, operator)
    _run(["pulumi", "up", "--yes", "--stack", TENANT], project.root, operator)
    listing = s3_server["client"].list_objects_v2(Bucket=s3_server["bucket"], Prefix=".pulumi/stacks/")
    assert any(TENANT in item["Key"] for item in listing.get("Contents", [])), "the state is in the bucket"

    # 7. Check the result.
    invoke("dns.check", "--tenant", TENANT, "--work-dir", str(project.root), env=operator)
    status = subprocess.run([INVOKE, "status", "--tenant", TENANT, "--json", "--work-dir", str(project.root),
                             "--stacks-dir", str(project.root / "stacks")], cwd=REPO, env=operator,
                            capture_output=True, text=True, timeout=300, check=False)
    checks = json.loads(status.stdout)["tenants"][0]["checks"]
    assert checks["vps"]["severity"] == checks["dns"]["severity"] == checks["vault"]["severity"] == "ok", checks
    _run(["pulumi", "preview", "--expect-no-changes", "--stack", TENANT], project.root, operator)
    backup_env = {k: v for k, v in operator.items() if k not in ("VAULT_ROLE_ID", "VAULT_SECRET_ID")}
    backup_env["VAULT_TOKEN"] = sandbox["VAULT_TOKEN"]  # snapshots need an operator's token (sudo)
    invoke("vault.backup", env=backup_env)
    invoke("vault.backup-status", env=backup_env)
    assert "DR drill PASSED" in invoke("dr.drill", env=backup_env).stdout

    # 8. The CI roles, verified against a local issuer key (GitHub's discovery cannot be reached here).
    issuer = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = tmp_path / "issuer.pem"
    pem.write_bytes(issuer.public_key().public_bytes(serialization.Encoding.PEM,
                                                     serialization.PublicFormat.SubjectPublicKeyInfo))
    invoke("vault.ci-roles", "--repository", "example-org/pm-mail-infra", "--jwt-pubkey-file", str(pem), env=admin)
    push = {"iss": GITHUB_ISSUER, "aud": "vault", "sub": "repo:example-org/pm-mail-infra:ref:refs/heads/main",
            "repository": "example-org/pm-mail-infra", "ref": "refs/heads/main", "event_name": "push",
            "iat": int(time.time()), "nbf": int(time.time()) - 5, "exp": int(time.time()) + 300}
    assert vault_jwt_login(sandbox["VAULT_ADDR"], _jwt(issuer, push), "ci-deploy")
    with pytest.raises(ToolkitError):  # another repository's workflow cannot deploy
        vault_jwt_login(sandbox["VAULT_ADDR"], _jwt(issuer, {**push, "repository": "evil/fork"}), "ci-deploy")
    # the scheduled backup logs in as ci-backup: snapshots and reads only, and a backup really works with it
    backup_token = vault_jwt_login(sandbox["VAULT_ADDR"], _jwt(issuer, {**push, "event_name": "schedule"}), "ci-backup")
    scheduled = {k: v for k, v in backup_env.items() if k != "VAULT_TOKEN"} | {"VAULT_TOKEN": backup_token}
    invoke("vault.backup", env=scheduled)
    with pytest.raises(ToolkitError):  # ... and cannot write a tenant's secret
        VaultClient.from_env({"VAULT_ADDR": sandbox["VAULT_ADDR"], "VAULT_TOKEN": backup_token}).write(
            f"vps/data/{TENANT}/admin_ssh", {"data": {"private_key": "x"}})
    with pytest.raises(ToolkitError):  # a pull request is not a push to main
        vault_jwt_login(sandbox["VAULT_ADDR"], _jwt(issuer, {**push, "ref": "refs/pull/7/merge",
                                                              "event_name": "pull_request"}), "ci-deploy")

    _run(["pulumi", "destroy", "--yes", "--stack", TENANT], project.root, operator)
