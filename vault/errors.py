"""Errors of the Vault layer, placed under the toolkit hierarchy so callers can tell them apart."""

from __future__ import annotations

from toolkit.errors import RemoteError, ToolkitError, TransientError


class VaultError(ToolkitError):
    """Base of every error raised by the ``vault`` package."""


class VaultUnavailable(VaultError, TransientError):
    """No node of the cluster answered usefully within the retry budget."""


class VaultPermissionDenied(VaultError, RemoteError):
    """The token may not perform this operation on this path (HTTP 403)."""


class SecretNotFound(VaultError, RemoteError):
    """The secret (or the requested version) does not exist, or was deleted/destroyed."""


class CasConflict(VaultError, RemoteError):
    """A check-and-set write lost against another writer: the secret changed since it was read."""


class VaultAuthError(VaultError, RemoteError):
    """Logging in failed (bad AppRole credentials, expired token, wrong password or TOTP code)."""


class WrappingTokenInvalid(VaultError, RemoteError):
    """A response-wrapping token was already used, has expired, or never existed."""


class ApiKeyInvalid(VaultError):
    """A presented API key is malformed, unknown, revoked or does not match its stored hash."""


class KeyReuseRefused(VaultError):
    """A key path that already holds history was asked for a new key: keys and DKIM selectors are used once."""
