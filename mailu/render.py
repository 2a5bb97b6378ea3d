"""Deterministic rendering of ``/mailu/docker-compose.yml`` and ``/mailu/mailu.env`` for the pinned release.

The structure follows what Mailu's own setup utility produces for the compose flavour (same services, volumes
under ``/mailu``, networks, env sections and keys), with these deliberate differences:
- images are pinned to the exact release (``ghcr.io/mailu/<image>:2024.06.57``) instead of
  ``${MAILU_VERSION:-2024.06}``, so nothing floats;
- ``front`` publishes only 25, 80, 443, 465, 587 and 993 (``mailu.ports``): Docker-published ports bypass the host
  firewall, so the published set must equal the firewall's mail ports (no POP3, plain IMAP or ManageSieve), and
  ``PORTS`` lists the same set so Mailu listens on each of them (its default leaves 587 off);
- every published port is bound to the VPS's public address (``bind_address``), never 0.0.0.0: with Docker's
  userland proxy, connections to a wildcard-published port can appear to come from the Docker gateway, inside
  Mailu's trusted ``SUBNET`` (an open relay; Mailu's FAQ and issue 3680). The installer also turns the userland
  proxy off (``mailu.docker_host``);
- ``DKIM_SELECTOR`` is set explicitly (dated selectors, requirements section 5);
- ``HOSTNAMES`` ends with ``mta-sts.<domain>`` so the certificate covers the MTA-STS policy host that front serves
  (``mailu.overrides``).
Every key that differs from Mailu's own setup output is listed, with the reason, in ``mailu/UPSTREAM.md``.
Same input, same bytes: no timestamps, no random values (the secret key is an input).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from mailu.config import CLAMAV_IMAGE, COMPOSE_PROJECT, INSTALL_ROOT, REDIS_IMAGE, MailuConfig
from mailu.ports import MAILU_PORTS_ENV, PUBLISHED_PORTS
from toolkit.errors import ValidationError
from toolkit.redact import REDACTED, Secret
from toolkit.ssh import sha256_hex

COMPOSE_PATH = f"{INSTALL_ROOT}/docker-compose.yml"
ENV_PATH = f"{INSTALL_ROOT}/mailu.env"
ENV_FILE_NAME = "mailu.env"
MAILU_IMAGES = {
    "front": "nginx", "resolver": "unbound", "admin": "admin", "imap": "dovecot", "smtp": "postfix",
    "antispam": "rspamd", "webmail": "webmail",
}
"""Compose service -> Mailu image name (the images are named after the software, not the service)."""
_SECRET_KEY = re.compile(r"[A-Za-z0-9+/=_.-]{16,128}")


@dataclass(frozen=True)
class RenderedFiles:
    """The two rendered files. ``env`` holds the secret key: it never shows in repr."""

    compose: bytes
    env: bytes = field(repr=False)

    def __repr__(self) -> str:
        return (f"RenderedFiles(compose=<{len(self.compose)} bytes sha256 {sha256_hex(self.compose)[:12]}>, "
                f"env={REDACTED})")


def check_secret_key(secret_key: Secret) -> str:
    value = secret_key.reveal()
    if not _SECRET_KEY.fullmatch(value):
        raise ValidationError(
            "mailu.secret_key", "must be 16..128 characters of A-Z a-z 0-9 + / = _ . - (no spaces, quotes or $)"
        )
    return value


# --- docker-compose.yml ------------------------------------------------------------------------------------

def bound_address(config: MailuConfig) -> str:
    """The address the ports are published on; rendering without one is refused (never a wildcard)."""
    if not config.bind_address:
        raise ValidationError("mailu.bind_address", "is empty: the installer fills in the VPS's address before "
                              "rendering (MailuInstaller), or give it in the config")
    return config.bind_address


def _logging(service: str) -> dict[str, Any]:
    return {"driver": "journald", "options": {"tag": f"mailu-{service}"}}


def _mailu_service(config: MailuConfig, service: str) -> dict[str, Any]:
    return {
        "image": config.image(MAILU_IMAGES[service]),
        "restart": "always",
        "env_file": ENV_FILE_NAME,
        "logging": _logging(service),
    }


def compose_document(config: MailuConfig) -> dict[str, Any]:
    """The compose file as a mapping (what ``render_compose`` serialises)."""
    root = INSTALL_ROOT
    services: dict[str, Any] = {}

    services["redis"] = {
        "image": REDIS_IMAGE,
        "restart": "always",
        "volumes": [f"{root}/redis:/data"],
        "depends_on": ["resolver"],
        "dns": [config.resolver_address],
    }

    front = _mailu_service(config, "front")
    front["ports"] = [f"{bound_address(config)}:{port}:{port}" for port in PUBLISHED_PORTS]
    front["networks"] = ["default"] + (["webmail"] if config.webmail != "none" else [])
    front["volumes"] = [f"{root}/certs:/certs", f"{root}/overrides/nginx:/overrides:ro"]
    front["depends_on"] = ["resolver"]
    front["dns"] = [config.resolver_address]
    services["front"] = front

    resolver = _mailu_service(config, "resolver")
    resolver["networks"] = {"default": {"ipv4_address": config.resolver_address}}
    services["resolver"] = resolver

    admin = _mailu_service(config, "admin")
    if not config.admin_ui:
        admin["ports"] = ["127.0.0.1:8080:80"]
    admin["volumes"] = [f"{root}/data:/data", f"{root}/dkim:/dkim"]
    admin["depends_on"] = ["redis", "resolver"]
    admin["dns"] = [config.resolver_address]
    services["admin"] = admin

    imap = _mailu_service(config, "imap")
    imap["volumes"] = [f"{root}/mail:/mail", f"{root}/overrides/dovecot:/overrides:ro"]
    imap["networks"] = ["default"]
    imap["depends_on"] = ["front", "resolver"]
    imap["dns"] = [config.resolver_address]
    services["imap"] = imap

    smtp = _mailu_service(config, "smtp")
    smtp["volumes"] = [f"{root}/mailqueue:/queue", f"{root}/overrides/postfix:/overrides:ro"]
    smtp["depends_on"] = ["front", "resolver"]
    smtp["dns"] = [config.resolver_address]
    services["smtp"] = smtp

    antispam = _mailu_service(config, "antispam")
    antispam = {"image": antispam.pop("image"), "hostname": "antispam", **antispam}
    antispam["networks"] = ["default"] + (["clamav"] if config.antivirus else [])
    antispam["volumes"] = [f"{root}/filter:/var/lib/rspamd", f"{root}/overrides/rspamd:/overrides:ro"]
    antispam["depends_on"] = ["front", "redis"] + (["antivirus"] if config.antivirus else []) + ["resolver"]
    antispam["dns"] = [config.resolver_address]
    services["antispam"] = antispam

    if config.antivirus:
        services["antivirus"] = {
            "image": CLAMAV_IMAGE,
            "restart": "always",
            "logging": _logging("antivirus"),
            "networks": ["clamav"],
            "volumes": [f"{root}/clamav:/var/lib/clamav"],
            "healthcheck": {
                "test": ["CMD-SHELL", "kill -0 $$(cat /tmp/clamd.pid) && kill -0 $$(cat /tmp/freshclam.pid)"],
                "interval": "10s",
                "timeout": "5s",
                "retries": 3,
                "start_period": "10s",
            },
        }

    if config.webmail != "none":
        webmail = _mailu_service(config, "webmail")
        webmail["volumes"] = [f"{root}/webmail:/data", f"{root}/overrides/{config.webmail}:/overrides:ro"]
        webmail["networks"] = ["webmail"]
        webmail["depends_on"] = ["front"]
        services["webmail"] = webmail

    networks: dict[str, Any] = {
        "default": {"driver": "bridge", "ipam": {"driver": "default", "config": [{"subnet": config.subnet}]}},
    }
    if config.webmail != "none":
        networks["webmail"] = {"driver": "bridge"}
    if config.antivirus:
        networks["clamav"] = {"driver": "bridge"}
    return {"name": COMPOSE_PROJECT, "services": services, "networks": networks}


def render_compose(config: MailuConfig) -> bytes:
    header = (
        "# Rendered by pm-mail-infra from the tenant's stack config; do not edit on the host\n"
        f"# (the next install run puts this content back). Mailu {config.version}, compose flavour.\n\n"
    )
    body = yaml.safe_dump(compose_document(config), sort_keys=False, default_flow_style=False, width=200)
    return (header + body).encode()


# --- mailu.env ---------------------------------------------------------------------------------------------

def env_entries(config: MailuConfig, secret_key: Secret) -> list[tuple[str, str] | str]:
    """Ordered env content: ``(key, value)`` pairs and comment/section strings."""
    webroot = "/webmail" if config.webmail != "none" else ("/admin" if config.admin_ui else "")
    entries: list[tuple[str, str] | str] = [
        "## Common settings",
        ("SECRET_KEY", check_secret_key(secret_key)),
        ("SUBNET", config.subnet),
        ("DOMAIN", config.domain),
        ("HOSTNAMES", ",".join(config.certificate_hostnames)),
        ("POSTMASTER", config.postmaster),
        ("TLS_FLAVOR", config.tls_flavor),
        ("PORTS", MAILU_PORTS_ENV),
        ("AUTH_RATELIMIT_IP", "5/hour"),
        ("AUTH_RATELIMIT_USER", "50/day"),
        ("DISABLE_STATISTICS", "True"),
        "## Optional features",
        ("ADMIN", "true" if config.admin_ui else "false"),
        ("WEBMAIL", config.webmail),
        ("API", "false"),
        ("WEBDAV", "none"),
        ("ANTIVIRUS", "clamav" if config.antivirus else "none"),
        ("SCAN_MACROS", "false"),
        "## Mail settings",
        ("MESSAGE_SIZE_LIMIT", str(config.message_size_limit)),
        ("MESSAGE_RATELIMIT", "200/day"),
        ("RELAYNETS", ""),
        ("RELAYHOST", ""),
        ("FETCHMAIL_ENABLED", "False"),
        ("FETCHMAIL_DELAY", "600"),
        ("RECIPIENT_DELIMITER", "+"),
        # Local parts: Mailu appends "@DOMAIN" itself (models.Domain.dns_dmarc).
        ("DMARC_RUA", config.postmaster),
        ("DMARC_RUF", config.postmaster),
        ("WELCOME", "false"),
        ("FULL_TEXT_SEARCH", "en"),
        ("DKIM_SELECTOR", config.dkim_selector),
        "## Web settings",
        ("WEBROOT_REDIRECT", webroot),
        ("WEB_ADMIN", "/admin"),
        ("WEB_WEBMAIL", "/webmail"),
        ("WEB_API", "/api"),
        ("SITENAME", config.site_name),
        ("WEBSITE", f"https://{config.hostnames[0]}"),
        "## Advanced settings",
        ("COMPOSE_PROJECT_NAME", COMPOSE_PROJECT),
        ("CREDENTIAL_ROUNDS", "12"),
        ("REAL_IP_HEADER", ""),
        ("REAL_IP_FROM", ""),
        ("REJECT_UNLISTED_RECIPIENT", ""),
        ("LOG_LEVEL", "INFO"),
        ("TZ", config.timezone),
        ("DEFAULT_SPAM_THRESHOLD", "80"),
        ("API_TOKEN", ""),
        # Empty, not "False": Dovecot's template tests the raw string, and any non-empty value enables tika.
        ("FULL_TEXT_SEARCH_ATTACHMENTS", ""),
    ]
    if config.extra_env:
        entries.append("## Extra settings from the stack config")
        known = {e[0] for e in entries if isinstance(e, tuple)}
        for key, value in config.extra_env:
            if key in known:
                raise ValidationError(f"mailu.extra_env.{key}", "is already rendered from a dedicated setting")
            entries.append((key, value))
    return entries


def render_env(config: MailuConfig, secret_key: Secret) -> bytes:
    lines = [
        "# Mailu settings rendered by pm-mail-infra from the stack config; do not edit on the host.",
        f"# Mailu {config.version}. Reference: Mailu's configuration documentation.",
    ]
    for entry in env_entries(config, secret_key):
        if isinstance(entry, str):
            lines += ["", "# " + entry.removeprefix("## ")]
        else:
            key, value = entry
            if any(ch in value for ch in "\n\r$\"'"):
                raise ValidationError(f"mailu.env.{key}", "value must not contain newlines, quotes or '$'")
            lines.append(f"{key}={value}")
    return ("\n".join(lines) + "\n").encode()


def render(config: MailuConfig, secret_key: Secret) -> RenderedFiles:
    return RenderedFiles(compose=render_compose(config), env=render_env(config, secret_key))


def parse_env(text: str) -> dict[str, str]:
    """Parse an env file the way compose reads ours (KEY=VALUE lines; blank lines and # comments skipped)."""
    values: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            raise ValidationError("mailu.env", f"line {number} is not KEY=VALUE")
        values[key] = value
    return values
