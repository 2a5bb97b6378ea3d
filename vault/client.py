"""The one Vault client every caller uses: retries, token renewal, HA failover, consistency, raw one-node requests.

Where Vault is and how to log in come from ``vault.config.VaultConfig`` (the one parser of ``VAULT_ADDR(S)``,
``VAULT_TOKEN``, AppRole, ``VAULT_CACERT``, and the timeouts); node health from ``vault.nodes``. ``VaultClient``
wraps one ``hvac.Client`` per cluster node, all sharing one ``requests`` session:

- **Retries**: the session's adapter retries HTTP 429 honouring ``Retry-After`` (urllib3 ``Retry``);
  connection errors, timeouts, 5xx, 412 and the transient "upgrading to versioned" 400 are retried by a
  tenacity loop that **fails over** to another node between attempts.
- **Failover**: nodes are ordered active-first by probing ``sys/health`` (200 active, 429 standby); a dead
  node is skipped, and the operation keeps failing over until ``op_deadline`` seconds have passed.
- **Read-your-writes**: the ``X-Vault-Index`` header of every write response is kept and sent back with
  ``X-Vault-Inconsistent: forward-active-node``, so a standby never answers with older state.
- **Tokens**: a static token (``VAULT_TOKEN``) or AppRole login; renewal at 2/3 of the TTL, re-login when
  the max TTL caps renewal, and one re-login on a 403 (the token may have expired or been revoked).
- **One node**: ``request``/``json`` send one request to one node (the active one by default) on the same
  session and token, without failover: streamed raft snapshots and backup walks pinned to the node they read.

Retried writes can apply twice: writers of KV data use check-and-set (see ``vault.kv``).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import hvac
import hvac.exceptions as hvac_exc
import requests
from requests.adapters import HTTPAdapter
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_delay, wait_exponential_jitter
from urllib3.util.retry import Retry

from toolkit.redact import REDACTOR, Secret
from vault.config import VaultConfig
from vault.errors import (
    CasConflict,
    SecretNotFound,
    VaultAuthError,
    VaultError,
    VaultPermissionDenied,
    VaultUnavailable,
)
from vault.nodes import NodeHealth, find_active, probe_all, probe_node

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


def http_error(what: str, reply: requests.Response) -> VaultError:
    """A toolkit error for an HTTP error status of a raw request, with Vault's own error text."""
    return status_error(what, reply.status_code, reply.content)


def status_error(what: str, status: int, body: bytes) -> VaultError:
    """The toolkit error for an HTTP error status and its body (Vault's ``errors`` list, else the raw text)."""
    try:
        detail = "; ".join(str(e) for e in json.loads(body).get("errors") or [])[:300]
    except (ValueError, AttributeError):
        detail = body[:200].decode(errors="replace")
    message = f"{what}: HTTP {status} {detail}".rstrip()
    if status == 403:
        return VaultPermissionDenied(message)
    if status == 404:
        return SecretNotFound(message)
    if status == 429 or status >= 500:
        return VaultUnavailable(message)
    return VaultError(message)


def _detail(exc: Exception) -> str:
    """Vault's error text on one line ("1 error occurred: * permission denied" -> "permission denied")."""
    errors = getattr(exc, "errors", None)
    text = "; ".join(str(e) for e in errors) if isinstance(errors, list) and errors else str(exc).split(", on ")[0]
    lines = [line.strip(" \t*") for line in text.splitlines()]
    lines = [line for line in lines if line and not line.endswith("error occurred:")]
    return " ".join(lines) or type(exc).__name__


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
        config = self.config.replaced(token=secret, role_id=None, secret_id=None)
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
        return probe_all(self.config.addresses, timeout=self.config.probe_timeout, verify=self.config.verify)

    def health(self, address: str) -> NodeHealth:
        """``sys/health`` of one node (never raises)."""
        return probe_node(address, timeout=self.config.probe_timeout, verify=self.config.verify)

    def active_node(self, wait: float = 0.0) -> str:
        """The active node's address, waiting up to ``wait`` seconds for one (``VaultUnavailable`` if none)."""
        return find_active(self.config.addresses, wait=wait, timeout=self.config.probe_timeout,
                           verify=self.config.verify)

    def _order_by_health(self, failed: str | None = None) -> None:
        """Put the active node first; push ``failed`` and unhealthy nodes to the back."""
        states: dict[str, NodeHealth] = {}
        for address in self.nodes:
            if address == failed:
                continue
            states[address] = self.health(address)
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

    # ----------------------------------------------------------------- one node, no failover
    def request(self, method: str, path: str, *, address: str | None = None, ok_404: bool = False,
                timeout: float | tuple[float, float] | None = None, **kwargs: Any) -> requests.Response | None:
        """One HTTP request to one node (``address``, else the active one) without failover, for what hvac does not
        do: streamed raft snapshots (``stream=True``; the caller closes the reply) and walks that must read one
        node. None for a 404 when ``ok_404``; raises a ``vault.errors`` exception naming the method and path."""
        self._ensure_token()
        what = f"{method} {path}"
        url = f"{address or self.active_node()}/v1/{path.lstrip('/')}"
        try:
            # verify given per request: a session's own is overridden by REQUESTS_CA_BUNDLE (requests#3829)
            reply = self._session.request(method, url, headers={"X-Vault-Token": self.token.reveal()},
                                          timeout=timeout or self.config.timeout,
                                          **{"verify": self.config.verify, **kwargs})
        except requests.RequestException as exc:
            raise VaultUnavailable(f"{what}: {type(exc).__name__}") from None
        if reply.status_code == 404 and ok_404:
            reply.close()
            return None
        if reply.status_code >= 400:
            error = http_error(what, reply)
            reply.close()
            raise error
        return reply

    def json(self, method: str, path: str, **kwargs: Any) -> dict[str, Any] | None:
        """``request`` for a JSON answer: its body ({} for an empty one), None for a 404 when ``ok_404``."""
        reply = self.request(method, path, **kwargs)
        if reply is None:
            return None
        if reply.status_code == 204 or not reply.content:
            return {}
        try:
            body = reply.json()
        except ValueError:
            raise VaultError(f"{method} {path}: HTTP {reply.status_code} with a body that is not JSON") from None
        return body if isinstance(body, dict) else {}

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
