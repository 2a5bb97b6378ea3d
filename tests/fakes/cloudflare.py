"""A fake of the Cloudflare API v4 zones and DNS-records endpoints, on loopback, for tests.

Built from Cloudflare's documented shapes: the ``{success, errors, messages, result, result_info}`` envelope,
bearer-token auth, ``page``/``per_page`` pagination, one row per record value, MX ``priority``, SRV ``data``,
TXT content as quoted character-strings. Only what the provider uses is implemented, plus hooks for tests:
``requests`` (every call made), ``fail_next(status, code, message)`` (refused, nothing done),
``lose_next_reply(status)`` (done, but the caller sees a gateway error) and ``add_row``.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

PREFIX = "/client/v4"
_TYPES = {"A", "AAAA", "CNAME", "MX", "TXT", "SRV", "NS", "PTR", "CAA"}


class CloudflareApiError(Exception):
    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class FakeCloudflare:
    def __init__(self, token: str, zones: list[str] | None = None) -> None:
        self.token = token
        self.zones: dict[str, str] = {uuid.uuid4().hex: z for z in (zones or ["example.test"])}
        self.rows: dict[str, dict[str, dict[str, Any]]] = {zid: {} for zid in self.zones}
        self.requests: list[tuple[str, str]] = []
        self._failures: list[tuple[int, int, str]] = []
        self._lost_replies: list[int] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    # -- lifecycle -----------------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}{PREFIX}"

    def start(self) -> FakeCloudflare:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                fake._dispatch(self)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    # -- test hooks ---------------------------------------------------------------------------------------
    def zone_id(self, name: str) -> str:
        return next(zid for zid, zname in self.zones.items() if zname == name)

    def fail_next(self, status: int, code: int, message: str) -> None:
        self._failures.append((status, code, message))

    def lose_next_reply(self, status: int = 502) -> None:
        """The next request is carried out, but its reply is replaced by a gateway error (a lost reply)."""
        self._lost_replies.append(status)

    def add_row(self, zone: str, body: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            return self._create(self.zone_id(zone), body)

    def writes(self) -> list[tuple[str, str]]:
        return [r for r in self.requests if r[0] != "GET"]

    # -- HTTP ---------------------------------------------------------------------------------------------
    def _dispatch(self, handler: BaseHTTPRequestHandler) -> None:
        url = urlparse(handler.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        self.requests.append((handler.command, url.path))
        try:
            if self._failures:
                raise CloudflareApiError(*self._failures.pop(0))
            auth = handler.headers.get("Authorization", "")
            if not auth.startswith("Bearer "):
                raise CloudflareApiError(400, 6003, "Invalid request headers")
            if auth.removeprefix("Bearer ") != self.token:
                raise CloudflareApiError(403, 10000, "Authentication error")
            body = json.loads(raw) if raw else {}
            with self._lock:
                status, payload = self._route(handler.command, url.path, query, body)
            if self._lost_replies:
                raise CloudflareApiError(self._lost_replies.pop(0), 0, "upstream reply lost")
        except CloudflareApiError as exc:
            status = exc.status
            payload = {"success": False, "errors": [{"code": exc.code, "message": exc.message}],
                       "messages": [], "result": None}
        except (ValueError, KeyError) as exc:
            status = 400
            payload = {"success": False, "errors": [{"code": 9207, "message": f"Request body is invalid: {exc}"}],
                       "messages": [], "result": None}
        data = json.dumps(payload).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def _route(self, method: str, path: str, query: dict[str, str], body: dict[str, Any]) -> tuple[int, Any]:
        parts = path.removeprefix(PREFIX).strip("/").split("/")
        if parts == ["zones"] and method == "GET":
            zones = [{"id": zid, "name": name, "status": "active"} for zid, name in self.zones.items()
                     if "name" not in query or query["name"] == name]
            return self._page(zones, query)
        if len(parts) >= 3 and parts[0] == "zones" and parts[2] == "dns_records":
            zid = parts[1]
            if zid not in self.zones:
                raise CloudflareApiError(404, 7003, f"Could not route to {path}, perhaps your object "
                                                    "identifier is invalid?")
            rows = self.rows[zid]
            if len(parts) == 3 and method == "GET":
                found = [r for r in rows.values()
                         if ("name" not in query or r["name"] == query["name"].lower())
                         and ("type" not in query or r["type"] == query["type"])]
                return self._page(found, query)
            if len(parts) == 3 and method == "POST":
                return 200, self._envelope(self._create(zid, body))
            if len(parts) == 4:
                rid = parts[3]
                if rid not in rows:
                    raise CloudflareApiError(404, 81044, "Record does not exist.")
                if method == "GET":
                    return 200, self._envelope(rows[rid])
                if method == "DELETE":
                    del rows[rid]
                    return 200, self._envelope({"id": rid})
                if method == "PUT":
                    return 200, self._envelope(self._write(zid, body, rid))
                if method == "PATCH":
                    merged = {k: v for k, v in rows[rid].items() if k in ("type", "name", "content", "ttl",
                                                                          "priority", "data", "proxied")}
                    return 200, self._envelope(self._write(zid, {**merged, **body}, rid))
        raise CloudflareApiError(404, 7000, "No route for that URI")

    @staticmethod
    def _envelope(result: Any) -> dict[str, Any]:
        return {"success": True, "errors": [], "messages": [], "result": result}

    def _page(self, items: list[dict[str, Any]], query: dict[str, str]) -> tuple[int, dict[str, Any]]:
        page, per_page = int(query.get("page", 1)), int(query.get("per_page", 100))
        if per_page < 5 or per_page > 5000:
            raise CloudflareApiError(400, 1004, "per_page must be between 5 and 5000")
        chunk = items[(page - 1) * per_page : page * per_page]
        total_pages = max(1, -(-len(items) // per_page))
        return 200, {**self._envelope(chunk), "result_info": {
            "page": page, "per_page": per_page, "count": len(chunk), "total_count": len(items),
            "total_pages": total_pages}}

    def _create(self, zid: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._write(zid, body, None)

    def _write(self, zid: str, body: dict[str, Any], rid: str | None) -> dict[str, Any]:
        zone = self.zones[zid]
        rtype, name = body.get("type"), str(body.get("name", "")).lower().rstrip(".")
        if rtype not in _TYPES:
            raise CloudflareApiError(400, 9000, f"DNS record type {rtype!r} is invalid.")
        if name == "@":
            name = zone
        if not (name == zone or name.endswith("." + zone)):
            raise CloudflareApiError(400, 9007, "Content for record is invalid: name outside the zone")
        ttl = int(body.get("ttl", 1))
        if ttl != 1 and not 30 <= ttl <= 86400:
            raise CloudflareApiError(
                400, 9021, "Invalid TTL. Must be between 30 and 86,400 seconds, or 1 for Automatic")
        row: dict[str, Any] = {"id": rid or uuid.uuid4().hex, "zone_id": zid, "zone_name": zone, "name": name,
                               "type": rtype, "ttl": ttl, "proxied": bool(body.get("proxied", False)),
                               "proxiable": rtype in ("A", "AAAA", "CNAME"), "locked": False, "meta": {},
                               "comment": None, "tags": [], "created_on": _now(), "modified_on": _now()}
        if rtype == "SRV":
            data = body.get("data") or {}
            if not all(k in data for k in ("priority", "weight", "port", "target")):
                raise CloudflareApiError(400, 9101, "SRV data needs priority, weight, port and target")
            row["data"] = data
            row["priority"] = data["priority"]
            row["content"] = f"{data['weight']} {data['port']} {data['target']}"
        else:
            content = body.get("content")
            if not isinstance(content, str) or not content:
                raise CloudflareApiError(400, 9005, "Content for record is required")
            if rtype == "MX":
                if "priority" not in body:
                    raise CloudflareApiError(400, 9101, "MX records need a priority")
                row["priority"] = int(body["priority"])
            if rtype == "TXT":
                content = self._txt_content(content)
            row["content"] = content
        for other in self.rows[zid].values():
            if other["id"] != row["id"] and all(other.get(k) == row.get(k) for k in ("name", "type", "content",
                                                                                      "priority")):
                raise CloudflareApiError(400, 81058, "An identical record already exists.")
        if rid is not None:
            row["created_on"] = self.rows[zid][rid]["created_on"]
        self.rows[zid][row["id"]] = row
        return row

    @staticmethod
    def _txt_content(content: str) -> str:
        if not content.startswith('"'):
            data = content.encode()
            return " ".join('"' + data[i : i + 255].decode() + '"' for i in range(0, len(data), 255))
        for string in re.findall(r'"((?:[^"\\]|\\.)*)"', content):
            if len(string.encode()) > 255:
                raise CloudflareApiError(400, 9004, "TXT character-string longer than 255 bytes")
        return content
