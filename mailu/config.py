"""The typed, validated Mailu configuration of one tenant (everything but its secrets).

Secrets (the Mailu ``SECRET_KEY``, the admin password, the DKIM private key) are not part of this object: they come
from Vault at install time (``mailu.secrets``), so a ``MailuConfig`` can be logged, hashed into a digest and stored
in Pulumi state.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
from typing import TYPE_CHECKING, Any, ClassVar, Literal, get_args

import idna
from pydantic import Field, ValidationInfo, field_validator

from dnsrecords.recordset import DEFAULT_MTA_STS_MODE, MtaStsMode, mta_sts_host
from toolkit import validate
from toolkit.errors import ConfigError, ValidationError
from toolkit.models import SettingsModel, problem_of

if TYPE_CHECKING:
    from toolkit.tenant_config import TenantConfig

MAILU_VERSION = "2024.06.57"
"""Pinned Mailu release: the newest 2024.06 patch tag found in Mailu's sources (2024.06.57)."""
MAILU_IMAGE_REGISTRY = "ghcr.io/mailu"
REDIS_IMAGE = "redis:alpine"
CLAMAV_IMAGE = "clamav/clamav-debian:1.4"
INSTALL_ROOT = "/mailu"
COMPOSE_PROJECT = "mailu"

TlsFlavor = Literal["letsencrypt", "cert", "notls", "mail", "mail-letsencrypt"]
Webmail = Literal["roundcube", "snappymail", "none"]
TLS_FLAVORS: tuple[str, ...] = get_args(TlsFlavor)
WEBMAILS: tuple[str, ...] = get_args(Webmail)

DEFAULT_SUBNET = "192.168.203.0/24"
DEFAULT_MESSAGE_SIZE_LIMIT = 50_000_000
_LOCALPART = re.compile(r"[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?")
_VERSION = re.compile(r"\d{4}\.\d{2}(?:\.\d+)?")


def _one_of(value: object, allowed: tuple[str, ...], listed: str) -> object:
    if value not in allowed:
        raise ValueError(f"{value!r} is not {listed}")
    return value


def _single_line(value: str) -> bool:
    return not any(ch in value for ch in "\n\r\0")


