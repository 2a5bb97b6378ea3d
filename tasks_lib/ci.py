"""`invoke ci.*`: the work behind the GitHub Actions workflows (logic: ``pipeline``). `ci.plan` (the stacks a change
touches, its stages and shard jobs), `ci.deploy` (preview/up of a shard, of a rollout stage), `ci.rollout` and
`ci.rollout-gate` (progressive rollout, resumable), `ci.vault-login` (OIDC), and for the scheduled workflows
`ci.locked` (tasks under a Vault lock) and `ci.health-report` (the hourly status in the job summary)."""

from __future__ import annotations

import datetime as dt
import json
import os
import shlex
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task
from rich.console import Console
from rich.table import Table

from pipeline.deploy import StackResult, run_stacks
from pipeline.plan import PlanError, plan_for, resolve, stacks_on_disk
from pipeline.rollout import (
    DEFAULT_MAX_FAILURE_RATIO,
    RolloutRecord,
    Summary,
    close_stage,
    deploy_stage,
    judge,
    run_rollout,
    summarize,
)
from pipeline.shards import DEFAULT_JOBS, MATRIX_LIMIT, check_max_jobs, matrix, parse_shard, slice_of
from pipeline.stack_checks import stack_file_problems
from pipeline.waves import (
    CANARY_FILE,
    MAX_STAGES,
    Stage,
    parse_canaries,
    rollout_id,
    rollout_plan,
    stage_named,
    stages_for,
)
from tasks_lib.ci_report import health_markdown, markdown, print_summary, write_step_summary
from tasks_lib.day2 import connection_env
from toolkit.errors import ToolkitError
from vault.client import VaultClient
from vault.locks import held

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


def _compact(value: object) -> str:
    return json.dumps(value, separators=(",", ":"))


