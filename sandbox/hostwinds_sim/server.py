"""HTTP front of the simulator: ``POST /cloud/api.php`` (form-encoded, HTTP 200 with error bodies) and a small
admin API under ``/_sim/`` (header ``X-Sim-Key: <api key>``):

- ``POST /_sim/faults`` ``{"kind": ..., "times": 1, "action": null, "status": 500, "delay": 0, "drop": false}``
- ``DELETE /_sim/faults`` clears them; ``GET /_sim/faults`` lists the pending ones
- ``PATCH /_sim/settings`` ``{"build_delay": 2, ...}``
- ``GET /_sim/instances`` (secrets left out; plus ``rdns``, ip -> PTR name, which the API shows only per
  instance through ``get_instance_ips``); ``PATCH /_sim/instances/<serviceid>`` ``{"status": ..., "srvrname": ...,
  "main_ip": ...}`` changes an instance behind the client's back (drift)
- ``GET /_sim/calls``: the last API calls received, ``[{"action": ..., "family": "ipv4"|"ipv6"}]``

With ``ipv6=True`` it also listens on ``[::1]`` (same port) and, like the real API with a key bound to IPv4
addresses, answers every call from an IPv6 address ``Not Authorized!``.

``SimulatorServer`` runs it in-process on a thread; ``python -m sandbox.hostwinds_sim`` runs it as a process.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
import socket
import threading
import time
from collections import deque
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from sandbox.hostwinds_sim import actions
from sandbox.hostwinds_sim.faults import Fault, FaultPlan
from sandbox.hostwinds_sim.model import SimApiError, SimModel
from sandbox.hostwinds_sim.settings import SimSettings
from toolkit.errors import ConfigError

API_PATH = "/cloud/api.php"
ADMIN_PREFIX = "/_sim/"
MAX_BODY = 1 << 20
CALL_LOG = 2000
SHUTDOWN_POLL = 0.05  # seconds: how often the serving loops look for stop() (the default 0.5 s slows every teardown)
log = logging.getLogger("hostwinds_sim")


class _ServerRateLimit:
    """Fixed one-second windows: at most ``rate`` requests per window (0 disables)."""

    def __init__(self) -> None:
        self._window = 0
        self._count = 0
        self._lock = threading.Lock()

    def allow(self, rate: float) -> bool:
        if rate <= 0:
            return True
        with self._lock:
            window = int(time.monotonic())
            if window != self._window:
                self._window, self._count = window, 0
            self._count += 1
            return self._count <= rate


class SimulatorServer:
    """The simulator on a background thread. ``port=0`` picks a free port; ``url`` is the API endpoint."""

    def __init__(self, state_dir: Path, api_key: str, port: int = 0, host: str = "127.0.0.1",
                 settings: SimSettings | None = None, ipv6: bool = False) -> None:
        if not api_key:
            raise ConfigError("api_key", "the simulator needs a non-empty API key")
        if not host.startswith("127."):
            raise ConfigError("host", f"{host} is not a loopback address; the simulator serves loopback only")
        self.api_key = api_key
        self.host = host
        self.settings = settings or SimSettings()
        self.faults = FaultPlan()
        self.model = SimModel(Path(state_dir), self.settings)
        self.rate_limit = _ServerRateLimit()
        self.calls: deque[dict[str, str]] = deque(maxlen=CALL_LOG)
        self._httpd = _HttpServer((host, port), _Handler, self)
        self._httpd6 = _HttpServer6(("::1", self.port), _Handler, self) if ipv6 else None
        self._thread6: threading.Thread | None = None
        self._thread: threading.Thread | None = None
        self._ticker: threading.Thread | None = None
        self._stopping = threading.Event()

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return self.base_url + API_PATH

    def start(self) -> SimulatorServer:
        self.model.reconcile_hosts()
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(SHUTDOWN_POLL,), name="hostwinds-sim",
                                        daemon=True)
        self._thread.start()
        if self._httpd6 is not None:
            self._thread6 = threading.Thread(target=self._httpd6.serve_forever, args=(SHUTDOWN_POLL,),
                                             name="hostwinds-sim-v6", daemon=True)
            self._thread6.start()
        self._ticker = threading.Thread(target=self._tick, name="hostwinds-sim-ticker", daemon=True)
        self._ticker.start()
        return self

    def _tick(self) -> None:
        while not self._stopping.wait(self.settings.tick_interval):
            try:
                self.model.advance()
            except Exception:  # the ticker must survive a failing host start; requests will report it
                log.exception("simulator tick failed")

    def serve_forever(self) -> None:
        """Run in the calling thread (process mode) until ``stop()`` is called from a signal handler."""
        self.model.reconcile_hosts()
        self._ticker = threading.Thread(target=self._tick, name="hostwinds-sim-ticker", daemon=True)
        self._ticker.start()
        self._httpd.serve_forever()

    def stop(self, stop_hosts: bool = True) -> None:
        """Stop serving; by default also stop every VPS host (their files stay for a restart)."""
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._httpd6 is not None:
            if self._thread6 is not None:
                self._httpd6.shutdown()
                self._thread6.join(timeout=10)
            self._httpd6.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._ticker is not None:
            self._ticker.join(timeout=10)
        self.model.shutdown(stop_hosts)

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- request handling (called from handler threads) --------------------------------------------

    def handle_api(self, fields: dict[str, Any], json_body: bool,
                   from_ipv6: bool = False) -> tuple[int, Any, Fault | None]:
        """(HTTP status, body, fault to apply after the action) for one API call."""
        action = str(fields.get("action", ""))
        self.calls.append({"action": action, "family": "ipv6" if from_ipv6 else "ipv4"})
        if from_ipv6:  # keys are bound to IPv4 allow-lists [seen]
            return HTTPStatus.OK, self._auth_error(), None
        if not self.rate_limit.allow(self.settings.rate_limit_per_second):
            return self._rate_limited()
        fault = self.faults.take(action)
        if fault is not None:
            if fault.kind == "http_error":
                return fault.status, None, None
            if fault.kind == "slow":
                time.sleep(fault.delay)
            if fault.kind == "rate_limit":
                return self._rate_limited()
            if fault.kind == "auth_failure":
                return HTTPStatus.OK, self._auth_error(), None
        if json_body and self.settings.reject_json_bodies:
            return HTTPStatus.OK, self._auth_error(), None
        if not hmac.compare_digest(str(fields.get("API", "")).encode(), self.api_key.encode()):
            return HTTPStatus.OK, self._auth_error(), None
        read = actions.READS.get(action)
        if read is None and action and action == self.settings.ssh_key_list_action:
            read = actions.list_ssh_keys
        change = actions.CHANGES.get(action)
        if read is None and change is None:
            code = 6734 if self.settings.error_code_as_number else "6734"
            return HTTPStatus.OK, [{"result": "error", "message": "Invalid Action.", "ERROR": code}], None
        if fault is not None and fault.kind == "noop_success" and change is not None:
            return HTTPStatus.OK, actions.noop_reply(action), None
        handler = read or change
        assert handler is not None
        with self.model.lock:
            self.model.advance()
            try:
                body = handler(self.model, fields)
            except SimApiError as exc:
                error: dict[str, Any] = {"result": "error", "message": exc.message}
                if exc.action:
                    error["action"] = exc.action
                if exc.code:
                    error["ERROR"] = int(exc.code) if self.settings.error_code_as_number else exc.code
                return HTTPStatus.OK, [error], None
            if change is not None:
                self.model.save()
                self.model.advance()
        if fault is not None and fault.kind == "lost_reply":
            return HTTPStatus.INTERNAL_SERVER_ERROR, None, fault
        return HTTPStatus.OK, body, None

    def _auth_error(self) -> Any:
        body = {"result": "error", "action": "Authorization", "message": "Not Authorized!"}
        return [body] if self.settings.auth_error_wrapped_in_list else body

    def _rate_limited(self) -> tuple[int, Any, Fault | None]:
        if self.settings.rate_limit_reply == "http429":
            return HTTPStatus.TOO_MANY_REQUESTS, None, None
        return HTTPStatus.OK, [{"result": "error", "message": "Rate limit exceeded.", "ERROR": "429"}], None

    def handle_admin(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        route = path[len(ADMIN_PREFIX):].strip("/")
        if route == "faults":
            if method == "POST":
                self.faults.add(Fault.from_json(dict(body or {})))
            elif method == "DELETE":
                self.faults.clear()
            return HTTPStatus.OK, self.faults.pending()
        if route == "settings" and method in ("PATCH", "POST"):
            self.settings.update(dict(body or {}))
            return HTTPStatus.OK, {"ok": True}
        if route == "instances" and method == "GET":
            with self.model.lock:
                self.model.advance()
                return HTTPStatus.OK, [{**_public(i.to_api(self.settings)), "rdns": dict(i.rdns)}
                                       for i in self.model.instances.values()]
        if route == "calls" and method == "GET":
            return HTTPStatus.OK, list(self.calls)
        if route == "ssh-keys" and method == "GET":
            with self.model.lock:
                return HTTPStatus.OK, sorted(self.model.ssh_keys)
        if route.startswith("instances/") and method == "PATCH":
            return self._patch_instance(route.split("/", 1)[1], dict(body or {}))
        return HTTPStatus.NOT_FOUND, {"error": f"no admin route {method} {path}"}

    def _patch_instance(self, serviceid: str, changes: dict[str, Any]) -> tuple[int, Any]:
        allowed = {"status", "task_state", "srvrname", "main_ip", "locked", "firewall"}
        unknown = set(changes) - allowed
        if unknown:
            return HTTPStatus.BAD_REQUEST, {"error": f"cannot change {sorted(unknown)}; allowed: {sorted(allowed)}"}
        with self.model.lock:
            inst = self.model.instances.get(int(serviceid)) if serviceid.isdigit() else None
            if inst is None:
                return HTTPStatus.NOT_FOUND, {"error": f"no instance {serviceid}"}
            for key, value in changes.items():
                setattr(inst, key, value)
            self.model.save()
            return HTTPStatus.OK, _public(inst.to_api(self.settings))


def _public(instance: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in instance.items() if k not in ("password", "configkey")}


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler],
                 sim: SimulatorServer) -> None:
        self.sim = sim
        super().__init__(address, handler)


class _HttpServer6(_HttpServer):
    """The IPv6 loopback listener (``ipv6=True``): IPv6 only, so it never takes IPv4 connections."""

    address_family = socket.AF_INET6

    def server_bind(self) -> None:
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        super().server_bind()


class _Handler(BaseHTTPRequestHandler):
    server: _HttpServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # keep-alive replies would otherwise wait ~40 ms for delayed ACKs

    def log_message(self, format: str, *args: Any) -> None:
        # Request lines carry no secrets (the key is in the body); keep them at debug level.
        log.debug("%s %s", self.address_string(), format % args)

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise ValueError("request body too large")
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, body: Any) -> None:
        if body is None:
            payload = f"<html><body><h1>{status} Error</h1></body></html>".encode()
            content_type = "text/html"
        else:
            payload = json.dumps(body).encode()
            content_type = "application/json"
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_POST(self) -> None:
        if self.path.startswith(ADMIN_PREFIX):
            self._admin("POST")
            return
        if self.path.split("?", 1)[0] != API_PATH:
            self._send(HTTPStatus.NOT_FOUND, None)
            return
        raw = self._body()
        content_type = self.headers.get("Content-Type", "")
        json_body = "json" in content_type
        fields = {} if json_body else _parse_form(raw)
        sim = self.server.sim
        try:
            status, body, fault = sim.handle_api(fields, json_body, ":" in str(self.client_address[0]))
        except Exception:
            log.exception("simulator failed on action %s", fields.get("action"))
            self._send(HTTPStatus.INTERNAL_SERVER_ERROR, None)
            return
        if fault is not None and fault.drop:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(2)
            return
        self._send(status, body)

    def do_GET(self) -> None:
        self._admin("GET") if self.path.startswith(ADMIN_PREFIX) else self._send(HTTPStatus.NOT_FOUND, None)

    def do_DELETE(self) -> None:
        self._admin("DELETE") if self.path.startswith(ADMIN_PREFIX) else self._send(HTTPStatus.NOT_FOUND, None)

    def do_PATCH(self) -> None:
        self._admin("PATCH") if self.path.startswith(ADMIN_PREFIX) else self._send(HTTPStatus.NOT_FOUND, None)

    def _admin(self, method: str) -> None:
        sim = self.server.sim
        key = self.headers.get("X-Sim-Key", "")
        raw = self._body()
        if not hmac.compare_digest(key.encode(), sim.api_key.encode()):
            self._send(HTTPStatus.FORBIDDEN, {"error": "X-Sim-Key header missing or wrong"})
            return
        try:
            body = json.loads(raw) if raw else None
            status, reply = sim.handle_admin(method, self.path.split("?", 1)[0], body)
        except (ValueError, TypeError, ConfigError) as exc:
            self._send(HTTPStatus.BAD_REQUEST, {"error": str(exc)})
            return
        self._send(status, reply)


def _parse_form(raw: bytes) -> dict[str, Any]:
    """Form fields: scalars as str (first value wins), PHP-style ``name[]`` fields as lists under ``name``."""
    parsed = parse_qs(raw.decode("utf-8", errors="replace"), keep_blank_values=True)
    fields: dict[str, Any] = {}
    for name, values in parsed.items():
        if name.endswith("[]"):
            fields[name[:-2]] = list(values)
        else:
            fields[name] = values[0]
    return fields
