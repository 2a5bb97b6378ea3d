"""Minimal Vault HTTP access for backups: addresses + token, the active node found via ``sys/health``.

Snapshots are streamed (``requests`` with ``stream=True``), which hvac does not do; the KV walk uses one
``requests`` session per thread. Build from env (``VAULT_ADDRS``/``VAULT_ADDR``, ``VAULT_TOKEN``,
``VAULT_CACERT``) or from an ``hvac.Client``.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import requests

from toolkit.errors import ConfigError
from toolkit.redact import REDACTOR, Secret
from vault.backup.errors import VaultRequestError


@dataclass(frozen=True)
class NodeState:
    address: str
    reachable: bool
    initialized: bool = False
    sealed: bool = True
    active: bool = False


@dataclass
class VaultEndpoint:
    addresses: tuple[str, ...]
    token: Secret
    timeout: float = 10.0
    verify: bool | str = True
    _local: threading.local = field(default_factory=threading.local, repr=False)

    def __post_init__(self) -> None:
        if not self.addresses:
            raise ConfigError("vault.addresses", "at least one Vault address is required (VAULT_ADDR(S))")
        self.addresses = tuple(a.rstrip("/") for a in self.addresses)
        REDACTOR.register(self.token)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> VaultEndpoint:
        env = os.environ if env is None else env
        raw = env.get("VAULT_ADDRS") or env.get("VAULT_ADDR") or ""
        addresses = tuple(a.strip() for a in raw.split(",") if a.strip())
        if not env.get("VAULT_TOKEN"):
            raise ConfigError("VAULT_TOKEN", "is not set (source .sandbox/env or export a token)")
        return cls(addresses, Secret(env["VAULT_TOKEN"]), verify=env.get("VAULT_CACERT") or True)

    @classmethod
    def from_hvac(cls, client: Any) -> VaultEndpoint:
        """From a plain ``hvac.Client`` (its URL and token)."""
        return cls((str(client.url),), Secret(str(client.token)))

    def with_token(self, token: str | Secret) -> VaultEndpoint:
        return VaultEndpoint(self.addresses, token if isinstance(token, Secret) else Secret(token),
                             self.timeout, self.verify)

    @property
    def session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.verify = self.verify
            session.headers["X-Vault-Token"] = self.token.reveal()
            self._local.session = session
        return session

    def node_state(self, address: str) -> NodeState:
        try:
            reply = requests.get(f"{address}/v1/sys/health", params={"standbyok": "false"},
                                 timeout=2, verify=self.verify)
        except requests.RequestException:
            return NodeState(address, reachable=False)
        try:
            body = reply.json()
        except ValueError:
            body = {}
        return NodeState(
            address, True, initialized=bool(body.get("initialized", reply.status_code != 501)),
            sealed=reply.status_code == 503 or bool(body.get("sealed", False)), active=reply.status_code == 200,
        )

    def active(self, wait: float = 0.0) -> str:
        """The address of the active node (waiting up to ``wait`` seconds for one)."""
        deadline = time.monotonic() + wait
        while True:
            for address in self.addresses:
                if self.node_state(address).active:
                    return address
            if time.monotonic() >= deadline:
                raise VaultRequestError(f"no active Vault node among {', '.join(self.addresses)}")
            time.sleep(0.25)

    def url(self, path: str, address: str | None = None) -> str:
        return f"{address or self.active()}/v1/{path.lstrip('/')}"

    def json(self, method: str, path: str, *, address: str | None = None, ok_404: bool = False,
             **kwargs: Any) -> dict[str, Any] | None:
        """One JSON request; None for 404 when ``ok_404``; raises ``VaultRequestError`` naming the path."""
        try:
            reply = self.session.request(method, self.url(path, address), timeout=self.timeout, **kwargs)
        except requests.RequestException as exc:
            raise VaultRequestError(f"{method} {path}: {type(exc).__name__}") from None
        if reply.status_code == 404 and ok_404:
            return None
        if reply.status_code >= 400:
            raise VaultRequestError(f"{method} {path}: HTTP {reply.status_code} {_errors(reply)}")
        if reply.status_code == 204 or not reply.content:
            return {}
        body: dict[str, Any] = reply.json()
        return body


def _errors(reply: requests.Response) -> str:
    try:
        return "; ".join(str(e) for e in reply.json().get("errors", []))[:300]
    except ValueError:
        return reply.text[:200]
