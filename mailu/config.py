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
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal, get_args

import idna

from dnsrecords.recordset import DEFAULT_MTA_STS_MODE, MtaStsMode, mta_sts_host
from toolkit import validate
from toolkit.errors import ValidationError

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


@dataclass(frozen=True)
class MailuConfig:
    """What Mailu on one VPS looks like. Build with ``MailuConfig(...)`` or ``from_tenant_config``."""

    domain: str
    hostnames: tuple[str, ...] = ()
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
    extra_env: tuple[tuple[str, str], ...] = field(default=())

    def __post_init__(self) -> None:
        object.__setattr__(self, "domain", validate.domain(self.domain, "mailu.domain"))
        hostnames = self.hostnames or (f"mail.{self.domain}",)
        object.__setattr__(
            self, "hostnames", tuple(validate.domain(h, "mailu.hostnames") for h in hostnames)
        )
        for name in ("postmaster", "admin_localpart"):
            value = getattr(self, name)
            if not isinstance(value, str) or not _LOCALPART.fullmatch(value):
                raise ValidationError(f"mailu.{name}", f"{value!r} must be a lower-case e-mail local part")
        if self.tls_flavor not in TLS_FLAVORS:
            raise ValidationError("mailu.tls_flavor", f"{self.tls_flavor!r} is not one of {', '.join(TLS_FLAVORS)}")
        if self.webmail not in WEBMAILS:
            raise ValidationError("mailu.webmail", f"{self.webmail!r} is not one of {', '.join(WEBMAILS)}")
        validate.dkim_selector(self.dkim_selector, "mailu.dkim_selector")
        try:
            network = ipaddress.IPv4Network(self.subnet, strict=True)
        except ValueError as exc:
            raise ValidationError("mailu.subnet", f"{self.subnet!r} is not an IPv4 network: {exc}") from None
        if not network.is_private or network.prefixlen > 28:
            raise ValidationError("mailu.subnet", f"{self.subnet} must be a private IPv4 network of /28 or larger")
        if self.bind_address:
            try:
                address = ipaddress.IPv4Address(self.bind_address)
            except ValueError:
                raise ValidationError("mailu.bind_address", f"{self.bind_address!r} is not an IPv4 address") from None
            if address.is_unspecified:
                raise ValidationError("mailu.bind_address", "0.0.0.0 publishes on every address: give the VPS's "
                                      "public address (or leave it empty for the address the installer connects to)")
        if self.mta_sts_mode not in ("testing", "enforce", "none"):
            raise ValidationError("mailu.mta_sts_mode", f"{self.mta_sts_mode!r} is not testing, enforce or none")
        if not isinstance(self.message_size_limit, int) or not 1_000_000 <= self.message_size_limit <= 1_000_000_000:
            raise ValidationError("mailu.message_size_limit", "must be an integer between 1e6 and 1e9 bytes")
        if not _VERSION.fullmatch(self.version):
            raise ValidationError("mailu.version", f"{self.version!r} is not a Mailu release like 2024.06.57")
        for text_field in ("site_name", "timezone"):
            value = getattr(self, text_field)
            if not value or any(ch in value for ch in "\n\r\0"):
                raise ValidationError(f"mailu.{text_field}", "must be a non-empty single line")
        for key, value in self.extra_env:
            if not re.fullmatch(r"[A-Z][A-Z0-9_]*", key):
                raise ValidationError("mailu.extra_env", f"{key!r} is not an upper-case variable name")
            if any(ch in value for ch in "\n\r\0"):
                raise ValidationError(f"mailu.extra_env.{key}", "value must be a single line")
            if key in ("SECRET_KEY", "INITIAL_ADMIN_PW", "API_TOKEN"):
                raise ValidationError(f"mailu.extra_env.{key}", "secrets come from Vault, not from the config")

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
        data = asdict(self)
        data["hostnames"] = list(self.hostnames)
        data["extra_env"] = [list(pair) for pair in self.extra_env]
        return data

    def digest(self) -> str:
        """SHA-256 of the canonical JSON form: changes exactly when the rendered (non-secret) config changes."""
        canonical = json.dumps(self.as_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MailuConfig:
        known = {f for f in cls.__dataclass_fields__}
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
