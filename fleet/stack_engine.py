"""The one way the toolkit drives the Pulumi engine: a stack of a project through the Automation API
(``LocalWorkspace`` over the project directory) - outputs, preview, the no-change proof, up, destroy - plus recovery
of a stack whose last ``up`` was killed. Day-2 tasks, ``status``, ``dns.check``, the demo and ``ci.deploy`` use it.

The Automation API runs the ``pulumi`` CLI, so it needs what the CLI needs: the engine on PATH (``engine_path``
adds the one scripts/setup.sh recorded), the backend (``PULUMI_BACKEND_URL``), the secrets passphrase, and the
providers' settings (Vault, Hostwinds, TSIG) in the environment handed over as ``env``.

A killed ``up`` leaves a lock (DIY backends) and pending operations in the state; ``repair`` removes both. That is
safe for this project because every create is idempotent or adopting (the Instance adopts the VPS with its unique
label; the Vault key resources only add versions; DNS updates replace record sets) and must only be called when
no other update of the stack can be running.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pulumi import automation as auto

from toolkit.errors import ToolkitError
from toolkit.redact import scrub

REPO = Path(__file__).resolve().parent.parent


class StackEngineError(ToolkitError):
    """The Pulumi engine failed (message holds the tail of its output, redacted)."""


class StackOutputsError(StackEngineError):
    """The stack's outputs could not be read (no such stack, not deployed, engine missing)."""


class NotConverged(StackEngineError):
    """After an ``up``, a preview still shows changes: the world and the intent disagree."""


@dataclass(frozen=True)
class UpSummary:
    changes: dict[str, int]
    lines: list[str] = field(default_factory=list)

    def matching(self, marker: str) -> list[str]:
        return [line.strip() for line in self.lines if marker in line]


def engine_path(env: Mapping[str, str]) -> str:
    """PATH with the engine setup recorded (``.venv/pulumi-bin-dir``) and this venv's bin in front."""
    recorded = REPO / ".venv" / "pulumi-bin-dir"
    parts = [recorded.read_text().strip()] if recorded.exists() else []
    parts.append(str(Path(sys.executable).parent))
    return ":".join([*parts, env.get("PATH", "")])


def engine_env(env: Mapping[str, str]) -> dict[str, str]:
    """What the engine runs with: the caller's settings over the process environment, the engine on PATH, no
    update check."""
    merged = {**os.environ, **env}
    return {**merged, "PATH": engine_path(merged), "PULUMI_SKIP_UPDATE_CHECK": "true"}


def failure_summary(text: str, first_errors: int = 8, tail: int = 8) -> str:
    """The engine's first error lines (the cause: a provider's exception) and the last lines (the outcome). The
    tail alone can hold only the consequences ("Resource monitor has terminated") when the program stops late."""
    lines = text.strip().splitlines()
    errors = [i for i, line in enumerate(lines) if "error:" in line.lower()][:first_errors]
    kept = sorted({*errors, *range(max(0, len(lines) - tail), len(lines))})
    return "\n".join(lines[i] for i in kept)


