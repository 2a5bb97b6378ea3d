"""Errors of the Mailu layer, placed under the toolkit hierarchy."""

from __future__ import annotations

from toolkit.errors import RemoteError, ToolkitError


class MailuError(ToolkitError):
    """Base of every error raised by the ``mailu`` package."""


class MailuInstallError(MailuError, RemoteError):
    """A step of the installer failed on the host; the message names the step."""

    def __init__(self, step: str, problem: str) -> None:
        self.step = step
        self.problem = problem
        super().__init__(f"install step {step!r}: {problem}")


class MailuHealthError(MailuInstallError):
    """Mailu's containers did not all become healthy in time."""
