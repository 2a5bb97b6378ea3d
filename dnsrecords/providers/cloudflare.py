"""Cloudflare API v4 DNS provider (bearer API token; needs Zone:Read and DNS:Edit on the zone).

Cloudflare keeps one row per value: an RRset is the rows with the same name and type. Upsert keeps rows whose
content already matches (PATCHing only a TTL change), rewrites left-over rows in place with PUT, creates what
is still missing with POST and deletes rows no longer wanted.

Shapes used (as documented by Cloudflare): the ``{"success", "errors": [{"code", "message"}], "messages",
"result", "result_info": {"page", "per_page", "count", "total_count", "total_pages"}}`` envelope;
``GET /zones?name=``; ``GET /zones/{id}/dns_records?name=&type=&page=&per_page=``; ``POST`` to the same path;
``PUT|PATCH|DELETE /zones/{id}/dns_records/{record_id}``. MX carries ``priority`` beside ``content``; SRV a
``data`` object (priority, weight, port, target); TXT ``content`` is RFC 1035 quoted strings of <= 255 bytes.
Records are never proxied (``proxied: false``): mail hosts must resolve to the VPS itself.

Retries (``toolkit.wait``): a 429, a 5xx or no answer is tried again, ``retries`` times at most with a doubling
pause (1, 2, 4 s by default) inside ``retry_timeout``; any other error is final at once. A request whose reply was
lost may have been carried out, so on a retry the answers meaning "already so" count as done: a DELETE told the row
does not exist (81044), a POST told an identical row exists (81058).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

import requests
from pydantic import ConfigDict, field_validator

from dnsrecords.errors import (
    CloudflareAuthError,
    CloudflareError,
    CloudflareRateLimitedError,
    ZoneNotFoundError,
)
from dnsrecords.providers.base import DnsProvider
from dnsrecords.records import Record, quote_txt, unquote_txt
from toolkit.errors import TransientError
from toolkit.models import SettingsModel
from toolkit.redact import REDACTOR, Secret
from toolkit.wait import Clock, Sleep, WaitTimeout, wait_for

DEFAULT_API = "https://api.cloudflare.com/client/v4"
_PROXIABLE = ("A", "AAAA", "CNAME")
_ALREADY_DONE = {"DELETE": 81044, "POST": 81058}
"""On a retry: the error code that says an earlier attempt whose reply was lost already did the work."""


class CloudflareSettings(SettingsModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)
    field_names: ClassVar[Mapping[str, str]] = {"token": "cloudflare_token", "retries": "cloudflare retries",
                                                "retry_interval": "cloudflare retries",
                                                "retry_timeout": "cloudflare retries"}

    zone: str
    token: Secret
    zone_id: str | None = None  # looked up by name when not given
    api_url: str = DEFAULT_API
    timeout: float = 20.0
    per_page: int = 100
    retries: int = 3
    """Further attempts after a 429, a 5xx or no answer."""
    retry_interval: float = 1.0
    """Seconds before the first retry; doubled before each next one, up to ``retry_max_interval``."""
    retry_max_interval: float = 8.0
    retry_timeout: float = 60.0
    """Seconds all attempts of one request may take together."""

    @field_validator("token", mode="before")
    @classmethod
    def _token(cls, value: object) -> Secret:
        if not isinstance(value, Secret) or not value:
            raise ValueError("must be a non-empty toolkit.redact.Secret")
        REDACTOR.register(value)
        return value

    @field_validator("retries", "retry_interval", "retry_timeout")
    @classmethod
    def _not_negative(cls, value: float) -> float:
        if value < 0:
            raise ValueError("retries, retry_interval and retry_timeout must not be negative")
        return value


def row_value(rtype: str, row: dict[str, Any]) -> str:
    """Our presentation value of one Cloudflare DNS record row."""
    if rtype == "MX":
        return f"{int(row.get('priority') or 0)} {row['content']}"
    if rtype == "SRV":
        data = row.get("data") or {}
        if data:
            return f"{data['priority']} {data['weight']} {data['port']} {data['target']}"
        return f"{int(row.get('priority') or 0)} {row['content']}"
    if rtype == "TXT":
        return unquote_txt(str(row["content"]))
    return str(row["content"])


def row_body(record: Record, value: str) -> dict[str, Any]:
    """The request body that publishes one value of ``record``."""
    body: dict[str, Any] = {"type": record.type, "name": record.name, "ttl": record.ttl}
    if record.type == "MX":
        priority, host = value.split(" ", 1)
        body.update(content=host, priority=int(priority))
    elif record.type == "SRV":
        priority, weight, port, target = value.split()
        body["data"] = {"priority": int(priority), "weight": int(weight), "port": int(port), "target": target}
    elif record.type == "TXT":
        body["content"] = quote_txt(value)
    else:
        body["content"] = value
    if record.type in _PROXIABLE:
        body["proxied"] = False
    return body


class CloudflareProvider(DnsProvider):
    name = "cloudflare"

    def __init__(self, settings: CloudflareSettings, *, clock: Clock = time.monotonic,
                 sleep: Sleep = time.sleep) -> None:
        super().__init__(settings.zone)
        self.settings = settings
        self._zone_id = settings.zone_id
        self._session: requests.Session | None = None
        self._clock = clock
        self._sleep = sleep

    # -- HTTP -----------------------------------------------------------------------------------------------
    def _http(self) -> requests.Session:
        if self._session is None:
            session = requests.Session()
            session.headers["Authorization"] = f"Bearer {self.settings.token.reveal()}"
            session.headers["Content-Type"] = "application/json"
            self._session = session
        return self._session

    def _call(self, action: str, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        url = self.settings.api_url.rstrip("/") + path
        attempts = 0

        def send() -> requests.Response:
            nonlocal attempts
            attempts += 1
            try:
                return self._http().request(method, url, timeout=self.settings.timeout, **kwargs)
            except requests.RequestException as exc:
                raise TransientError(f"Cloudflare did not answer ({action}): {type(exc).__name__}") from None

        def gave_up(timed_out: WaitTimeout) -> BaseException:
            if isinstance(timed_out.last, requests.Response):
                return _error(action, timed_out.last, _body(timed_out.last))
            return timed_out.last_error or timed_out

        settings = self.settings
        reply = wait_for(
            send, lambda r: r.status_code != 429 and r.status_code < 500, what=f"Cloudflare to {action}",
            timeout=settings.retry_timeout, interval=settings.retry_interval, backoff=2.0,
            max_interval=settings.retry_max_interval, attempts=settings.retries + 1, tolerate=(TransientError,),
            fail=gave_up, clock=self._clock, sleep=self._sleep,
        )
        body = _body(reply)
        if reply.ok and body.get("success") is True:
            return body
        if attempts > 1 and _ALREADY_DONE.get(method) in _codes(body):
            return {"success": True, "errors": [], "result": None}
        raise _error(action, reply, body)

    def _pages(self, action: str, path: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        page = 1
        while True:
            body = self._call(action, "GET", path, params={**params, "page": page,
                                                           "per_page": self.settings.per_page})
            yield from body.get("result") or []
            info = body.get("result_info") or {}
            total_pages = int(info.get("total_pages") or 0)
            if total_pages == 0 and info.get("total_count") is not None:
                per_page = int(info.get("per_page") or self.settings.per_page)
                total_pages = -(-int(info["total_count"]) // per_page)
            if page >= total_pages:
                return
            page += 1

    # -- zone and rows ----------------------------------------------------------------------------------
    def zone_id(self) -> str:
        if self._zone_id is None:
            zones = [z for z in self._pages(f"look up zone {self.zone}", "/zones", {"name": self.zone})
                     if str(z.get("name", "")).lower() == self.zone]
            if not zones:
                raise ZoneNotFoundError(
                    f"Cloudflare has no zone {self.zone!r} visible to this token (add the zone, or grant the "
                    "token Zone:Read on it)"
                )
            self._zone_id = str(zones[0]["id"])
        return self._zone_id

    def _rows(self, name: str, rtype: str) -> list[dict[str, Any]]:
        path = f"/zones/{self.zone_id()}/dns_records"
        return [r for r in self._pages(f"list {rtype} {name}", path, {"name": name, "type": rtype})
                if str(r.get("name", "")).lower() == name and r.get("type") == rtype]

    # -- provider interface -----------------------------------------------------------------------------
    def get(self, name: str, rtype: str) -> Record | None:
        rows = self._rows(name, rtype)
        if not rows:
            return None
        ttl = min(int(r.get("ttl") or 1) for r in rows)  # 1 means "automatic" at Cloudflare
        return Record(name, rtype, ttl, tuple(row_value(rtype, r) for r in rows))

    def _replace(self, record: Record, previous: Record | None) -> None:
        rows = self._rows(record.name, record.type)
        base = f"/zones/{self.zone_id()}/dns_records"
        missing = list(record.values)
        spare: list[dict[str, Any]] = []
        for row in rows:
            value = row_value(record.type, row)
            if value in missing:
                missing.remove(value)
                if int(row.get("ttl") or 1) != record.ttl:
                    self._call(f"set TTL of {record.type} {record.name}", "PATCH", f"{base}/{row['id']}",
                               json={"ttl": record.ttl})
            else:
                spare.append(row)
        for value in missing:
            body = row_body(record, value)
            if spare:
                row = spare.pop(0)
                self._call(f"update {record.type} {record.name}", "PUT", f"{base}/{row['id']}", json=body)
            else:
                self._call(f"create {record.type} {record.name}", "POST", base, json=body)
        for row in spare:
            self._call(f"delete {record.type} {record.name}", "DELETE", f"{base}/{row['id']}")

    def _remove(self, previous: Record) -> None:
        base = f"/zones/{self.zone_id()}/dns_records"
        for row in self._rows(previous.name, previous.type):
            self._call(f"delete {previous.type} {previous.name}", "DELETE", f"{base}/{row['id']}")


def _body(reply: requests.Response) -> dict[str, Any]:
    try:
        body = reply.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _codes(body: dict[str, Any]) -> list[int]:
    return [int(e.get("code", 0)) for e in body.get("errors") or [] if isinstance(e, dict)]


def _error(action: str, reply: requests.Response, body: dict[str, Any]) -> Exception:
    """The toolkit error for a Cloudflare answer that is not a success."""
    errors = [(int(e.get("code", 0)), str(e.get("message", ""))) for e in body.get("errors") or []
              if isinstance(e, dict)]
    if reply.status_code == 429:
        return CloudflareRateLimitedError(f"Cloudflare rate-limited {action}; retry later")
    if reply.status_code >= 500:
        return TransientError(f"Cloudflare failed to {action} (HTTP {reply.status_code})")
    if reply.status_code in (401, 403) or any(code in (9109, 10000, 10001) for code, _ in errors):
        return CloudflareAuthError(action, reply.status_code, errors)
    return CloudflareError(action, reply.status_code, errors)
