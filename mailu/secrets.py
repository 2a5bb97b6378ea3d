"""Where the installer's secrets come from: a small protocol, implemented by the Vault layer (plugged in later).

The Pulumi wrapper stores only ``SecretRefs`` (Vault paths and versions) and the dotted name of a loader; the
loader turns refs into a ``MailuSecrets`` at run time, in memory.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Protocol, cast, runtime_checkable

from toolkit.errors import ConfigError
from toolkit.redact import Secret


@runtime_checkable
class MailuSecrets(Protocol):
    """The four secrets the installer needs. Each call may fetch from Vault; values stay in memory."""

    def admin_ssh_private_key(self) -> Secret:
        """The operator's admin SSH private key (OpenSSH/PEM text) for root on the VPS."""
        ...

    def dkim_private_key(self) -> Secret:
        """The DKIM private key (PEM) for ``<domain>.<selector>``."""
        ...

    def admin_password(self) -> Secret:
        """The Mailu admin account's password (plain text, decrypted from Vault's transit ciphertext)."""
        ...

    def mailu_secret_key(self) -> Secret:
        """Mailu's ``SECRET_KEY``."""
        ...


@dataclass(frozen=True)
class StaticSecrets:
    """``MailuSecrets`` from values already held in memory (tests, or a caller that fetched them itself)."""

    ssh_private_key: Secret
    dkim_key: Secret
    password: Secret
    secret_key: Secret

    def admin_ssh_private_key(self) -> Secret:
        return self.ssh_private_key

    def dkim_private_key(self) -> Secret:
        return self.dkim_key

    def admin_password(self) -> Secret:
        return self.password

    def mailu_secret_key(self) -> Secret:
        return self.secret_key


@dataclass(frozen=True)
class SecretRefs:
    """Vault locations (and versions, 0 = latest) of the secrets. Public: safe in state and logs."""

    admin_ssh_path: str
    dkim_path: str
    smtp_admin_path: str
    mailu_secret_key_path: str
    admin_ssh_version: int = 0
    dkim_version: int = 0
    smtp_admin_version: int = 0
    mailu_secret_key_version: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SecretRefs:
        try:
            return cls(**dict(data))  # the engine's doubles are whole ints again at the provider's boundary
        except TypeError as exc:
            raise ConfigError("secret_refs", str(exc)) from None


SecretsLoader = Callable[[SecretRefs], MailuSecrets]


def resolve_loader(dotted: str) -> SecretsLoader:
    """``"package.module:function"`` -> the loader function (so only its name needs to be stored)."""
    module_name, sep, attr = dotted.partition(":")
    if not sep or not module_name or not attr:
        raise ConfigError("secrets_loader", f"{dotted!r} must look like 'package.module:function'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError("secrets_loader", f"cannot import {module_name!r}: {exc}") from None
    loader = getattr(module, attr, None)
    if not callable(loader):
        raise ConfigError("secrets_loader", f"{module_name!r} has no callable {attr!r}")
    return cast(SecretsLoader, loader)
