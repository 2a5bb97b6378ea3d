"""Errors of the Hostwinds client, rooted in the toolkit hierarchy.

Retry policy keys off the toolkit classes: ``TransientError`` subclasses are retried, everything else is not.
Every message is scrubbed of known secrets before it is stored.
"""

from __future__ import annotations

from toolkit.errors import RemoteError, ToolkitError, TransientError, ValidationError
from toolkit.redact import scrub


class HostwindsError(ToolkitError):
    """Base of every Hostwinds client error."""

    def __init__(self, message: str) -> None:
        # Straight to Exception: with multiple bases (e.g. ValidationError) the MRO's next __init__ differs.
        Exception.__init__(self, scrub(message))


class HostwindsApiError(HostwindsError, RemoteError):
    """The API answered with ``result == "error"`` for a reason retrying will not fix."""

    def __init__(self, request_action: str, message: str, api_action: str | None = None,
                 error_code: str | None = None) -> None:
        self.request_action = request_action
        self.api_message = scrub(message)
        self.api_action = api_action
        self.error_code = error_code
        details = f"ERROR {error_code}" if error_code else "no error code"
        label = f" ({api_action})" if api_action else ""
        super().__init__(f"Hostwinds {request_action}{label} failed: {self.api_message} [{details}]")


class AuthError(HostwindsApiError):
    """The key was refused: wrong, expired, or used from an address that is not allow-listed (IPv6 egress?)."""


class InvalidActionError(HostwindsApiError):
    """The API does not know the action (a client bug or an API change)."""


class InvalidServiceIdError(HostwindsApiError):
    """The serviceid does not exist or belongs to another account."""


class HostwindsValidationError(HostwindsApiError, ValidationError):
    """The API rejected a parameter (e.g. ``Location Id is invalid.``). ``field`` names it when known."""

    def __init__(self, request_action: str, message: str, api_action: str | None = None,
                 error_code: str | None = None, field: str = "request") -> None:
        self.field = field
        self.problem = scrub(message)
        HostwindsApiError.__init__(self, request_action, message, api_action, error_code)


class HostwindsTransientError(HostwindsError, TransientError):
    """A failure that may pass on retry: timeout, connection error, HTTP 5xx, unreadable reply."""


class RateLimitedError(HostwindsTransientError):
    """The API said the request rate is too high."""


class CircuitOpenError(HostwindsError, TransientError):
    """Too many consecutive failures: calls are refused locally until the breaker's cool-down ends.

    Transient for callers (try again later) but never retried inside the same call.
    """


class WaitTimeoutError(HostwindsError):
    """An asynchronous change (build, terminate, rename) did not show up within the polling timeout."""


class DuplicateLabelError(HostwindsError):
    """More than one instance carries a label that must be unique; a human must decide which one to keep."""
