"""Where Vault is and how to log in: the one parser of ``VAULT_ADDR(S)``, ``VAULT_TOKEN``, AppRole and
``VAULT_CACERT``, and the timeouts every Vault caller uses (``vault.client.VaultClient`` takes a ``VaultConfig``)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from toolkit.errors import ConfigError
from toolkit.redact import REDACTOR, Secret


def parse_addresses(raw: str) -> tuple[str, ...]:
    """``"https://a:8200, https://b:8200/"`` -> ``("https://a:8200", "https://b:8200")`` (as ``VAULT_ADDRS``)."""
    return tuple(a.strip().rstrip("/") for a in raw.split(",") if a.strip())


@dataclass(frozen=True)
class VaultConfig:
    """Where Vault is and how to authenticate. Secrets are ``Secret`` so reprs never show them."""

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

    def __post_init__(self) -> None:
        if not self.addresses:
            raise ConfigError("vault.addresses", "at least one Vault address is required (VAULT_ADDR(S))")
        for address in self.addresses:
            if not address.startswith(("http://", "https://")) or address.rstrip("/") != address:
                raise ConfigError(
                    "vault.addresses", f"{address!r} must look like https://host:8200 (no trailing slash)"
                )
        if self.token is None and not (self.role_id and self.secret_id):
            raise ConfigError(
                "vault.auth", "give a token (VAULT_TOKEN) or AppRole credentials (VAULT_ROLE_ID + VAULT_SECRET_ID)"
            )
        REDACTOR.register(self.token, self.secret_id)

    @property
    def uses_approle(self) -> bool:
        return bool(self.role_id and self.secret_id)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> VaultConfig:
        """From ``VAULT_ADDRS`` (comma list) or ``VAULT_ADDR``, and ``VAULT_TOKEN`` or
        ``VAULT_ROLE_ID`` + ``VAULT_SECRET_ID`` (``VAULT_APPROLE_MOUNT``, ``VAULT_CACERT`` optional)."""
        env = os.environ if env is None else env
        addresses = parse_addresses(env.get("VAULT_ADDRS") or env.get("VAULT_ADDR") or "")
        token = env.get("VAULT_TOKEN")
        secret_id = env.get("VAULT_SECRET_ID")
        values: dict[str, Any] = {
            "addresses": addresses,
            "token": Secret(token) if token else None,
            "role_id": env.get("VAULT_ROLE_ID") or None,
            "secret_id": Secret(secret_id) if secret_id else None,
            "approle_mount": env.get("VAULT_APPROLE_MOUNT", "approle"),
        }
        if env.get("VAULT_CACERT"):
            values["verify"] = env["VAULT_CACERT"]
        if values["role_id"] and values["secret_id"]:
            values["token"] = None  # AppRole wins: it can re-login, a static token cannot
        values.update(overrides)
        return cls(**values)
