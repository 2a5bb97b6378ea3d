"""The one place that builds a Vault client: config, retries, token renewal, HA failover, consistency.

``VaultClient`` wraps one ``hvac.Client`` per cluster node, all sharing one ``requests`` session:

- **Retries**: the session's adapter retries HTTP 429 honouring ``Retry-After`` (urllib3 ``Retry``);
  connection errors, timeouts, 5xx, 412 and the transient "upgrading to versioned" 400 are retried by a
  tenacity loop that **fails over** to another node between attempts.
- **Failover**: nodes are ordered active-first by probing ``sys/health`` (200 active, 429 standby); a dead
  node is skipped, and the operation keeps failing over until ``op_deadline`` seconds have passed.
- **Read-your-writes**: the ``X-Vault-Index`` header of every write response is kept and sent back with
  ``X-Vault-Inconsistent: forward-active-node``, so a standby never answers with older state.
- **Tokens**: a static token (``VAULT_TOKEN``) or AppRole login; renewal at 2/3 of the TTL, re-login when
  the max TTL caps renewal, and one re-login on a 403 (the token may have expired or been revoked).

Retried writes can apply twice: writers of KV data use check-and-set (see ``vault.kv``).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, TypeVar

import hvac
import hvac.exceptions as hvac_exc
import requests
from requests.adapters import HTTPAdapter
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_delay, wait_exponential_jitter
from urllib3.util.retry import Retry

from toolkit.errors import ConfigError
from toolkit.redact import REDACTOR, Secret
from vault.errors import (
    CasConflict,
    SecretNotFound,
    VaultAuthError,
    VaultError,
    VaultPermissionDenied,
    VaultUnavailable,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

_WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_RETRYABLE_STATUS = frozenset({412, 429, 500, 502, 503, 504})
_STATUS_OF: tuple[tuple[type[Exception], int], ...] = (
    (hvac_exc.InvalidRequest, 400),
    (hvac_exc.Unauthorized, 401),
    (hvac_exc.Forbidden, 403),
    (hvac_exc.InvalidPath, 404),
    (hvac_exc.PreconditionFailed, 412),
    (hvac_exc.RateLimitExceeded, 429),
    (hvac_exc.InternalServerError, 500),
    (hvac_exc.VaultNotInitialized, 501),
    (hvac_exc.BadGateway, 502),
    (hvac_exc.VaultDown, 503),
)


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
        raw = env.get("VAULT_ADDRS") or env.get("VAULT_ADDR") or ""
        addresses = tuple(a.strip().rstrip("/") for a in raw.split(",") if a.strip())
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


class _IndexState:
    """The newest ``X-Vault-Index`` seen on a write response (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.index: str | None = None

    def remember(self, index: str) -> None:
        with self._lock:
            self.index = index


class _ConsistentAdapter(HTTPAdapter):
    """Sends the last write's ``X-Vault-Index`` with ``forward-active-node`` and records new ones."""

    def __init__(self, state: _IndexState, retries: Retry) -> None:
        self._state = state
        super().__init__(max_retries=retries)

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        index = self._state.index
        if index:
            request.headers["X-Vault-Index"] = index
            request.headers["X-Vault-Inconsistent"] = "forward-active-node"
        response = super().send(request, *args, **kwargs)
        new_index = response.headers.get("X-Vault-Index")
        if new_index and (request.method or "").upper() in _WRITE_METHODS:
            self._state.remember(new_index)
        return response


def build_session(verify: bool | str = True) -> requests.Session:
    """A session whose adapter retries 429 (honouring Retry-After) and keeps read-your-writes state."""
    retries = Retry(
        total=4, connect=0, read=0, redirect=0, other=0, status=4,
        status_forcelist=(429,), allowed_methods=None, backoff_factor=0.2,
        respect_retry_after_header=True, raise_on_status=False,
    )
    session = requests.Session()
    adapter = _ConsistentAdapter(_IndexState(), retries)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.verify = verify
    return session


def status_of(exc: BaseException) -> int | None:
    """The HTTP status behind an hvac exception (None for transport errors)."""
    for cls, status in _STATUS_OF:
        if isinstance(exc, cls):
            return status
    return None


def _is_transient(exc: BaseException) -> bool:
    if isinstance(exc, requests.ConnectionError | requests.Timeout):
        return True
    status = status_of(exc)
    if status in _RETRYABLE_STATUS:
        return True
    # KV v2 right after mounting: "Upgrading from non-versioned to versioned data" (or "Waiting for the
    # primary to upgrade from non-versioned to versioned data" on standbys).
    return status == 400 and "non-versioned to versioned" in str(exc).lower()


def translate(exc: Exception, what: str) -> VaultError:
    """A toolkit error for an hvac/requests failure, with a message naming the operation."""
    status = status_of(exc)
    detail = _detail(exc)
    if status == 403:
        extra = "" if detail == "permission denied" else f" ({detail})"
        return VaultPermissionDenied(f"{what}: permission denied{extra}")
    if status == 404:
        return SecretNotFound(f"{what}: not found")
    if status == 400 and "check-and-set" in detail.lower():
        return CasConflict(f"{what}: check-and-set failed, the secret changed since it was read ({detail})")
    if status in (400, 401):
        return VaultError(f"{what}: Vault refused the request ({detail})")
    return VaultUnavailable(f"{what}: {type(exc).__name__}: {detail}")


def _detail(exc: Exception) -> str:
    """Vault's error text on one line ("1 error occurred: * permission denied" -> "permission denied")."""
    errors = getattr(exc, "errors", None)
    text = "; ".join(str(e) for e in errors) if isinstance(errors, list) and errors else str(exc).split(", on ")[0]
    lines = [line.strip(" \t*") for line in text.splitlines()]
    lines = [line for line in lines if line and not line.endswith("error occurred:")]
    return " ".join(lines) or type(exc).__name__


@dataclass(frozen=True)
class NodeHealth:
    address: str
    reachable: bool
    active: bool = False
    standby: bool = False
    sealed: bool = False


class VaultClient:
    """HA-aware Vault client. Use ``call(lambda c: c.<hvac api>...)`` or the raw ``read/write/list/delete``."""

    def __init__(self, config: VaultConfig, *, manage_token: bool = True) -> None:
        self.config = config
        self._session = build_session(config.verify)
        self._lock = threading.RLock()
        self._nodes: list[str] = list(config.addresses)
        self._clients: dict[str, Any] = {
            address: hvac.Client(url=address, session=self._session, timeout=config.timeout, verify=config.verify)
            for address in self._nodes
        }
        self._token: Secret | None = None
        self._renew_at: float | None = None
        self._ttl: float = 0.0
        self._renewable = False
        self._manage_token = manage_token
        self.failovers = 0
        """How many times an operation moved to another node (for benches and tests)."""
        self._order_by_health()
        if config.uses_approle:
            self.login()
        elif config.token is not None:
            self._set_token(config.token)
            if manage_token:
                self._learn_token_ttl()

    # ----------------------------------------------------------------- construction helpers
    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> VaultClient:
        return cls(VaultConfig.from_env(env, **overrides))

    def with_token(self, token: str | Secret, *, manage_token: bool = False) -> VaultClient:
        """Another client on the same nodes authenticated by ``token`` (e.g. a tenant or wrapping token).
        ``manage_token=False`` skips the token lookup: a wrapping token must not be spent on it."""
        secret = token if isinstance(token, Secret) else Secret(token)
        config = replace(self.config, token=secret, role_id=None, secret_id=None)
        return VaultClient(config, manage_token=manage_token)

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> VaultClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def token(self) -> Secret:
        if self._token is None:
            raise VaultAuthError("the client has no token")
        return self._token

    @property
    def nodes(self) -> list[str]:
        """Node addresses, preferred (active) first."""
        with self._lock:
            return list(self._nodes)

    # ----------------------------------------------------------------- node selection
    def probe(self) -> list[NodeHealth]:
        """``sys/health`` of every node (never raises: an unreachable node is reported as such)."""
        return [self._probe(address) for address in self.config.addresses]

    def _probe(self, address: str) -> NodeHealth:
        try:
            reply = requests.get(
                f"{address}/v1/sys/health", params={"standbyok": "false"},
                timeout=self.config.probe_timeout, verify=self.config.verify,
            )
        except requests.RequestException:
            return NodeHealth(address, reachable=False)
        return NodeHealth(
            address, reachable=True, active=reply.status_code == 200,
            standby=reply.status_code in (429, 473), sealed=reply.status_code == 503,
        )

    def _order_by_health(self, failed: str | None = None) -> None:
        """Put the active node first; push ``failed`` and unhealthy nodes to the back."""
        states: dict[str, NodeHealth] = {}
        for address in self.nodes:
            if address == failed:
                continue
            states[address] = self._probe(address)
            if states[address].active:
                break

        def rank(address: str) -> int:
            state = states.get(address)
            if address == failed:
                return 4
            if state is None:
                return 2
            if state.active:
                return 0
            if state.standby:
                return 1
            return 3

        with self._lock:
            self._nodes.sort(key=rank)

    # ----------------------------------------------------------------- the failover loop
    def call(self, op: Callable[[Any], T], *, what: str, _auth: bool = True) -> T:
        """Run ``op(hvac_client)`` on the preferred node, failing over on transient errors.

        Raises a ``vault.errors`` exception naming ``what`` (e.g. "read vps/acme/admin_ssh")."""
        relogged = False
        tried: list[str] = []

        def on_retry(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            failed = tried[-1] if tried else None
            self.failovers += 1
            log.info("vault: %s failed on %s (%s); failing over", what, failed, type(exc).__name__)
            self._order_by_health(failed)

        retrying = Retrying(
            stop=stop_after_delay(self.config.op_deadline),
            wait=wait_exponential_jitter(multiplier=0.05, max=1.0, jitter=0.05),
            retry=retry_if_exception(_is_transient),
            before_sleep=on_retry,
            reraise=True,
        )
        while True:
            try:
                for attempt in retrying:
                    with attempt:
                        if _auth:
                            self._ensure_token()
                        address = self.nodes[0]
                        tried.append(address)
                        return op(self._clients[address])
            except VaultError:
                raise
            except (hvac_exc.VaultError, requests.RequestException) as exc:
                if status_of(exc) == 403 and _auth and self.config.uses_approle and not relogged:
                    relogged = True
                    self.login()
                    continue
                raise translate(exc, what) from None
            raise AssertionError("unreachable")  # pragma: no cover

    # ----------------------------------------------------------------- raw operations
    def read(self, path: str, *, wrap_ttl: str | None = None) -> dict[str, Any] | None:
        """GET ``/v1/<path>``; None when the path does not exist (not wrapped)."""
        try:
            reply = self.call(lambda c: c.read(path, wrap_ttl=wrap_ttl), what=f"read {path}")
        except SecretNotFound:
            return None
        return _as_dict(reply)

    def write(
        self, path: str, data: Mapping[str, Any] | None = None, *, wrap_ttl: str | None = None
    ) -> dict[str, Any] | None:
        reply = self.call(
            lambda c: c.write_data(path, data=dict(data or {}), wrap_ttl=wrap_ttl), what=f"write {path}"
        )
        return _as_dict(reply)

    def list(self, path: str) -> list[str]:
        try:
            reply = self.call(lambda c: c.list(path), what=f"list {path}")
        except SecretNotFound:
            return []
        data = _as_dict(reply) or {}
        return [str(k) for k in data.get("data", {}).get("keys", [])]

    def delete(self, path: str) -> None:
        self.call(lambda c: c.delete(path), what=f"delete {path}")

    # ----------------------------------------------------------------- tokens
    def _set_token(self, token: Secret) -> None:
        REDACTOR.register(token)
        with self._lock:
            self._token = token
            for client in self._clients.values():
                client.token = token.reveal()

    def _schedule(self, ttl: float, renewable: bool) -> None:
        self._ttl = ttl
        self._renewable = renewable
        self._renew_at = time.monotonic() + ttl * 2 / 3 if ttl > 0 else None

    def login(self) -> None:
        """AppRole login (also used to re-login when renewal is capped by the max TTL)."""
        if not self.config.uses_approle:
            raise VaultAuthError("no AppRole credentials configured: cannot log in again; give a fresh VAULT_TOKEN")
        assert self.config.secret_id is not None
        role_id, secret_id = self.config.role_id, self.config.secret_id.reveal()
        mount = self.config.approle_mount
        try:
            reply = self.call(
                lambda c: c.auth.approle.login(role_id=role_id, secret_id=secret_id, mount_point=mount,
                                               use_token=False),
                what=f"AppRole login at auth/{mount}", _auth=False,
            )
        except VaultError as exc:
            raise VaultAuthError(f"AppRole login failed: {exc}") from None
        auth = reply["auth"]
        self._set_token(Secret(auth["client_token"]))
        self._schedule(float(auth.get("lease_duration", 0)), bool(auth.get("renewable")))

    def _learn_token_ttl(self) -> None:
        reply = self.call(lambda c: c.auth.token.lookup_self(), what="token lookup-self", _auth=False)
        data = reply["data"]
        self._schedule(float(data.get("ttl") or 0), bool(data.get("renewable")))

    def _ensure_token(self) -> None:
        if not self._manage_token or self._renew_at is None or time.monotonic() < self._renew_at:
            return
        with self._lock:
            if self._renew_at is None or time.monotonic() < self._renew_at:
                return
            self._renew_at = None  # one thread renews; the others go on with the still-valid token
        wanted = self._ttl
        if self._renewable:
            try:
                reply = self.call(
                    lambda c: c.auth.token.renew_self(increment=f"{int(wanted)}s"),
                    what="token renew-self", _auth=False,
                )
                granted = float(reply["auth"].get("lease_duration", 0))
                if granted >= wanted * 0.9 or not self.config.uses_approle:
                    self._schedule(granted, bool(reply["auth"].get("renewable")))
                    return
            except VaultError as exc:
                if not self.config.uses_approle:
                    raise VaultAuthError(f"token renewal failed and no AppRole to log in again: {exc}") from None
        self.login()  # not renewable, or renewal capped by the max TTL


def _as_dict(reply: object) -> dict[str, Any] | None:
    if isinstance(reply, dict):
        return reply
    return None  # 204 replies come back as bare Response objects
