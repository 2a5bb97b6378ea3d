"""`invoke --help <task>` of every task lists only working options, each with its help, and a bad option value is
one message naming the option (never a traceback)."""

from __future__ import annotations

import contextlib
import copy
import io
import re

import pytest
from invoke.program import Program

import tasks

OPTION = re.compile(r"^  (-\w( [A-Z]+)?, )?--(?P<name>[a-z][a-z0-9-]*)(=[A-Z]+)?(\s{2,}(?P<help>\S.*))?$")


def _run(*argv: str) -> tuple[str, str, int]:
    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            # invoke hands each option's help to the parser by popping it off the task: one fresh copy per run,
            # as each `invoke` command line is a process of its own
            Program(namespace=copy.deepcopy(tasks.namespace)).run(["invoke", *argv], exit=True)
        except SystemExit as exc:
            code = int(exc.code or 0)
    return out.getvalue(), err.getvalue(), code


@pytest.mark.parametrize("name", sorted(tasks.namespace.task_names))
def test_help_lists_only_working_options_each_with_help(name: str) -> None:
    text, _, code = _run("--help", name)
    assert code == 0
    options = text.split("Options:", 1)[1] if "Options:" in text else ""
    declared = {arg.name.replace("_", "-") for arg in copy.deepcopy(tasks.namespace)[name].get_arguments()}
    shown = set()
    lines = options.splitlines()
    for index, line in enumerate(lines):
        if line.startswith("  -"):
            match = OPTION.match(line)
            assert match, f"{name}: malformed option line {line!r}"
            shown.add(match.group("name"))
            following = lines[index + 1] if index + 1 < len(lines) else ""
            wrapped_help = following.startswith("   ") and not following.lstrip().startswith("-")
            assert match.group("help") or wrapped_help, f"{name}: --{match.group('name')} has no help text"
    assert shown == declared


@pytest.mark.parametrize(("argv", "message"), [
    (("status", "--workers", "x"), "--workers: 'x' is not a whole number"),
    (("sandbox.up", "--vault-nodes", "three"), "--vault-nodes: 'three' is not a whole number"),
    (("rotate.due", "--parallelism", "1.5"), "--parallelism: '1.5' is not a whole number"),
])
def test_a_bad_option_value_is_one_message_not_a_traceback(argv: tuple[str, ...], message: str) -> None:
    _, err, code = _run(*argv)
    assert code == 1
    assert message in err and "Traceback" not in err
