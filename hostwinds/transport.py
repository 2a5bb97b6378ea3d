"""HTTP transport: one form-encoded POST per call. Knows nothing of actions or response bodies.

Maps network trouble to ``HostwindsTransientError`` (timeouts, connection errors, 5xx, 429) and an HTTP-level
refusal (401/403, e.g. a WAF blocking a non-allow-listed address) to ``AuthError``. Every connection is opened over
IPv4 (``hostwinds.egress``): API keys are bound to IPv4 allow-lists, and a call leaving over IPv6 is refused.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import requests

from hostwinds.egress import IPv4Adapter, require_ipv4_reachable
from hostwinds.endpoint import check_api_url
from hostwinds.errors import AuthError, HostwindsTransientError, RateLimitedError

FormValue = str | int | Sequence[str]


def encode_form(params: Mapping[str, FormValue]) -> list[tuple[str, str]]:
    """Form fields in order; a sequence value becomes PHP-style repeated ``name[]`` fields."""
    fields: list[tuple[str, str]] = []
    for name, value in params.items():
        if isinstance(value, str | int):
            fields.append((name, str(value)))
        else:
            list_name = name if name.endswith("[]") else f"{name}[]"
            fields.extend((list_name, str(item)) for item in value)
    return fields


@dataclass(frozen=True)
class RawReply:
    status: int
    text: str


class Transport(Protocol):
    def post(self, fields: list[tuple[str, str]], action: str) -> RawReply: ...


class RequestsTransport:
    """Transport over ``requests`` with a per-request timeout. Redirects are refused (a POST must not move).

    The URL is checked again here (``hostwinds.endpoint``): this is the object that sends the key. Connections are
    IPv4 only (``hostwinds.egress.IPv4Adapter``), so an IPv6 address literal is refused outright."""

    def __init__(self, url: str, timeout: float) -> None:
        self.url = check_api_url(url, "url")
        require_ipv4_reachable(self.url, "url")
        self.timeout = timeout
        self._session = requests.Session()
        adapter = IPv4Adapter()
        self._session.mount("https://", adapter)
        self._session.mount("http://", adapter)

    def __repr__(self) -> str:
        return f"RequestsTransport(url={self.url!r}, timeout={self.timeout})"

    def post(self, fields: list[tuple[str, str]], action: str) -> RawReply:
        try:
            response = self._session.post(
                self.url, data=fields, timeout=self.timeout, allow_redirects=False,
                headers={"Accept": "application/json"},
            )
        except requests.Timeout as exc:
            # ``from None``: the chained requests exception would carry the request body (and the key) along.
            raise HostwindsTransientError(
                f"Hostwinds {action}: no reply within {self.timeout:g} s ({type(exc).__name__})") from None
        except requests.ConnectionError as exc:
            raise HostwindsTransientError(f"Hostwinds {action}: connection failed ({type(exc).__name__})") from None
        except requests.RequestException as exc:
            raise HostwindsTransientError(f"Hostwinds {action}: request failed ({type(exc).__name__})") from None
        status = response.status_code
        if status == 429:
            raise RateLimitedError(f"Hostwinds {action}: HTTP 429 rate limited")
        if status >= 500:
            raise HostwindsTransientError(f"Hostwinds {action}: HTTP {status} from the API")
        if status in (401, 403):
            raise AuthError(action, f"HTTP {status}: key refused or source address not allow-listed",
                            api_action="Authorization")
        if status != 200:
            raise HostwindsTransientError(f"Hostwinds {action}: unexpected HTTP {status}")
        return RawReply(status=status, text=response.text)

    def close(self) -> None:
        self._session.close()
