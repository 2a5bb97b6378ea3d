"""DNS errors, under the toolkit's hierarchy so callers can catch ``ToolkitError`` at the top."""

from __future__ import annotations

from toolkit.errors import RemoteError, TransientError, ValidationError


class DnsRefusedError(RemoteError):
    """The DNS server refused the update (REFUSED, NOTAUTH, a TSIG key it does not accept, NOTZONE)."""

    def __init__(self, server: str, rcode: str, hint: str) -> None:
        self.server = server
        self.rcode = rcode
        self.hint = hint
        super().__init__(f"{server} refused the DNS update ({rcode}): {hint}")


class DnsTimeoutError(TransientError):
    """The DNS server did not answer in time (or answered SERVFAIL); retrying may help."""


class SpfLookupLimitError(ValidationError):
    """An SPF record needs more than the 10 DNS lookups RFC 7208 allows."""


class ZoneNotFoundError(RemoteError):
    """The provider has no zone that holds the record's name."""


class CloudflareError(RemoteError):
    """Cloudflare answered ``success: false``; ``errors`` holds its (code, message) pairs."""

    def __init__(self, action: str, status: int, errors: list[tuple[int, str]]) -> None:
        self.action = action
        self.status = status
        self.errors = errors
        detail = "; ".join(f"{code}: {message}" for code, message in errors) or "no detail given"
        super().__init__(f"Cloudflare refused to {action} (HTTP {status}): {detail}")


class CloudflareAuthError(CloudflareError):
    """The API token is missing, invalid, expired or lacks the DNS permission (HTTP 401/403)."""


class CloudflareRateLimitedError(TransientError):
    """Cloudflare rate-limited the request (HTTP 429); retry after a pause."""
