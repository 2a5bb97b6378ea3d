"""Where Vault is and how to log in: the one parser of ``VAULT_ADDR(S)``, ``VAULT_TOKEN``, AppRole and
``VAULT_CACERT``, and the timeouts every Vault caller uses (``vault.client.VaultClient`` takes a ``VaultConfig``)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import ConfigDict, field_validator, model_validator

from toolkit.errors import ConfigError
from toolkit.models import SettingsModel
from toolkit.redact import REDACTOR, Secret


def parse_addresses(raw: str) -> tuple[str, ...]:
    """``"https://a:8200, https://b:8200/"`` -> ``("https://a:8200", "https://b:8200")`` (as ``VAULT_ADDRS``)."""
    return tuple(a.strip().rstrip("/") for a in raw.split(",") if a.strip())


def addresses_from_env(env: Mapping[str, str]) -> tuple[str, ...]:
    """``VAULT_ADDRS`` (comma list), else ``VAULT_ADDR``."""
    return parse_addresses(env.get("VAULT_ADDRS") or env.get("VAULT_ADDR") or "")


def verify_from_env(env: Mapping[str, str]) -> bool | str:
    """TLS verification for calls that need no token (health, certificates): the ``VAULT_CACERT`` bundle, else the
    system's trust store."""
    return env.get("VAULT_CACERT") or True


class VaultConfig(SettingsModel):
    """Where Vault is and how to authenticate. Secrets are ``Secret`` so reprs never show them. The addresses may
    be given first without their name: ``VaultConfig(addresses, token=...)``."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    field_prefix: ClassVar[str] = "vault"

    addresses: tuple[str, ...]
    token: Secret | None = None
    role_id: str | None = None
    secret_id: Secret | None = None
    approle_mount: str = "approle"
    timeout: float = 5.0
    """Seconds for one HTTP request to one node."""
    probe_timeout: float = 1.0
    """Seconds for one ``sys/health`` probe."""
    op_deadline: float = 60.0
    """Seconds one operation may keep failing over before ``VaultUnavailable``."""
    verify: bool | str = True
    """TLS verification: True, False (sandbox only) or a CA bundle path."""

    def __init__(self, addresses: tuple[str, ...] | None = None, /, **values: Any) -> None:
        super().__init__(**({"addresses": addresses} if addresses is not None else {}), **values)

    @field_validator("addresses")
    @classmethod
    def _addresses(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("at least one Vault address is required (VAULT_ADDR(S))")
        for address in value:
            if not address.startswith(("http://", "https://")) or address.rstrip("/") != address:
                raise ValueError(f"{address!r} must look like https://host:8200 (no trailing slash)")
        return value

    @model_validator(mode="after")
    def _auth(self) -> VaultConfig:
        if self.token is None and not (self.role_id and self.secret_id):
            raise ConfigError(
                "vault.auth", "give a token (VAULT_TOKEN) or AppRole credentials (VAULT_ROLE_ID + VAULT_SECRET_ID)"
            )
        REDACTOR.register(self.token, self.secret_id)
        return self

    @property
    def uses_approle(self) -> bool:
        return bool(self.role_id and self.secret_id)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> VaultConfig:
        """From ``VAULT_ADDRS`` (comma list) or ``VAULT_ADDR``, and ``VAULT_TOKEN`` or
        ``VAULT_ROLE_ID`` + ``VAULT_SECRET_ID`` (``VAULT_APPROLE_MOUNT``, ``VAULT_CACERT`` optional)."""
        env = os.environ if env is None else env
        addresses = addresses_from_env(env)
        token = env.get("VAULT_TOKEN")
        secret_id = env.get("VAULT_SECRET_ID")
        values: dict[str, Any] = {
            "addresses": addresses,
            "token": Secret(token) if token else None,
            "role_id": env.get("VAULT_ROLE_ID") or None,
            "secret_id": Secret(secret_id) if secret_id else None,
            "approle_mount": env.get("VAULT_APPROLE_MOUNT", "approle"),
        }
        values["verify"] = verify_from_env(env)
        if values["role_id"] and values["secret_id"]:
            values["token"] = None  # AppRole wins: it can re-login, a static token cannot
        values.update(overrides)
        return cls(**values)