@task(name="plan", help={
    "base": "git revision to compare with (e.g. origin/main); empty: every stack committed at --head",
    "head": "git revision of the change (default HEAD)",
    "stacks": "comma-separated stacks to restrict the plan to (a manual run); empty: what the change touches",
    "max_jobs": f"at most this many jobs per stage (default {DEFAULT_JOBS}, at most {MATRIX_LIMIT})",
    "repo": "the git repository holding stacks/ (default: this one)",
})
def plan_(c: Context, base: str = "", head: str = "HEAD", stacks: str = "", max_jobs: int = DEFAULT_JOBS,
          repo: str = "") -> None:
    """Print (and write to $GITHUB_OUTPUT) the stacks a change touches, its stages (a shared-code change: the
    canaries of stacks/canary.txt, then waves of growing size; else one stage) and the jobs of each stage as a
    matrix of shards (`{"shard": "i/n"}`, at most --max-jobs): `ci.deploy --stage S --shard i/n` with the same
    --base/--head deploys one slice.

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
        planned = rollout_plan(where, base, head, _names(stacks))
        resolved = resolve(where, base) if base else ""
    except PlanError as exc:
        raise Exit(f"ci.plan: {exc}", code=2) from None
    result = planned.plan
    for stack, why in list(result.reason.items())[:PRINTED]:
        console.print(f"[bold]{stack}[/]: {why}")
    if len(result.stacks) > PRINTED:
        console.print(f"... and {len(result.stacks) - PRINTED} more stack(s)")
    for stack in result.removed:
        console.print(f"[yellow]{stack}[/]: stack file removed - destroy it deliberately (`pulumi destroy`)")
    stages = [{"name": stage.name, "stacks": len(stage.stacks), "matrix": matrix(len(stage.stacks), max_jobs)}
              for stage in planned.stages]
    for stage in stages:
        console.print(f"stage {stage['name']}: {stage['stacks']} stack(s) in "
                      f"{len(stage['matrix']['include'])} job(s)")  # type: ignore[index]
    print(json.dumps({"rollout": planned.rollout, "matrix": matrix(len(result.stacks), max_jobs), "stages": stages}))
    values = {"matrix": _compact(matrix(len(result.stacks), max_jobs)), "any": "true" if result.stacks else "false",
              "base": resolved, "stacks": str(len(result.stacks)), "rollout": planned.rollout}
    for number in range(1, MAX_STAGES + 1):
        entry = stages[number - 1] if number <= len(stages) else None
        values[f"stage{number}"] = str(entry["name"]) if entry else ""
        values[f"matrix{number}"] = _compact(entry["matrix"] if entry else {"include": []})
    _github_output(values)


def _results_table(operation: str, results: list[StackResult]) -> Table:
    table = Table(title=f"ci.deploy {operation}")
    for column in ("stack", "result", "seconds", "changes"):
        table.add_column(column)
    for result in results:
        changes = ", ".join(f"{k}={v}" for k, v in sorted(result.changes.items()))
        table.add_row(result.stack, "[green]ok[/]" if result.ok else "[red]FAILED[/]", f"{result.seconds:.1f}", changes)
    return table


def _runner(operation: str, project: Path, parallelism: int) -> Callable[[list[str]], list[StackResult]]:
    def run(names: list[str]) -> list[StackResult]:
        console.print(f"{operation} of {len(names)} stack(s), {parallelism} at a time")
        return run_stacks(
            names, operation, work_dir=project, parallelism=parallelism,  # type: ignore[arg-type]
            on_output=lambda stack, line: console.print(f"[dim]{stack}[/] {line.rstrip()}", highlight=False)
            if os.environ.get("PM_CI_VERBOSE") else None,
        )
    return run


@task(help={
    "stacks": "comma-separated stack names; empty: the plan of --base/--head, else every stack under stacks/",
    "base": "deploy what the change since this git revision touches (the same plan as `ci.plan --base`)",
    "head": "git revision of the change, with --base (default HEAD)",
    "shard": "i/n: deploy only this job's slice of the stacks (`ci.plan` emits one job per shard)",
    "stage": "deploy this stage of the rollout (`ci.plan` names them) and record each outcome in Vault; failed "
             "stacks do not fail the job: `ci.rollout-gate` judges the stage",
    "operation": "preview or up",
    "parallelism": "how many stacks run at once",
    "work_dir": "the Pulumi project directory (default: this repository)",
})
def deploy(c: Context, stacks: str = "", base: str = "", head: str = "HEAD", shard: str = "", stage: str = "",
           operation: str = "preview", parallelism: int = 4, work_dir: str = "") -> None:
    """Run preview/up over many stacks in parallel; one summary at the end; non-zero exit if any failed."""
    if operation not in ("preview", "up"):
        raise Exit(f"operation: {operation!r} is not one of: preview, up", code=2)
    if stage and operation != "up":
        raise Exit("ci.deploy: --stage deploys (--operation up); previews have no stages", code=2)
    project = Path(work_dir).resolve() if work_dir else REPO
    chosen: Stage | None = None
    try:
        if stage:
            planned = rollout_plan(REPO, base, head, _names(stacks))
            chosen, rollout = stage_named(planned.stages, stage), planned.rollout
            names = list(chosen.stacks)
        elif base:
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
    run = _runner(operation, project, parallelism)
    if chosen is not None:
        try:
            with VaultClient.from_env(connection_env()) as vault:
                results = deploy_stage(RolloutRecord(vault, rollout), chosen, names, run)
        except ToolkitError as exc:
            raise Exit(f"ci.deploy: {exc}", code=2) from None
        console.print(_results_table(operation, results))
        console.print(f"stage {chosen.name} of rollout {rollout}: {len(names) - len(results)} stack(s) already "
                      f"deployed by an earlier run, {sum(r.ok for r in results)} ok, "
                      f"{sum(not r.ok for r in results)} failed (recorded; `ci.rollout-gate` judges the stage)")
        return
    results = run(names)
    console.print(_results_table(operation, results))
    failed = [r for r in results if not r.ok]
    for result in failed:
        console.print(f"[red]{result.stack}[/]:\n{result.error}")
    if failed:
        sys.stdout.flush()
        raise Exit(f"{len(failed)} of {len(results)} stack(s) failed", code=1)


RATIO_HELP = (f"a wave halts the rollout when more than this share of its stacks failed (default "
              f"{DEFAULT_MAX_FAILURE_RATIO}); a canary halts it on any failure")


def _finish(summary: Summary, *, final: bool) -> None:
    print_summary(console, summary)
    write_step_summary(markdown(summary))
    if summary.halted is not None or (final and (summary.failed or summary.not_deployed)):
        raise Exit(code=1)


@task(name="rollout-gate", help={
    "stage": "the stage whose shard jobs have finished", "base": "as for ci.plan", "head": "as for ci.plan",
    "stacks": "as for ci.plan", "max_failure_ratio": RATIO_HELP,
})
def rollout_gate(c: Context, stage: str, base: str = "", head: str = "HEAD", stacks: str = "",
                 max_failure_ratio: float = DEFAULT_MAX_FAILURE_RATIO) -> None:
    """Judge a stage of the rollout once its shard jobs are done: exit 0 to go on to the next stage, 1 to halt (a
    canary failed, more than --max-failure-ratio of a wave failed, or some stack has no result), with a summary of
    what was and was not deployed; the last stage also fails when any stack failed."""
    try:
        planned = rollout_plan(REPO, base, head, _names(stacks))
        chosen = stage_named(planned.stages, stage)
        with VaultClient.from_env(connection_env()) as vault:
            record = RolloutRecord(vault, planned.rollout)
            close_stage(record, chosen, dt.datetime.now(dt.UTC), max_failure_ratio)
            upto = planned.stages[:planned.stages.index(chosen) + 1]
            verdicts = [judge(s, record.stage(s.name), max_failure_ratio) for s in upto]
            summary = summarize(record, planned.stages, verdicts)
    except ToolkitError as exc:
        raise Exit(f"ci.rollout-gate: {exc}", code=2) from None
    _finish(summary, final=chosen == planned.stages[-1])


@task(help={
    "base": "as for ci.plan", "head": "as for ci.plan",
    "stacks": "comma-separated stacks to roll out (with --work-dir: its stacks/canary.txt names the canaries)",
    "max_failure_ratio": RATIO_HELP, "parallelism": "how many stacks run at once",
    "work_dir": "the Pulumi project directory (default: this repository)",
})
def rollout(c: Context, base: str = "", head: str = "HEAD", stacks: str = "",
            max_failure_ratio: float = DEFAULT_MAX_FAILURE_RATIO, parallelism: int = 4, work_dir: str = "") -> None:
    """`pulumi up` stage after stage in this process: the canaries, then waves of growing size, halting when a
    stage fails (see ci.rollout-gate); progress is recorded in Vault, so running it again resumes after the last
    completed stage. CI runs the same stages as shard jobs (`ci.deploy --stage`) and gates."""
    project = Path(work_dir).resolve() if work_dir else REPO
    try:
        if work_dir and stacks and not base:
            canary_file = project / CANARY_FILE
            canaries = parse_canaries(canary_file.read_text()) if canary_file.exists() else []
            stages = stages_for(_names(stacks), canaries)
            rollout_name = rollout_id(resolve(REPO, head), stages)
        else:
            planned = rollout_plan(REPO, base, head, _names(stacks))
            stages, rollout_name = planned.stages, planned.rollout
        for stage in stages:
            console.print(f"stage {stage.name}: {len(stage.stacks)} stack(s)")
        with VaultClient.from_env(connection_env()) as vault:
            summary = run_rollout(
                RolloutRecord(vault, rollout_name), stages, _runner("up", project, parallelism),
                now=lambda: dt.datetime.now(dt.UTC), max_failure_ratio=max_failure_ratio,
                on_verdict=lambda v: console.print(f"stage {v.stage}: {'halted: ' if v.halted else ''}{v.reason}"))
    except ToolkitError as exc:
        raise Exit(f"ci.rollout: {exc}", code=2) from None
    _finish(summary, final=True)


@task(name="locked", iterable=["task"], help={
    "name": "the lock (e.g. vault-backup): at most one run holds it at a time",
    "task": "an invoke task line to run while holding it (repeatable, run in order, the first failure stops)",
    "ttl_minutes": "the lease, renewed while the tasks run: a holder that died frees the lock this long after "
                   "its last renewal (default 10)",
})
def locked(c: Context, name: str, task: list[str] | None = None, ttl_minutes: int = 10) -> None:
    """Run invoke tasks while holding a Vault lock record (vault.locks), for scheduled jobs that must not run twice
    at once (the backup, the drill): a second run exits 2 naming the holder and does nothing."""
    lines = task or []
    if not lines:
        raise Exit("ci.locked: give at least one --task", code=2)
    try:
        with VaultClient.from_env(connection_env()) as vault, held(vault, name, ttl=dt.timedelta(minutes=ttl_minutes)):
            console.print(f"holding lock {name}")
            for line in lines:
                code = subprocess.run([sys.executable, "-m", "invoke", *shlex.split(line)], cwd=REPO,
                                      check=False).returncode
                if code:
                    raise Exit(f"ci.locked: invoke {line} exited {code}", code=code)
    except ToolkitError as exc:
        raise Exit(f"ci.locked: {type(exc).__name__}: {exc}", code=2) from None


@task(name="health-report", help={"status_file": "the output of `invoke status --json`"})
def health_report(c: Context, status_file: str) -> None:
    """The fleet's health (from `invoke status --json`) in the GitHub job summary; exit 2 when any check is
    critical (or the report is missing: status itself failed), else 0."""
    try:
        report = json.loads(Path(status_file).read_text())
    except (OSError, ValueError) as exc:
        write_step_summary(f"### Fleet health: no report\n\n`invoke status --json` produced none ({exc}).\n")
        raise Exit(f"ci.health-report: no status report in {status_file}: {exc}", code=2) from None
    text = health_markdown(report)
    write_step_summary(text)
    print(text)
    critical = report.get("summary", {}).get("tenants", {}).get("critical", 0)
    if critical:
        raise Exit(f"{critical} tenant(s) with a critical check", code=2)


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
