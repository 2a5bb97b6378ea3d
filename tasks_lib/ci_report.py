"""What the CI tasks print: the rollout's stages and what was and was not deployed, and the hourly fleet health (from
`invoke status --json`), as text on the console and as Markdown in the GitHub job summary
(``$GITHUB_STEP_SUMMARY``), never more than ``LIMIT`` rows per list."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from pipeline.rollout import Summary, Verdict

LIMIT = 50


def stage_table(verdicts: Sequence[Verdict], title: str) -> Table:
    table = Table(title=title)
    for column in ("stage", "stacks", "ok", "failed", "no result", "verdict"):
        table.add_column(column, overflow="fold")
    for v in verdicts:
        style = "red" if v.halted else "yellow" if v.failed else "green"
        table.add_row(v.stage, str(v.size), str(v.ok), str(v.failed), str(v.missing),
                      f"[{style}]{escape(_verdict(v))}[/]")
    return table


def _verdict(v: Verdict) -> str:
    return f"halted: {v.reason}" if v.halted else v.reason


def _names(names: Sequence[str]) -> str:
    more = f" and {len(names) - LIMIT} more" if len(names) > LIMIT else ""
    return ", ".join(names[:LIMIT]) + more


def print_summary(console: Console, summary: Summary) -> None:
    console.print(stage_table(summary.verdicts, f"rollout {summary.rollout}"))
    if summary.skipped:
        console.print(f"resumed: {', '.join(summary.skipped)} completed by an earlier run, not deployed again")
    console.print(f"[green]deployed[/] {len(summary.deployed)}, [red]failed[/] {len(summary.failed)}, "
                  f"[yellow]not deployed[/] {len(summary.not_deployed)}")
    for stack, error in list(summary.failed.items())[:LIMIT]:
        console.print(f"[red]{stack}[/]: {escape(error)}", highlight=False)
    if summary.not_deployed:
        console.print(f"not deployed: {_names(summary.not_deployed)}", highlight=False)
    halted = summary.halted
    if halted is not None:
        console.print(f"[red]rollout halted at {halted.stage}[/]: {escape(halted.reason)}. Fix the cause and push "
                      "(a new rollout), or run the same change again to retry from this stage.")


def markdown(summary: Summary) -> str:
    lines = [f"### Rollout `{summary.rollout}`", "", "| stage | stacks | ok | failed | no result | verdict |",
             "|---|---|---|---|---|---|"]
    lines += [f"| {v.stage} | {v.size} | {v.ok} | {v.failed} | {v.missing} | {_verdict(v)} |"
              for v in summary.verdicts]
    lines += ["", f"**deployed** {len(summary.deployed)} · **failed** {len(summary.failed)} · "
                  f"**not deployed** {len(summary.not_deployed)}"]
    if summary.failed:
        lines += ["", "| failed stack | first error |", "|---|---|"]
        lines += [f"| {s} | {e.replace('|', '/')} |" for s, e in list(summary.failed.items())[:LIMIT]]
    if summary.not_deployed:
        lines += ["", f"Not deployed: {_names(summary.not_deployed)}"]
    if summary.halted is not None:
        lines += ["", f"**Halted at {summary.halted.stage}**: {summary.halted.reason}"]
    return "\n".join(lines) + "\n"


def write_step_summary(text: str) -> None:
    """Append to the GitHub job summary (nothing outside GitHub Actions)."""
    path = os.environ.get("GITHUB_STEP_SUMMARY")
    if path:
        with open(path, "a") as handle:
            handle.write(text)


SEVERITIES = ("critical", "unknown", "warning", "ok")


def health_markdown(report: Mapping[str, Any]) -> str:
    """The fleet's health for the job summary: counts per severity, then every critical (and unknown) tenant with
    the checks that are not ok."""
    summary = report.get("summary", {})
    tenants = summary.get("tenants", {})
    checks = summary.get("checks", {})
    lines = [f"### Fleet health at {report.get('checked_at')}: **{report.get('severity')}**", "",
             "| | " + " | ".join(SEVERITIES) + " |", "|---|" + "---|" * len(SEVERITIES),
             "| tenants | " + " | ".join(str(tenants.get(s, 0)) for s in SEVERITIES) + " |",
             "| checks | " + " | ".join(str(checks.get(s, 0)) for s in SEVERITIES) + " |"]
    for severity in ("critical", "unknown"):
        found = [t for t in report.get("tenants", []) if t.get("severity") == severity]
        if not found:
            continue
        lines += ["", f"#### {severity} ({len(found)})", "", "| tenant | checks not ok |", "|---|---|"]
        for tenant in found[:LIMIT]:
            bad = [f"{name}: {cell.get('severity')} - {cell.get('summary')}"
                   for name, cell in tenant.get("checks", {}).items() if cell.get("severity") != "ok"]
            lines.append(f"| {tenant.get('tenant')} | {'<br>'.join(bad).replace('|', '/')} |")
        if len(found) > LIMIT:
            lines.append(f"| ... | and {len(found) - LIMIT} more |")
    return "\n".join(lines) + "\n"
