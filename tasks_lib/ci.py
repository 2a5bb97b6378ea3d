"""`invoke ci.plan` and `invoke ci.deploy`: the work behind the GitHub Actions deployment workflows."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task
from rich.console import Console
from rich.table import Table

from pipeline.plan import PlanError, all_stacks, changed_files, plan, plan_all, stacks_on_disk
from pipeline.stack_checks import stack_file_problems

REPO = Path(__file__).resolve().parent.parent
console = Console(stderr=True)


@task(name="plan", help={
    "base": "git revision to compare with (e.g. origin/main); empty: every stack committed at --head",
    "head": "git revision of the change (default HEAD)",
})
def plan_(c: Context, base: str = "", head: str = "HEAD") -> None:
    """Print (and write to $GITHUB_OUTPUT) the stacks a change touches, as a JSON matrix.

    Refuses (exit 2) when any stack file is invalid, is not named after its tenant, or shares a tenant id or a
    domain (or a parent/sub-domain) with another stack: no stack may act on another tenant."""
    problems = stack_file_problems(REPO / "stacks")
    for problem in problems:
        console.print(f"[red]{problem}[/]", highlight=False)
    if problems:
        raise Exit(f"{len(problems)} problem(s) in stacks/: nothing is planned until they are fixed", code=2)
    try:
        existing = all_stacks(REPO, head)
        result = (plan(changed_files(REPO, base, head), existing) if base
                  else plan_all(existing, f"every stack committed at {head} (no --base to compare with)"))
    except PlanError as exc:
        raise Exit(f"ci.plan: {exc}", code=2) from None
    for stack, why in result.reason.items():
        console.print(f"[bold]{stack}[/]: {why}")
    for stack in result.removed:
        console.print(f"[yellow]{stack}[/]: stack file removed - destroy it deliberately (`pulumi destroy`)")
    matrix = json.dumps(result.matrix())
    print(matrix)
    output = os.environ.get("GITHUB_OUTPUT")
    if output:
        with open(output, "a") as handle:
            handle.write(f"matrix={matrix}\nany={'true' if result.stacks else 'false'}\n")


@task(help={
    "stacks": "comma-separated stack names; empty: every stack under stacks/",
    "operation": "preview or up",
    "parallelism": "how many stacks run at once",
    "work_dir": "the Pulumi project directory (default: this repository)",
})
def deploy(c: Context, stacks: str = "", operation: str = "preview", parallelism: int = 4, work_dir: str = "") -> None:
    """Run preview/up over many stacks in parallel; one summary at the end; non-zero exit if any failed."""
    from pipeline.deploy import run_stacks

    if operation not in ("preview", "up"):
        raise Exit(f"operation: {operation!r} is not one of: preview, up", code=2)
    project = Path(work_dir).resolve() if work_dir else REPO
    names = [s for s in stacks.split(",") if s] if stacks else stacks_on_disk(project)
    if not names:
        console.print("no stacks to run")
        return
    console.print(f"{operation} of {len(names)} stack(s), {parallelism} at a time")
    results = run_stacks(
        names, operation, work_dir=project, parallelism=parallelism,  # type: ignore[arg-type]
        on_output=lambda stack, line: console.print(f"[dim]{stack}[/] {line.rstrip()}", highlight=False)
        if os.environ.get("PM_CI_VERBOSE") else None,
    )
    table = Table(title=f"ci.deploy {operation}")
    for column in ("stack", "result", "seconds", "changes"):
        table.add_column(column)
    for result in results:
        changes = ", ".join(f"{k}={v}" for k, v in sorted(result.changes.items()))
        table.add_row(result.stack, "[green]ok[/]" if result.ok else "[red]FAILED[/]", f"{result.seconds:.1f}", changes)
    console.print(table)
    failed = [r for r in results if not r.ok]
    for result in failed:
        console.print(f"[red]{result.stack}[/]:\n{result.error}")
    if failed:
        sys.stdout.flush()
        raise Exit(f"{len(failed)} of {len(results)} stack(s) failed", code=1)


@task(name="vault-login", help={"role": "Vault jwt auth role for this pipeline", "audience": "token audience"})
def vault_login(c: Context, role: str = "ci-deploy", audience: str = "vault") -> None:
    """Log in to Vault with the job's GitHub OIDC token; exports VAULT_TOKEN (masked) to later steps."""
    from pipeline.vault_oidc import github_id_token, vault_jwt_login

    vault_addr = os.environ.get("VAULT_ADDR", "")
    if not vault_addr:
        raise Exit("VAULT_ADDR: not set (the workflow sets it from the repository variable)", code=2)
    jwt = github_id_token(
        os.environ.get("ACTIONS_ID_TOKEN_REQUEST_URL", ""), os.environ.get("ACTIONS_ID_TOKEN_REQUEST_TOKEN", ""),
        audience,
    )
    token = vault_jwt_login(vault_addr, jwt, role)
    print(f"::add-mask::{token}")
    env_file = os.environ.get("GITHUB_ENV")
    if env_file:
        with open(env_file, "a") as handle:
            handle.write(f"VAULT_TOKEN={token}\n")
    console.print(f"logged in to Vault as role {role}")
