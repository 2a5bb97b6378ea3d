"""Run `preview` or `up` for many stacks in parallel (bounded), each through the one engine driver
(``fleet.stack_engine.StackEngine``, the Automation API over the `pulumi` CLI found on PATH, never its downloader).

Every stack runs to its end even when others fail; the caller gets one result per stack and decides the exit
code.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from fleet.stack_engine import StackEngine
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


def _run_one(
    stack_name: str, operation: Operation, work_dir: Path, env: Mapping[str, str],
    on_output: Callable[[str, str], None] | None,
) -> StackResult:
    started = time.monotonic()
    printer = (lambda line: on_output(stack_name, line)) if on_output else None
    engine = StackEngine(work_dir, stack_name, env, on_output=printer, create=True)
    try:
        changes = engine.preview() if operation == "preview" else engine.up().changes
        return StackResult(stack_name, operation, True, time.monotonic() - started, changes)
    except Exception as exc:  # every stack finishes; its failure is reported, not raised
        return StackResult(stack_name, operation, False, time.monotonic() - started, error=scrub(str(exc)))


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
