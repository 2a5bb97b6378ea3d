"""Which Mailu services must be recreated or restarted after a config change, and nothing more.

Every Mailu service reads the whole ``mailu.env`` (``env_file``), so compose would recreate all of them on any env
change. The installer instead recreates only the services that read a changed key (``docker compose up -d
--no-deps <services>``), using the map below, derived from where Mailu 2024.06 reads each setting. An unknown key
restarts every service that has the env file (safe default).

A new DKIM private key is a file in the ``/dkim`` volume, not config, so compose sees no change: Mailu 2024.06 signs
in rspamd (``antispam``), which fetches the key from ``admin``'s internal vault endpoint; ``admin`` reads the file
per request, ``antispam`` may cache it, so ``antispam`` is restarted (``docker compose restart antispam``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

ALL = "*"
"""Marker: every service that reads mailu.env."""

ENV_KEY_SERVICES: dict[str, tuple[str, ...]] = {
    # SECRET_KEY derives per-service keys at container start (socrate); SUBNET is used almost everywhere.
    "SECRET_KEY": (ALL,),
    "SUBNET": (ALL,),
    "DOMAIN": ("admin", "imap", "front", "smtp", "antispam"),
    "HOSTNAMES": ("admin", "imap", "front", "smtp", "webmail"),
    "PORTS": ("front", "admin"),  # front's listeners (socrate PORT_*), admin's autoconfig records
    "POSTMASTER": ("admin", "imap", "front"),
    "TLS_FLAVOR": ("admin", "front"),
    "DKIM_SELECTOR": ("admin", "antispam"),
    "MESSAGE_SIZE_LIMIT": ("front", "smtp", "webmail"),
    "MESSAGE_RATELIMIT": ("admin",),
    "AUTH_RATELIMIT_IP": ("admin",),
    "AUTH_RATELIMIT_USER": ("admin",),
    "DISABLE_STATISTICS": ("admin",),
    "ADMIN": ("admin", "front", "webmail"),
    "API": ("admin", "front"),
    "API_TOKEN": ("admin",),
    "WEBMAIL": ("admin", "front", "webmail"),
    "ANTIVIRUS": ("antispam",),
    "SCAN_MACROS": ("antispam",),
    "WEBROOT_REDIRECT": ("front",),
    "WEB_ADMIN": ("admin", "front"),
    "WEB_WEBMAIL": ("admin", "front", "webmail"),
    "WEB_API": ("admin", "front"),
    "SITENAME": ("admin", "webmail"),
    "WEBSITE": ("admin",),
    "DMARC_RUA": ("admin",),
    "DMARC_RUF": ("admin",),
    "RELAYHOST": ("smtp",),
    "RELAYNETS": ("smtp", "antispam"),
    "RECIPIENT_DELIMITER": ("admin", "smtp", "imap", "front"),
    "FULL_TEXT_SEARCH": ("imap", "webmail"),
    "FULL_TEXT_SEARCH_ATTACHMENTS": ("imap",),
    "DEFAULT_SPAM_THRESHOLD": ("admin",),
    "CREDENTIAL_ROUNDS": ("admin",),
    "LOG_LEVEL": (ALL,),
    "TZ": (ALL,),
}

DKIM_KEY_SERVICES: tuple[str, ...] = ("antispam",)


def env_services(env_services_all: tuple[str, ...], old: Mapping[str, str], new: Mapping[str, str]) -> set[str]:
    """Services to recreate for the keys that differ between two env files."""
    affected: set[str] = set()
    for key in set(old) | set(new):
        if old.get(key) == new.get(key):
            continue
        for service in ENV_KEY_SERVICES.get(key, (ALL,)):
            affected.update(env_services_all if service == ALL else (service,))
    return affected & set(env_services_all)


def _service_networks(spec: Any) -> set[str]:
    networks = spec.get("networks") if isinstance(spec, dict) else None
    if not networks:
        return {"default"}
    return set(networks) if isinstance(networks, dict | list) else {"default"}


def compose_services(old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[set[str], bool]:
    """(services whose definition is new or changed, whether some service was removed), from parsed compose files.

    A changed network definition affects the services attached to it; any other change outside ``services``
    and ``networks`` affects every service.
    """
    old_services: Mapping[str, Any] = old.get("services") or {}
    new_services: Mapping[str, Any] = new.get("services") or {}
    removed = bool(set(old_services) - set(new_services))
    rest_old = {k: v for k, v in old.items() if k not in ("services", "networks")}
    rest_new = {k: v for k, v in new.items() if k not in ("services", "networks")}
    if rest_old != rest_new:
        return set(new_services), removed
    old_nets: Mapping[str, Any] = old.get("networks") or {}
    new_nets: Mapping[str, Any] = new.get("networks") or {}
    changed_nets = {name for name in set(old_nets) | set(new_nets) if old_nets.get(name) != new_nets.get(name)}
    changed = {
        name for name, spec in new_services.items()
        if old_services.get(name) != spec or _service_networks(spec) & changed_nets
    }
    return changed, removed


def services_with_env_file(compose: Mapping[str, Any]) -> tuple[str, ...]:
    services: Mapping[str, Any] = compose.get("services") or {}
    return tuple(name for name, spec in services.items() if isinstance(spec, dict) and spec.get("env_file"))