class MailuConfig(SettingsModel):
    """What Mailu on one VPS looks like. Build with ``MailuConfig(...)`` or ``from_tenant_config``."""

    field_prefix: ClassVar[str] = "mailu"
    error_type: ClassVar[type[ConfigError]] = ValidationError

    domain: str
    hostnames: tuple[str, ...] = Field(default=(), validate_default=True)
    """Empty: ``mail.<domain>``."""
    postmaster: str = "admin"
    admin_localpart: str = "admin"
    tls_flavor: TlsFlavor = "letsencrypt"
    dkim_selector: str = "dkim"
    subnet: str = DEFAULT_SUBNET
    message_size_limit: int = DEFAULT_MESSAGE_SIZE_LIMIT
    webmail: Webmail = "roundcube"
    antivirus: bool = False
    admin_ui: bool = True
    bind_address: str = ""
    """Where ``front`` publishes its ports: the VPS's public IPv4 address. Empty: the address the installer
    connects to (``MailuInstaller`` fills it in). Never every address: see ``mailu.docker_host``."""
    mta_sts_mode: MtaStsMode = DEFAULT_MTA_STS_MODE
    """The MTA-STS policy front serves (and DNS announces); ``none`` serves and announces nothing."""
    site_name: str = "Mailu"
    timezone: str = "Etc/UTC"
    version: str = MAILU_VERSION
    extra_env: tuple[tuple[str, str], ...] = ()

    @field_validator("domain")
    @classmethod
    def _domain(cls, value: str) -> str:
        return problem_of(validate.domain, value)

    @field_validator("hostnames")
    @classmethod
    def _hostnames(cls, value: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        domain = info.data.get("domain")
        hostnames = value or ((f"mail.{domain}",) if domain else ())
        return tuple(problem_of(validate.domain, h) for h in hostnames)

    @field_validator("postmaster", "admin_localpart")
    @classmethod
    def _localpart(cls, value: str) -> str:
        if not _LOCALPART.fullmatch(value):
            raise ValueError(f"{value!r} must be a lower-case e-mail local part")
        return value

    @field_validator("tls_flavor", mode="before")
    @classmethod
    def _tls_flavor(cls, value: object) -> object:
        return _one_of(value, TLS_FLAVORS, f"one of {', '.join(TLS_FLAVORS)}")

    @field_validator("webmail", mode="before")
    @classmethod
    def _webmail(cls, value: object) -> object:
        return _one_of(value, WEBMAILS, f"one of {', '.join(WEBMAILS)}")

    @field_validator("mta_sts_mode", mode="before")
    @classmethod
    def _mta_sts_mode(cls, value: object) -> object:
        return _one_of(value, ("testing", "enforce", "none"), "testing, enforce or none")

    @field_validator("dkim_selector")
    @classmethod
    def _selector(cls, value: str) -> str:
        return problem_of(validate.dkim_selector, value)

    @field_validator("subnet")
    @classmethod
    def _subnet(cls, value: str) -> str:
        try:
            network = ipaddress.IPv4Network(value, strict=True)
        except ValueError as exc:
            raise ValueError(f"{value!r} is not an IPv4 network: {exc}") from None
        if not network.is_private or network.prefixlen > 28:
            raise ValueError(f"{value} must be a private IPv4 network of /28 or larger")
        return value

    @field_validator("bind_address")
    @classmethod
    def _bind_address(cls, value: str) -> str:
        if value:
            try:
                address = ipaddress.IPv4Address(value)
            except ValueError:
                raise ValueError(f"{value!r} is not an IPv4 address") from None
            if address.is_unspecified:
                raise ValueError("0.0.0.0 publishes on every address: give the VPS's public address (or leave it "
                                 "empty for the address the installer connects to)")
        return value

    @field_validator("message_size_limit", mode="before")
    @classmethod
    def _size(cls, value: object) -> object:
        if not isinstance(value, int) or not 1_000_000 <= value <= 1_000_000_000:
            raise ValueError("must be an integer between 1e6 and 1e9 bytes")
        return value

    @field_validator("version")
    @classmethod
    def _version(cls, value: str) -> str:
        if not _VERSION.fullmatch(value):
            raise ValueError(f"{value!r} is not a Mailu release like 2024.06.57")
        return value

    @field_validator("site_name", "timezone")
    @classmethod
    def _line(cls, value: str) -> str:
        if not value or not _single_line(value):
            raise ValueError("must be a non-empty single line")
        return value

    @field_validator("extra_env")
    @classmethod
    def _extra_env(cls, value: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
        # Named per variable (mailu.extra_env.<KEY>), so raised as the toolkit's error itself.
        for key, text in value:
            if not re.fullmatch(r"[A-Z][A-Z0-9_]*", key):
                raise ValidationError("mailu.extra_env", f"{key!r} is not an upper-case variable name")
            if not _single_line(text):
                raise ValidationError(f"mailu.extra_env.{key}", "value must be a single line")
            if key in ("SECRET_KEY", "INITIAL_ADMIN_PW", "API_TOKEN"):
                raise ValidationError(f"mailu.extra_env.{key}", "secrets come from Vault, not from the config")
        return value

    # -- derived values --

    @property
    def admin_email(self) -> str:
        return f"{self.admin_localpart}@{self.domain}"

    @property
    def resolver_address(self) -> str:
        """The unbound resolver's fixed address: the last usable address of the subnet (Mailu's convention)."""
        return str(ipaddress.IPv4Network(self.subnet)[-2])

    @property
    def mta_sts_host(self) -> str | None:
        """``mta-sts.<domain>`` when a policy is served (it needs a certificate: it goes into ``HOSTNAMES``)."""
        return None if self.mta_sts_mode == "none" else mta_sts_host(self.domain)

    @property
    def certificate_hostnames(self) -> tuple[str, ...]:
        """Mailu's ``HOSTNAMES``: the mail host names first, then the MTA-STS policy host. Mailu's certbot asks one
        certificate for all of them; front's mail listeners use the first."""
        extra = self.mta_sts_host
        return self.hostnames + ((extra,) if extra and extra not in self.hostnames else ())

    @property
    def unicode_domain(self) -> str:
        """The domain as Mailu's admin holds it (its ``IdnaDomain`` column decodes ``xn--`` labels with ``idna``)."""
        return str(idna.decode(self.domain))

    @property
    def dkim_key_path(self) -> str:
        """Where Mailu reads the key: ``DKIM_PATH`` (``/dkim/{domain}.{selector}.key``) formatted with the domain
        as the admin's model returns it, i.e. in Unicode for an IDN (``bücher.example``, not ``xn--bcher-kva``)."""
        return f"{INSTALL_ROOT}/dkim/{self.unicode_domain}.{self.dkim_selector}.key"

    def image(self, name: str) -> str:
        return f"{MAILU_IMAGE_REGISTRY}/{name}:{self.version}"

    def services(self) -> tuple[str, ...]:
        """Compose services in Mailu's setup order."""
        names = ["redis", "front", "resolver", "admin", "imap", "smtp", "antispam"]
        if self.antivirus:
            names.append("antivirus")
        if self.webmail != "none":
            names.append("webmail")
        return tuple(names)

    def as_dict(self) -> dict[str, Any]:
        """The state form (pinned with the digest: tests/unit/test_mailu_config_digest.py)."""
        data = self.model_dump()
        data["hostnames"] = list(self.hostnames)
        data["extra_env"] = [list(pair) for pair in self.extra_env]
        return data

    def digest(self) -> str:
        """SHA-256 of the canonical JSON form: changes exactly when the rendered (non-secret) config changes."""
        canonical = json.dumps(self.as_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MailuConfig:
        known = set(cls.model_fields)
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValidationError("mailu", f"unknown settings: {', '.join(unknown)}")
        values = dict(data)
        if "hostnames" in values:
            values["hostnames"] = tuple(values["hostnames"])
        if "extra_env" in values:
            values["extra_env"] = tuple((str(k), str(v)) for k, v in values["extra_env"])
        # Before the ports were bound to the public address, "0.0.0.0" was the default: it means "the host".
        if values.get("bind_address") == "0.0.0.0":  # noqa: S104 - read from an older state, never rendered
            values["bind_address"] = ""
        return cls(**values)

    @classmethod
    def from_tenant_config(cls, tenant: TenantConfig, **overrides: Any) -> MailuConfig:
        """Mailu settings of a tenant stack: its domain, ``mail.<domain>``, its DKIM selector."""
        values: dict[str, Any] = {
            "domain": tenant.domain,
            "hostnames": (tenant.mail_host,),
            "dkim_selector": tenant.dkim_selector or "dkim",
        }
        values.update(overrides)
        return cls(**values)
