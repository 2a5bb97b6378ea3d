"""Run `preview` or `up` for many stacks in parallel (bounded) through the Pulumi Automation API.

Every stack runs to its end even when others fail; the caller gets one result per stack and decides the exit
code. The Automation API drives the `pulumi` CLI found on PATH (never its downloader).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pulumi import automation as auto

from toolkit.errors import ToolkitError
from toolkit.redact import scrub

Operation = Literal["preview", "up"]


@dataclass(frozen=True)
class StackResult:
    stack: str
    operation: Operation
    ok: bool
    seconds: float
    changes: dict[str, int] = field(default_factory=dict)
    error: str | None = None


def pulumi_command(env: Mapping[str, str]) -> auto.PulumiCommand:
    """The CLI on the PATH the stacks run with (the Automation API would otherwise look only at ours)."""
    found = shutil.which("pulumi", path=env.get("PATH") or os.environ.get("PATH"))
    if found is None:
        raise ToolkitError("the pulumi CLI is not on PATH (run scripts/setup.sh, or put the engine's bin on PATH)")
    return auto.PulumiCommand(root=str(Path(found).resolve().parent.parent))


def failure_summary(text: str, first_errors: int = 8, tail: int = 8) -> str:
    """The engine's first error lines (the cause: a provider's exception) and the last lines (the outcome). The
    tail alone can hold only the consequences ("Resource monitor has terminated") when the program stops late."""
    lines = text.strip().splitlines()
    errors = [i for i, line in enumerate(lines) if "error:" in line.lower()][:first_errors]
    kept = sorted({*errors, *range(max(0, len(lines) - tail), len(lines))})
    return "\n".join(lines[i] for i in kept)


def _run_one(
    stack_name: str, operation: Operation, work_dir: Path, env: Mapping[str, str],
    on_output: Callable[[str, str], None] | None,
) -> StackResult:
    started = time.monotonic()
    try:
        command = pulumi_command(env)
        stack = auto.create_or_select_stack(
            stack_name=stack_name, work_dir=str(work_dir),
            opts=auto.LocalWorkspaceOptions(env_vars=dict(env), pulumi_command=command),
        )
        printer = (lambda line: on_output(stack_name, line)) if on_output else None
        if operation == "preview":
            preview = stack.preview(on_output=printer, diff=False)
            changes = {str(k): int(v) for k, v in preview.change_summary.items()}
        else:
            result = stack.up(on_output=printer)
            changes = {str(k): int(v) for k, v in (result.summary.resource_changes or {}).items()}
        return StackResult(stack_name, operation, True, time.monotonic() - started, changes)
    except Exception as exc:  # every stack finishes; its failure is reported, not raised
        return StackResult(stack_name, operation, False, time.monotonic() - started,
                           error=failure_summary(scrub(str(exc))))


def run_stacks(
    stacks: Sequence[str], operation: Operation, *, work_dir: Path, parallelism: int = 4,
    env: Mapping[str, str] | None = None, on_output: Callable[[str, str], None] | None = None,
) -> list[StackResult]:
    """Run ``operation`` on each stack, at most ``parallelism`` at a time; results in the input order."""
    if parallelism < 1:
        raise ValueError("parallelism must be at least 1")
    with ThreadPoolExecutor(max_workers=parallelism, thread_name_prefix="stack") as pool:
        futures = [
            pool.submit(_run_one, stack, operation, work_dir, env or {}, on_output) for stack in stacks
        ]
        return [future.result() for future in futures]
