"""Every command the README and docs/ tell an operator to run exists, and at least one test runs it the way the
operator does (a subprocess command line naming the task)."""

from __future__ import annotations

import re
from pathlib import Path

import tasks

REPO = Path(__file__).resolve().parents[2]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
TASK = re.compile(r"(?:^|&&|;|\$\()\s*invoke ([a-z][a-z0-9-]*(?:\.[a-z][a-z0-9-]*)?)(?![\w.*-])", re.M)
TABLE_TASK = re.compile(r"^([a-z][a-z0-9-]*\.[a-z][a-z0-9-]*)(?=$|\s)")  # `rotate.ssh --tenant T` in a table
CODE = re.compile(r"```.*?```|`[^`\n]+`", re.S)
SCRIPT = re.compile(r"\bbash (scripts/[a-z0-9_-]+\.sh)")
RUN_BY_CI = {"scripts/test.sh": ".ci/run runs it on every push",
             "scripts/setup.sh": "scripts/demo.sh and scripts/test.sh run it first"}


def _documented(pattern: re.Pattern[str]) -> set[str]:
    found: set[str] = set()
    for path in DOCS:
        for code in CODE.findall(path.read_text()):  # commands are in code, not in prose
            found |= set(pattern.findall(code.strip("`")))
    return found


def _test_sources() -> str:
    this = Path(__file__).resolve()
    return "\n".join(p.read_text() for p in (REPO / "tests").rglob("*.py") if p.resolve() != this)


def _task_name(written: str) -> str:
    """`invoke status` runs the default task of the `status` collection."""
    names = set(tasks.namespace.task_names)
    return written if written in names else f"{written}.{written}"


def _documented_tasks() -> set[str]:
    in_tables = {t for t in _documented(TABLE_TASK) if t.split(".")[0] in tasks.NAMESPACES}
    return _documented(TASK) | in_tables


def test_every_documented_task_exists() -> None:
    names = set(tasks.namespace.task_names)
    missing = {t for t in _documented_tasks() if _task_name(t) not in names and f"{t}.run" not in names}
    assert not missing, f"documented but not a task: {sorted(missing)}"


def test_every_documented_task_is_run_by_a_test() -> None:
    sources = _test_sources()
    unexercised = {t for t in _documented_tasks()
                   if f'"{t}"' not in sources and f"invoke {t}" not in sources and f"'{t}'" not in sources}
    assert not unexercised, f"no test runs: {sorted(unexercised)}"


def test_every_documented_script_is_run() -> None:
    sources = _test_sources()
    for script in _documented(SCRIPT):
        assert script in RUN_BY_CI or f"bash {script}" in sources, f"no test runs `bash {script}`"
