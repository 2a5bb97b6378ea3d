"""Typed client of the Hostwinds Cloud API (plain Python: no Pulumi, no invoke).

Entry points: ``HostwindsClient`` (operations), ``ClientSettings`` (endpoint, key, limits, polling),
``CreateRequest`` (what to create), ``Instance`` (what the API reports) and the errors in ``hostwinds.errors``.
"""

from hostwinds.client import CreateRequest, HostwindsClient
from hostwinds.errors import (
    AuthError,
    CircuitOpenError,
    HostwindsApiError,
    HostwindsError,
    HostwindsTransientError,
    HostwindsValidationError,
    InvalidActionError,
    InvalidServiceIdError,
    RateLimitedError,
    WaitTimeoutError,
)
from hostwinds.models import FirewallProfile, Instance, Location, Plan
from hostwinds.settings import ClientSettings, PollSettings, RetryPolicy

__all__ = [
    "AuthError",
    "CircuitOpenError",
    "ClientSettings",
    "CreateRequest",
    "FirewallProfile",
    "HostwindsApiError",
    "HostwindsClient",
    "HostwindsError",
    "HostwindsTransientError",
    "HostwindsValidationError",
    "Instance",
    "InvalidActionError",
    "InvalidServiceIdError",
    "Location",
    "Plan",
    "PollSettings",
    "RateLimitedError",
    "RetryPolicy",
    "WaitTimeoutError",
]
