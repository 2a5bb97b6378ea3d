"""Defensive reading of Hostwinds replies.

Two families exist: mutations answer a JSON list of result objects (``[{"result": "success", ...}]``), reads
answer ``{"success": <payload>}``. Errors may come as a bare object or wrapped in a list, and ``result ==
"error"`` anywhere in the reply means the call failed, whatever else it says.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hostwinds.errors import (
    AuthError,
    HostwindsApiError,
    HostwindsTransientError,
    HostwindsValidationError,
    InvalidActionError,
    InvalidServiceIdError,
    RateLimitedError,
)
from toolkit.redact import scrub

_MAX_DEPTH = 4
# Words in an error message -> the request field it is most likely about (for messages naming the field).
_FIELD_HINTS = (
    ("location", "location_id"),
    ("template", "template"),
    ("image", "template"),
    ("plan", "rid"),
    ("product", "rid"),
    ("rid", "rid"),
    ("ssh key", "keys[]"),
    ("rdns", "rdns"),
    ("firewall", "name"),
    ("srvrname", "srvrname"),
    ("label", "srvrname"),
    ("ip", "ip"),
    ("name", "name"),
)
_VALIDATION_WORDS = re.compile(r"\b(invalid|required|must|not found|unknown|missing|malformed|too long)\b", re.I)
_TRANSIENT_WORDS = re.compile(r"(temporar|try again|maintenance|timed? ?out|unavailable)", re.I)


@dataclass(frozen=True)
class ResultEntry:
    """One object of a mutation reply."""

    result: str
    action: str | None
    message: str
    error_code: str | None

    @property
    def ok(self) -> bool:
        return self.result.lower() == "success"


def decode(text: str, action: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        snippet = scrub(text.strip()[:80])
        raise HostwindsTransientError(f"Hostwinds {action}: reply is not JSON: {snippet!r}") from None


def _entry(obj: Mapping[str, Any]) -> ResultEntry:
    code = obj.get("ERROR", obj.get("error"))
    action = obj.get("action")
    return ResultEntry(
        result=str(obj.get("result", "")),
        action=str(action) if action is not None else None,
        message=scrub(str(obj.get("message", ""))),
        error_code=str(code) if code not in (None, "") else None,
    )


def find_error(payload: Any, depth: int = 0) -> ResultEntry | None:
    """The first object with ``result == "error"`` anywhere in the reply (bounded depth)."""
    if depth > _MAX_DEPTH:
        return None
    if isinstance(payload, Mapping):
        if str(payload.get("result", "")).lower() == "error":
            return _entry(payload)
        children: list[Any] = list(payload.values())
    elif isinstance(payload, list):
        children = payload
    else:
        return None
    for child in children:
        found = find_error(child, depth + 1)
        if found is not None:
            return found
    return None


def _field_for(message: str) -> str:
    lowered = message.lower()
    for word, field in _FIELD_HINTS:
        if re.search(rf"\b{re.escape(word)}", lowered):
            return field
    return "request"


def error_for(entry: ResultEntry, request_action: str) -> Exception:
    """The typed exception for an error entry."""
    message = entry.message or "(no message)"
    lowered = message.lower()
    args = (request_action, message, entry.action, entry.error_code)
    if (entry.action or "").lower() == "authorization" or "not authorized" in lowered:
        return AuthError(*args)
    if "invalid action" in lowered:
        return InvalidActionError(*args)
    if "serviceid" in lowered:
        return InvalidServiceIdError(*args)
    if "rate limit" in lowered or "too many requests" in lowered:
        return RateLimitedError(f"Hostwinds {request_action}: {message}")
    if _TRANSIENT_WORDS.search(message):
        return HostwindsTransientError(f"Hostwinds {request_action}: {message}")
    if _VALIDATION_WORDS.search(message):
        return HostwindsValidationError(*args, field=_field_for(message))
    return HostwindsApiError(*args)


def raise_for_error(payload: Any, request_action: str) -> None:
    entry = find_error(payload)
    if entry is not None:
        raise error_for(entry, request_action)


def read_payload(payload: Any, request_action: str) -> Any:
    """The value of a read reply ``{"success": <payload>}`` (after checking for errors)."""
    raise_for_error(payload, request_action)
    if isinstance(payload, list) and len(payload) == 1 and isinstance(payload[0], Mapping):
        payload = payload[0]
    if isinstance(payload, Mapping) and "success" in payload:
        return payload["success"]
    raise HostwindsApiError(request_action, f"unexpected reply shape for a read: {_shape(payload)}")


def mutation_results(payload: Any, request_action: str) -> list[ResultEntry]:
    """The result objects of a mutation reply; accepts a list, a bare object, or ``{"success": ...}``."""
    raise_for_error(payload, request_action)
    if isinstance(payload, Mapping):
        if "result" in payload:
            return [_entry(payload)]
        if "success" in payload:
            return [ResultEntry("success", None, str(payload["success"]), None)]
    if isinstance(payload, list) and payload and all(isinstance(item, Mapping) for item in payload):
        entries = [_entry(item) for item in payload]
        if all(entry.ok for entry in entries):
            return entries
    raise HostwindsApiError(request_action, f"unexpected reply shape for a change: {_shape(payload)}")


def _shape(payload: Any) -> str:
    """A description of a reply's structure without its values (values may be secrets)."""
    if isinstance(payload, Mapping):
        return "{" + ", ".join(sorted(str(k) for k in payload)[:8]) + "}"
    if isinstance(payload, list):
        return f"list of {len(payload)}"
    return type(payload).__name__
