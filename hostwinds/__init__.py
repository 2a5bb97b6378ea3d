"""Typed client of the Hostwinds Cloud API (plain Python: no Pulumi, no invoke).

Entry points: ``HostwindsClient`` (operations), ``ClientSettings`` (endpoint, key, limits, polling),
``CreateRequest`` (what to create), ``Instance`` (what the API reports), ``Catalog`` (stack names -> API ids) and the
errors in ``hostwinds.errors``. What each part of the API contract rests on: hostwinds/CONTRACT.md.
"""

from hostwinds.catalog import Catalog, OfferNotFound
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
from hostwinds.firewall import FirewallProfileMissing
from hostwinds.models import FirewallProfile, Instance, Location, Plan
from hostwinds.settings import ClientSettings, PollSettings, RetryPolicy

__all__ = [
    "AuthError",
    "Catalog",
    "CircuitOpenError",
    "ClientSettings",
    "CreateRequest",
    "FirewallProfile",
    "FirewallProfileMissing",
    "HostwindsApiError",
    "HostwindsClient",
    "HostwindsError",
    "HostwindsTransientError",
    "HostwindsValidationError",
    "Instance",
    "InvalidActionError",
    "InvalidServiceIdError",
    "Location",
    "OfferNotFound",
    "Plan",
    "PollSettings",
    "RateLimitedError",
    "RetryPolicy",
    "WaitTimeoutError",
]
