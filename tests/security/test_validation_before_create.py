"""Bad stack inputs refused before anything exists, with the real engine on the sandbox (issue 11, items 5 and 8).

Before: 11 SPF includes, a DMARC rua holding ';' or a space, a DNS zone that does not contain the domain, or an
image, location or plan Hostwinds does not offer (issue 17: names resolved through the account's listings, plan ids
such as the old simulator's 1004 refused) were each refused only after Vault secrets, a Hostwinds key, a VPS or a
Mailu install existed; an empty value or a '{'/'[' value that is not JSON crashed the program with a traceback.
Now each gives one clear message naming the key and the fix, and afterwards no Vault secret or claim, no Hostwinds
key or VPS and no DNS record exists for the tenant.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from tests.fixtures.tenant import TenantProject, tenant_raw_config
from tests.security.tenant_world import assert_nothing_for_domain, assert_nothing_for_tenant

SPF_INCLUDES = [f"_spf{i}.example.com" for i in range(11)]

BAD_INPUTS: list[tuple[str, dict[str, Any], str, list[str]]] = [
    ("spf11", {"spf_includes": SPF_INCLUDES}, "pm:spf_includes", ["needs 11 DNS lookups; SPF allows at most 10",
                                                                    "drop includes"]),
    ("ruasemi", {"dmarc_rua": "dmarc@ruasemi.ZONE; p=reject"}, "pm:dmarc_rua", ["give one address such as"]),
    ("ruaspace", {"dmarc_rua": "dmarc team@ruaspace.ZONE"}, "pm:dmarc_rua", ["must be an e-mail address",
                                                                             "no spaces"]),
    ("zone", {"dns": {"zone": "elsewhere.test"}}, "pm:dns", ["zone 'elsewhere.test' does not contain the domain",
                                                             "set `zone`"]),
    ("image", {"image": "windows-95"}, "pm:image", ["'windows-95' is not an image this Hostwinds account offers",
                                                    "use one of", "Ubuntu 22.04 LTS (id "]),
    ("location", {"location": "99"}, "pm:location", ["'99' is not a location this Hostwinds account offers",
                                                     "use one of", "Seattle, WA (id 1)"]),
    ("size", {"size": "large", "hostwinds": {"plan_id": "1004"}}, "pm:hostwinds.plan_id",
     ["'1004' is not an unmanaged plan this Hostwinds account offers", "Unmanaged Linux SSD 4 (rid 55)"]),
]


def _refused(project: TenantProject, tenant: str) -> str:
    project.init(tenant)
    result = project.pulumi("up", "--yes", "--skip-preview", stack=tenant, check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-3000:]
    assert "nothing was created" in output and "Traceback" not in output, output[-3000:]
    resources = project.export(tenant)["deployment"].get("resources") or []
    assert [r["type"] for r in resources if r["type"] != "pulumi:pulumi:Stack"] == []
    return output


def _assert_nothing_exists(project: TenantProject, tenant: str) -> None:
    assert_nothing_for_tenant(project, tenant)
    assert_nothing_for_domain(project, f"{tenant}.{project.settings.zone}")


@pytest.mark.parametrize(("tenant", "overrides", "key", "fragments"), BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_bad_input_is_refused_before_anything_is_created(
    tenant_project: TenantProject, tenant: str, overrides: dict[str, Any], key: str, fragments: list[str]
) -> None:
    zone = tenant_project.settings.zone
    values = {k: v.replace("ZONE", zone) if isinstance(v, str) else v for k, v in overrides.items()}
    raw = tenant_raw_config(tenant, tenant_project.settings, tenant_project.sandbox_env, **values)
    body = {"config": {f"pm:{k}": v for k, v in raw.items()}}  # by hand: `tenant.new` itself refuses most of these
    (tenant_project.root / "stacks" / f"Pulumi.{tenant}.yaml").write_text(yaml.safe_dump(body, sort_keys=False))
    output = _refused(tenant_project, tenant)
    assert f"{key}:" in output, output[-3000:]
    for fragment in fragments:
        assert fragment in output, (fragment, output[-3000:])
    _assert_nothing_exists(tenant_project, tenant)


@pytest.mark.parametrize(("tenant", "line", "key", "fragment"), [
    ("emptyval", "  pm:dmarc_rua: ''\n", "pm:dmarc_rua", "is empty: give it a value, or delete the line"),
    ("badjson", "  pm:spf_includes: '[_spf.example.com'\n", "pm:spf_includes",
     "starts with '[' but is not a valid list or map"),
], ids=["empty-value", "not-json"])
def test_empty_or_broken_value_is_a_clear_message_not_a_traceback(
    tenant_project: TenantProject, tenant: str, line: str, key: str, fragment: str
) -> None:
    tenant_project.write_stack(tenant)
    path = tenant_project.root / "stacks" / f"Pulumi.{tenant}.yaml"
    text = path.read_text()
    name = line.split(":")[1].strip()
    kept = "".join(row for row in text.splitlines(keepends=True) if not row.startswith(f"  pm:{name}:"))
    path.write_text(kept.replace("config:\n", "config:\n" + line, 1))
    output = _refused(tenant_project, tenant)
    assert f"{key}: {fragment}" in output, output[-3000:]
    assert f"fix stacks/Pulumi.{tenant}.yaml" in output
    _assert_nothing_exists(tenant_project, tenant)
