"""The parts of the preflight that need no server (stack identity, credentials) and the CI check over all stack files
(one tenant = one stack named after it; tenant ids and domains owned once)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from fleet.preflight import StackRef, backend_digest, credential_problems, current_backend
from pipeline.stack_checks import stack_file_problems
from toolkit.tenant_config import parse_tenant_config


def config(**overrides: Any) -> dict[str, Any]:
    tenant = overrides.pop("tenant_id", "acme")
    values: dict[str, Any] = {
        "tenant_id": tenant, "domain": f"{tenant}.sandbox.test",
        "dns": {"provider": "rfc2136", "server": "127.0.0.1", "zone": "sandbox.test", "tsig_key_name": "k"},
        "dkim_selector": "pm20261125",
    }
    values.update(overrides)
    return values


# --- stack identity ------------------------------------------------------------------------------------------------

def test_the_same_stack_on_the_same_backend_has_one_identity(tmp_path: Path) -> None:
    (tmp_path / "state").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "state")
    a = StackRef("organization", "pm-mail-tenant", "acme", f"file://{tmp_path}/state")
    b = StackRef("organization", "pm-mail-tenant", "acme", f"file://{tmp_path}/link/")
    assert a.identity == b.identity
    assert a.identity.startswith("organization/pm-mail-tenant/acme@")


def test_a_copy_on_another_backend_or_project_is_another_stack(tmp_path: Path) -> None:
    a = StackRef("organization", "pm-mail-tenant", "acme", f"file://{tmp_path}/one")
    assert a.identity != StackRef("organization", "pm-mail-tenant", "acme", f"file://{tmp_path}/two").identity
    assert a.identity != StackRef("organization", "other-project", "acme", f"file://{tmp_path}/one").identity


def test_the_backend_url_is_kept_only_as_a_digest() -> None:
    url = "s3://state-bucket?region=eu-west-1&access_key=SECRETVALUE"
    ref = StackRef("org", "p", "acme", url)
    assert "SECRETVALUE" not in ref.identity and backend_digest(url) in ref.identity


def test_the_backend_comes_from_the_environment_else_from_pulumi_login(tmp_path: Path) -> None:
    assert current_backend({"PULUMI_BACKEND_URL": "file:///srv/state"}) == "file:///srv/state"
    (tmp_path / "credentials.json").write_text(json.dumps({"current": "s3://bucket/state"}))
    assert current_backend({"PULUMI_HOME": str(tmp_path)}) == "s3://bucket/state"
    assert current_backend({"PULUMI_HOME": str(tmp_path / "none")}) == ""


def test_missing_credentials_are_named_before_anything_runs() -> None:
    found = dict(credential_problems(parse_tenant_config(config()), {}))
    assert set(found) == {"HOSTWINDS_API_KEY", "PM_DNS_TSIG_SECRET", "VAULT_ADDR"}
    manual = parse_tenant_config(config(dns={"provider": "manual", "zone": "sandbox.test"}))
    env = {"HOSTWINDS_API_KEY": "k", "VAULT_ADDR": "http://127.0.0.1:8200"}
    assert credential_problems(manual, env) == []


# --- CI over all stack files ---------------------------------------------------------------------------------------

def write(stacks: Path, stack: str, values: dict[str, Any]) -> None:
    stacks.mkdir(exist_ok=True)
    body = {"config": {f"pm:{k}": v for k, v in values.items()}}
    (stacks / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump(body))


def test_distinct_tenants_pass(tmp_path: Path) -> None:
    for tenant in ("acme", "beta", "gamma"):
        write(tmp_path, tenant, config(tenant_id=tenant))
    assert stack_file_problems(tmp_path) == []


def test_a_stack_not_named_after_its_tenant_is_refused(tmp_path: Path) -> None:
    write(tmp_path, "acme", config(tenant_id="acme"))
    write(tmp_path, "mallory", config(tenant_id="acme", domain="mallory.sandbox.test"))
    problems = stack_file_problems(tmp_path)
    assert any(p.startswith("stacks/Pulumi.mallory.yaml: ") and "stack is named 'mallory'" in p for p in problems)


def test_two_stacks_with_one_domain_are_refused(tmp_path: Path) -> None:
    write(tmp_path, "acme", config(tenant_id="acme"))
    write(tmp_path, "intruder", config(tenant_id="intruder", domain="acme.sandbox.test"))
    assert stack_file_problems(tmp_path) == [
        "stacks acme and intruder both use the domain 'acme.sandbox.test': each domain belongs to exactly one tenant"]


def test_a_domain_under_another_tenants_domain_is_refused(tmp_path: Path) -> None:
    write(tmp_path, "acme", config(tenant_id="acme"))
    write(tmp_path, "sub", config(tenant_id="sub", domain="mail2.acme.sandbox.test"))
    problems = stack_file_problems(tmp_path)
    assert len(problems) == 1 and "'mail2.acme.sandbox.test' lies under 'acme.sandbox.test'" in problems[0]


def test_invalid_or_misnamed_files_are_reported_not_skipped(tmp_path: Path) -> None:
    write(tmp_path, "acme", config(tenant_id="acme", spf_includes=[f"_s{i}.example.com" for i in range(11)]))
    (tmp_path / "Pulumi.Upper.yaml").write_text("config: {}\n")
    (tmp_path / "Pulumi.broken.yaml").write_text("config: [\n")
    problems = stack_file_problems(tmp_path)
    assert any(p.startswith("stacks/Pulumi.acme.yaml: ") and "pm:spf_includes" in p for p in problems)
    assert any(p.startswith("stacks/Pulumi.Upper.yaml: ") for p in problems)
    assert any(p.startswith("stacks/Pulumi.broken.yaml: is not valid YAML") for p in problems)


def test_the_repository_stack_files_pass() -> None:
    assert stack_file_problems(Path(__file__).resolve().parents[2] / "stacks") == []
