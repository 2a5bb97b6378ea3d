"""Checks over all tenant stack files before CI deploys any of them (``invoke ci.plan``).

The same rules the program's preflight enforces per stack (``fleet.preflight``, ``vault.claims``), seen across the
whole ``stacks/`` folder of a change, so a pull request that would let one stack take over another tenant fails in
CI before anything runs:

- every stack file is valid (``toolkit.tenant_config``) and named after its tenant (``Pulumi.<tenant_id>.yaml``);
- no two stacks share a tenant id;
- no two tenants share a domain, and no tenant's domain lies under another tenant's domain.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import yaml

from pipeline.plan import STACK_FILE
from toolkit import stack_batch
from toolkit.errors import ConfigError
from toolkit.tenant_config import TenantConfig, check_stack_name, config_from_stack_file

Checked = tuple[str, TenantConfig | None, str | None]


def check_stack_file(path: Path) -> Checked:
    """(stack, its config, None) or (stack or "", None, the problem naming the file)."""
    where = f"stacks/{path.name}"
    match = STACK_FILE.match(where)
    if match is None:
        return "", None, f"{where}: the stack name must be a tenant id (lower-case letters, digits, hyphens)"
    try:
        data = stack_batch.parse(path.read_text())
        config = config_from_stack_file(data if isinstance(data, dict) else {})
        check_stack_name(config, match.group("stack"))
    except yaml.YAMLError as exc:
        return match.group("stack"), None, f"{where}: is not valid YAML ({str(exc).splitlines()[0]})"
    except ConfigError as exc:
        return match.group("stack"), None, f"{where}: {exc}"
    return match.group("stack"), config, None


def load_stack_configs(stacks_dir: Path) -> tuple[dict[str, TenantConfig], list[str]]:
    """Each ``Pulumi.<stack>.yaml`` parsed with the one validation model (libyaml, in worker processes for a large
    fleet: ``toolkit.stack_batch``); problems name the file. Other files in the folder (``canary.txt``) are not
    stack files and are not read."""
    configs: dict[str, TenantConfig] = {}
    problems: list[str] = []
    for stack, config, problem in stack_batch.map_files(check_stack_file, sorted(stacks_dir.glob("Pulumi.*.yaml"))):
        if problem is not None:
            problems.append(problem)
        elif config is not None:
            configs[stack] = config
    return configs, problems


def uniqueness_problems(configs: dict[str, TenantConfig]) -> list[str]:
    """Tenant ids and domains owned twice (a domain under another tenant's domain counts as owned by both)."""
    problems: list[str] = []
    owner_of_tenant: dict[str, str] = {}
    owner_of_domain: dict[str, str] = {}
    for stack, config in sorted(configs.items()):
        first = owner_of_tenant.setdefault(config.tenant_id, stack)
        if first != stack:
            problems.append(f"stacks {first} and {stack} both use tenant id {config.tenant_id!r}: "
                            "each tenant id belongs to exactly one stack")
        other = owner_of_domain.setdefault(config.domain, stack)
        if other != stack:
            problems.append(f"stacks {other} and {stack} both use the domain {config.domain!r}: each domain "
                            "belongs to exactly one tenant")
    for domain, stack in sorted(owner_of_domain.items()):
        for parent in _parents(domain):
            owner = owner_of_domain.get(parent)
            if owner is not None and configs[owner].tenant_id != configs[stack].tenant_id:
                problems.append(f"stack {stack}'s domain {domain!r} lies under {parent!r}, the domain of stack "
                                f"{owner}: a tenant owns every name under its domain")
    return problems


def stack_file_problems(stacks_dir: Path) -> list[str]:
    """Every problem with the stack files as a whole (empty: CI may plan and deploy)."""
    configs, problems = load_stack_configs(stacks_dir)
    return problems + uniqueness_problems(configs)


def _parents(domain: str) -> Iterable[str]:
    labels = domain.split(".")
    return (".".join(labels[i:]) for i in range(1, len(labels) - 1))
