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

from pipeline.plan import PlanError, plan_for, resolve, stacks_on_disk
from pipeline.shards import DEFAULT_JOBS, MATRIX_LIMIT, check_max_jobs, matrix, parse_shard, slice_of
from pipeline.stack_checks import stack_file_problems
from toolkit.errors import ToolkitError

REPO = Path(__file__).resolve().parent.parent
console = Console(stderr=True)
PRINTED = 200
"""At most this many stacks are named one per line (10,000 lines help no one reading a CI log)."""


def _github_output(values: dict[str, str]) -> None:
    output = os.environ.get("GITHUB_OUTPUT")
    if output:
        with open(output, "a") as handle:
            handle.writelines(f"{key}={value}\n" for key, value in values.items())


def _names(stacks: str) -> list[str]:
    return [s.strip() for s in stacks.split(",") if s.strip()]


@task(name="plan", help={
    "base": "git revision to compare with (e.g. origin/main); empty: every stack committed at --head",
    "head": "git revision of the change (default HEAD)",
    "stacks": "comma-separated stacks to restrict the plan to (a manual run); empty: what the change touches",
    "max_jobs": f"at most this many deploy jobs (default {DEFAULT_JOBS}, at most {MATRIX_LIMIT})",
    "repo": "the git repository holding stacks/ (default: this one)",
})
def plan_(c: Context, base: str = "", head: str = "HEAD", stacks: str = "", max_jobs: int = DEFAULT_JOBS,
          repo: str = "") -> None:
    """Print (and write to $GITHUB_OUTPUT) the stacks a change touches and the deploy jobs as a JSON matrix of
    shards (`{"shard": "i/n"}`, at most --max-jobs): `ci.deploy --shard i/n` with the same --base/--head deploys
    one slice.

    Refuses (exit 2) when any stack file is invalid, is not named after its tenant, or shares a tenant id or a
    domain (or a parent/sub-domain) with another stack: no stack may act on another tenant."""
    try:
        check_max_jobs(max_jobs)
    except ToolkitError as exc:
        raise Exit(f"ci.plan: {exc}", code=2) from None
    where = Path(repo).resolve() if repo else REPO
    problems = stack_file_problems(where / "stacks")
    for problem in problems:
        console.print(f"[red]{problem}[/]", highlight=False)
    if problems:
        raise Exit(f"{len(problems)} problem(s) in stacks/: nothing is planned until they are fixed", code=2)
    try:
        result = plan_for(where, base, head, _names(stacks))
        resolved = resolve(where, base) if base else ""
    except PlanError as exc:
        raise Exit(f"ci.plan: {exc}", code=2) from None
    for stack, why in list(result.reason.items())[:PRINTED]:
        console.print(f"[bold]{stack}[/]: {why}")
    if len(result.stacks) > PRINTED:
        console.print(f"... and {len(result.stacks) - PRINTED} more stack(s)")
    for stack in result.removed:
        console.print(f"[yellow]{stack}[/]: stack file removed - destroy it deliberately (`pulumi destroy`)")
    jobs = matrix(len(result.stacks), max_jobs)
    console.print(f"{len(result.stacks)} stack(s) in {len(jobs['include'])} job(s)")
    text = json.dumps(jobs, separators=(",", ":"))
    print(text)
    _github_output({"matrix": text, "any": "true" if result.stacks else "false",
                    "base": resolved,
                    "stacks": str(len(result.stacks))})


@task(help={
    "stacks": "comma-separated stack names; empty: the plan of --base/--head, else every stack under stacks/",
    "base": "deploy what the change since this git revision touches (the same plan as `ci.plan --base`)",
    "head": "git revision of the change, with --base (default HEAD)",
    "shard": "i/n: deploy only this job's slice of the stacks (`ci.plan` emits one job per shard)",
    "operation": "preview or up",
    "parallelism": "how many stacks run at once",
    "work_dir": "the Pulumi project directory (default: this repository)",
})
def deploy(c: Context, stacks: str = "", base: str = "", head: str = "HEAD", shard: str = "",
           operation: str = "preview", parallelism: int = 4, work_dir: str = "") -> None:
    """Run preview/up over many stacks in parallel; one summary at the end; non-zero exit if any failed."""
    from pipeline.deploy import run_stacks

    if operation not in ("preview", "up"):
        raise Exit(f"operation: {operation!r} is not one of: preview, up", code=2)
    project = Path(work_dir).resolve() if work_dir else REPO
    try:
        if base:
            names = list(plan_for(REPO, base, head, _names(stacks)).stacks)
        else:
            names = _names(stacks) or stacks_on_disk(project)
        if shard:
            slice_ = parse_shard(shard)
            console.print(f"shard {slice_}: {len(slice_of(names, slice_))} of {len(names)} stack(s)")
            names = slice_of(names, slice_)
    except ToolkitError as exc:
        raise Exit(f"ci.deploy: {exc}", code=2) from None
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