class StackEngine:
    """One stack of the project in ``work_dir`` (its config comes from the stack file Pulumi.yaml names).
    ``create``: make the stack when it does not exist yet (the demo, CI); day-2 tasks only select."""

    def __init__(self, work_dir: Path, stack: str, env: Mapping[str, str],
                 on_output: Callable[[str], None] | None = None, *, create: bool = False) -> None:
        self.work_dir = Path(work_dir)
        self.stack_name = stack
        self.env = engine_env(env)
        self._on_output = on_output
        self._create = create
        self._stack: auto.Stack | None = None

    def _select(self) -> auto.Stack:
        if self._stack is None:
            pulumi_bin = shutil.which("pulumi", path=self.env["PATH"])
            if pulumi_bin is None:
                raise StackEngineError("the `pulumi` CLI is not on PATH (run scripts/setup.sh)")
            bin_dir = Path(pulumi_bin).resolve().parent
            command = auto.PulumiCommand(root=str(bin_dir.parent)) if bin_dir.name == "bin" else None
            opts = auto.LocalWorkspaceOptions(work_dir=str(self.work_dir), env_vars=self.env, pulumi_command=command)
            choose = auto.create_or_select_stack if self._create else auto.select_stack
            try:
                self._stack = choose(stack_name=self.stack_name, work_dir=str(self.work_dir), opts=opts)
            except auto.errors.CommandError as exc:
                raise StackEngineError(f"cannot select stack {self.stack_name}: {_tail(exc)}") from None
        return self._stack

    def outputs(self) -> dict[str, Any]:
        try:
            return {k: v.value for k, v in self._select().outputs().items()}
        except (auto.errors.CommandError, StackEngineError) as exc:
            raise StackOutputsError(f"cannot read outputs of {self.stack_name}: {_tail(exc)}") from None

    def _collector(self, lines: list[str]) -> Callable[[str], None]:
        def collect(line: str) -> None:
            text = scrub(line)
            lines.append(text)
            if self._on_output is not None:
                self._on_output(text)
        return collect

    def preview(self) -> dict[str, int]:
        """``pulumi preview``: the planned changes per kind (``same``, ``create``, ...)."""
        lines: list[str] = []
        try:
            result = self._select().preview(color="never", on_output=self._collector(lines), suppress_progress=True)
        except auto.errors.CommandError as exc:
            raise StackEngineError(f"pulumi preview of {self.stack_name} failed:\n"
                                   f"{failure_summary(_joined(lines) or scrub(str(exc)))}") from None
        return {str(getattr(k, "value", k)): int(v) for k, v in result.change_summary.items()}

    def destroy(self) -> UpSummary:
        lines: list[str] = []
        try:
            result = self._select().destroy(color="never", on_output=self._collector(lines), suppress_progress=True)
        except auto.errors.CommandError as exc:
            raise StackEngineError(f"pulumi destroy of {self.stack_name} failed:\n"
                                   f"{failure_summary(_joined(lines) or scrub(str(exc)))}") from None
        changes = {str(getattr(k, "value", k)): int(v) for k, v in (result.summary.resource_changes or {}).items()}
        return UpSummary(changes=changes, lines=lines)

    def repair(self) -> list[str]:
        """Clear what a killed update left behind: the backend lock, then pending operations. Returns what it did."""
        stack, done = self._select(), []
        try:
            deployment = stack.export_stack()
        except auto.errors.CommandError as exc:
            raise StackEngineError(f"cannot export {self.stack_name}: {_tail(exc)}") from None
        state = dict(deployment.deployment or {})
        pending = state.get("pending_operations") or []
        if self._locked():
            self._cancel()
            done.append("removed the lock of the interrupted update")
        if pending:
            cleaned = {k: v for k, v in state.items() if k != "pending_operations"}
            try:
                stack.import_stack(auto.Deployment(version=deployment.version, deployment=cleaned))
            except auto.errors.CommandError as exc:
                raise StackEngineError(f"cannot import the repaired state: {_tail(exc)}") from None
            kinds = sorted({f"{p.get('type')} {str(p.get('resource', {}).get('urn', '')).split('::')[-1]}"
                            for p in pending})
            done.append(f"cleared {len(pending)} pending operation(s): {', '.join(kinds)}")
        return done

    def _locked(self) -> bool:
        backend = self.env.get("PULUMI_BACKEND_URL", "")
        if not backend.startswith("file://"):
            return False  # managed backends expire a dead client's lease themselves
        root = Path(backend.removeprefix("file://")).expanduser() / ".pulumi" / "locks"
        return any(p.suffix == ".json" and self.stack_name in p.parts for p in root.rglob("*.json")) \
            if root.exists() else False

    def _cancel(self) -> None:
        try:
            self._select().cancel()
        except auto.errors.CommandError as exc:
            raise StackEngineError(f"cannot remove the lock of {self.stack_name}: {_tail(exc)}") from None

    def up(self) -> UpSummary:
        lines: list[str] = []
        try:
            result = self._select().up(color="never", on_output=self._collector(lines), suppress_progress=True)
        except auto.errors.ConcurrentUpdateError as exc:
            raise StackEngineError(f"stack {self.stack_name} is locked by another update: {_tail(exc)}") from None
        except auto.errors.CommandError as exc:
            raise StackEngineError(f"pulumi up of {self.stack_name} failed:\n"
                                   f"{failure_summary(_joined(lines) or scrub(str(exc)))}") from None
        changes = {str(getattr(k, "value", k)): int(v) for k, v in (result.summary.resource_changes or {}).items()}
        return UpSummary(changes=changes, lines=lines)

    def preview_no_changes(self) -> None:
        """``pulumi preview --expect-no-changes``: raises ``NotConverged`` when the engine would still change things."""
        lines: list[str] = []
        try:
            self._select().preview(color="never", expect_no_changes=True, on_output=lambda line: lines.append(
                scrub(line)), suppress_progress=True)
        except auto.errors.CommandError as exc:
            text = _joined(lines)[-3000:] or _tail(exc, 3000)
            raise NotConverged(f"{self.stack_name} has not converged: `pulumi preview --expect-no-changes` "
                               f"still shows changes:\n{text}") from None


def _tail(exc: BaseException, limit: int = 1500) -> str:
    return scrub(str(exc))[-limit:]


def stack_outputs(stack: str, *, work_dir: Path = REPO, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """A stack's outputs (serviceid, main_ip, Vault paths, ...): the live facts Pulumi recorded."""
    return StackEngine(work_dir, stack, env or {}).outputs()


def _joined(lines: list[str]) -> str:
    """The engine's output as text (the Automation API hands lines over with or without their newline)."""
    return "\n".join(line.rstrip("\n") for line in lines)
