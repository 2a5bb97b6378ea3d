"""Keep secrets out of logs, exceptions and reprs.

Three mechanisms, used together:
- ``Secret``: a str wrapper whose repr/str never show the value (``.reveal()`` does).
- ``Redactor``: a registry of known secret values (and secret-looking patterns) that scrubs text.
- ``install_logging_redaction()``: every log record of the process is scrubbed when it is made, so no handler
  (Python's last-resort stderr handler, pytest's, one a library adds later) ever sees a secret. The entry points
  call it: ``tasks.py`` (invoke), ``__main__.py`` (the Pulumi program) and ``components`` (imported by the
  dynamic providers' own process, where the adapters log during ``pulumi up``).
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

REDACTED = "***REDACTED***"

# Patterns that are secret whatever their value: PEM private keys, tenant API keys, Vault tokens,
# and form/JSON fields whose names say they are secret.
_PEM_PRIVATE = re.compile(
    r"-----BEGIN ([A-Z0-9]+ )?PRIVATE KEY-----.*?-----END ([A-Z0-9]+ )?PRIVATE KEY-----", re.DOTALL
)
_API_KEY = re.compile(r"pm_live_[A-Za-z0-9]{32}")
_VAULT_TOKEN = re.compile(r"\b(?:s|hvs|hvb|b)\.[A-Za-z0-9_-]{20,}")
SECRET_FIELD_NAMES = frozenset(
    {"api", "api_key", "apikey", "password", "configkey", "private_key", "token", "secret", "secret_key",
     "client_token", "secret_id", "passphrase", "initial_admin_pw", "api_token"}
)
_FIELD_VALUE = re.compile(
    r"(?i)(?P<key>\b(?:" + "|".join(sorted(SECRET_FIELD_NAMES, key=len, reverse=True)) + r"))"
    r"(?P<sep>[\"']?\s*[=:]\s*[\"']?)(?P<val>[^&\s\"',}]+)"
)


class Secret:
    """A secret string that never shows itself in repr(), str() or f-strings."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret({REDACTED})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)


class Redactor:
    """Scrubs registered secret values and secret-shaped patterns from text. Thread-safe."""

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._lock = threading.Lock()

    def register(self, *values: str | Secret | None) -> None:
        with self._lock:
            for value in values:
                raw = value.reveal() if isinstance(value, Secret) else value
                # Very short values would redact ordinary words; they are not secrets worth the name.
                if raw and len(raw) >= 6:
                    self._values.add(raw)

    def scrub(self, text: str) -> str:
        with self._lock:
            values = sorted(self._values, key=len, reverse=True)
        for value in values:
            if value in text:
                text = text.replace(value, REDACTED)
        text = _PEM_PRIVATE.sub(REDACTED, text)
        text = _API_KEY.sub(REDACTED, text)
        text = _VAULT_TOKEN.sub(REDACTED, text)
        return _FIELD_VALUE.sub(lambda m: f"{m.group('key')}{m.group('sep')}{REDACTED}", text)


REDACTOR = Redactor()
"""Process-wide redactor: clients register every secret they learn (API keys, root passwords, tokens)."""


def scrub(text: str) -> str:
    return REDACTOR.scrub(text)


def redact_mapping(data: Mapping[str, Any], secret_keys: Iterable[str] = SECRET_FIELD_NAMES) -> dict[str, Any]:
    """A copy of ``data`` with secret fields replaced, recursively (for logging request/response bodies)."""
    keys = {k.lower() for k in secret_keys}
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key.lower().rstrip("[]") in keys:
            out[key] = REDACTED
        elif isinstance(value, Mapping):
            out[key] = redact_mapping(value, keys)
        elif isinstance(value, list):
            out[key] = [redact_mapping(v, keys) if isinstance(v, Mapping) else v for v in value]
        else:
            out[key] = value
    return out


def _scrub_record(record: logging.LogRecord) -> None:
    """Replace the record's message (arguments merged in) and exception text by their scrubbed forms."""
    try:
        message = record.getMessage()
    except Exception:  # arguments that do not fit the format: keep the format, drop the arguments
        message = f"{record.msg} (log arguments dropped: they did not fit the format)"
    record.msg = scrub(message)
    record.args = None
    if record.exc_info and record.exc_info[1] is not None:
        record.exc_text = scrub(logging.Formatter().formatException(record.exc_info))
        record.exc_info = None
    if record.stack_info:
        record.stack_info = scrub(record.stack_info)


class _RedactingRecordFactory:
    """Wraps the process's log record factory: each record is scrubbed as it is made."""

    def __init__(self, inner: Callable[..., logging.LogRecord]) -> None:
        self.inner = inner

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record = self.inner(*args, **kwargs)
        _scrub_record(record)
        return record


def install_logging_redaction() -> None:
    """Scrub every log record of this process from now on, whichever handler writes it. Idempotent."""
    with _INSTALL_LOCK:
        current = logging.getLogRecordFactory()
        if not isinstance(current, _RedactingRecordFactory):
            logging.setLogRecordFactory(_RedactingRecordFactory(current))


_INSTALL_LOCK = threading.Lock()
