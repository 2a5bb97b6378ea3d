"""The toolkit's exception hierarchy: one base, specific subclasses per failure kind.

Each outside-system package (hostwinds, vault, mailu, dnsrecords) subclasses these for its own errors,
so callers can catch ``ToolkitError`` at the top and still tell failures apart below it.
"""

from __future__ import annotations


class ToolkitError(Exception):
    """Base of every error the toolkit raises on purpose."""


class ConfigError(ToolkitError):
    """A configuration or input value is wrong. Names the field and what is wrong with it."""

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"{field}: {problem}")


class ValidationError(ConfigError):
    """A value passed by a caller fails validation (e.g. a tenant id that could escape its Vault path)."""


class SetupError(ToolkitError):
    """The machine lacks something the toolkit needs (a system package, a free port, a binary)."""

    def __init__(self, step: str, problem: str, remedy: str) -> None:
        self.step = step
        self.problem = problem
        self.remedy = remedy
        super().__init__(f"{step}: {problem}. What to do: {remedy}")


class TransientError(ToolkitError):
    """A failure that may succeed when retried (timeouts, 5xx, rate limits)."""


class RemoteError(ToolkitError):
    """An outside system refused the request for a reason retrying will not fix."""
