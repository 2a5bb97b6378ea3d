"""A tenant's stack configuration: one typed, validated model shared by `__main__.py`, tasks and CI.

Validation happens before any resource is created: every problem names its key (as written in
``stacks/Pulumi.<tenant>.yaml``, under the ``pm:`` namespace) and says what is wrong, and all problems are
reported at once.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator
from pydantic import ValidationError as PydanticValidationError

from dnsrecords.dmarc import mailto
from dnsrecords.names import in_zone
from dnsrecords.spf import build_spf
from hostwinds.endpoint import check_api_url
from mailu.docker_apt import image_problem, release_of
from toolkit import validate
from toolkit.errors import ConfigError
from toolkit.models import problem_of, problems

CONFIG_NAMESPACE = "pm"
SPF_PLACEHOLDER_IP = "192.0.2.1"
"""Stands in for the VPS address when the SPF record is checked before the VPS exists (TEST-NET-1)."""

SizeTier = Literal["small", "medium", "large"]
SIZE_TIERS: dict[str, dict[str, int]] = {
    # vCPU / RAM GB / daily mail volume the tier is sized for (requirements section 1)
    "small": {"cpu": 1, "ram_gb": 2, "mails_per_day": 5_000},
    "medium": {"cpu": 2, "ram_gb": 4, "mails_per_day": 25_000},
    "large": {"cpu": 4, "ram_gb": 8, "mails_per_day": 100_000},
}


class TenantConfigError(ConfigError):
    """One or more stack config keys are wrong; ``problems`` lists each (key, message)."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        field = ", ".join(key for key, _ in problems)
        message = "; ".join(f"{key}: {text}" for key, text in problems)
        super().__init__(field, message)
        self.args = (f"invalid stack config: {message}",)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DnsSettings(_Strict):
    provider: Literal["rfc2136", "cloudflare", "manual"] = "rfc2136"
    server: str | None = None
    port: int = Field(default=53, ge=1, le=65535)
    zone: str | None = None
    tsig_key_name: str | None = None
    tsig_algorithm: Literal["hmac-sha256", "hmac-sha512"] = "hmac-sha256"
    cloudflare_zone_id: str | None = None
    cloudflare_api_url: str | None = None

    @model_validator(mode="after")
    def _provider_needs(self) -> DnsSettings:
        if self.provider == "rfc2136":
            if not self.server:
                raise ValueError("provider rfc2136 needs `server` (the primary's address)")
            try:
                ipaddress.ip_address(self.server)
            except ValueError as exc:
                raise ValueError(f"server {self.server!r} must be an IP address") from exc
            if not self.tsig_key_name:
                raise ValueError("provider rfc2136 needs `tsig_key_name` (its secret comes from PM_DNS_TSIG_SECRET)")
        return self


class HostwindsSettings(_Strict):
    api_url: str | None = None
    plan_id: str | None = Field(default=None, min_length=1)
    firewall_profile: str = Field(default="mail", min_length=1)
    poll_interval: float = Field(default=30.0, gt=0, le=600)
    poll_timeout: float = Field(default=1800.0, gt=0, le=7200)
    vps_generation: int = Field(default=1, ge=1)

    @field_validator("api_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        # The one rule for where the Hostwinds API key may go (hostwinds.endpoint): https to an allowed API host,
        # plain http only to loopback, no user info.
        return None if value is None else problem_of(lambda v: check_api_url(v, "hostwinds.api_url"), value)


class MigrationSettings(_Strict):
    """Present only while `invoke dr.migrate` moves a trusted host (failure/upgrade): the old host's address,
    from which the new VPS copies /mailu/mail and /mailu/data (best effort). Removed when the migration ends."""

    copy_from: str

    @field_validator("copy_from")
    @classmethod
    def _ip(cls, value: str) -> str:
        try:
            ipaddress.ip_address(value)
        except ValueError as exc:
            raise ValueError(f"{value!r} must be the old VPS's IP address") from exc
        return value


def size_minimums() -> dict[str, tuple[int, float]]:
    """Size tier -> (vCPUs, GB RAM) the Hostwinds plan must have at least: a tier is resolved to the smallest such
    unmanaged plan through ``get_price_list`` (``hostwinds.catalog``), before anything is created."""
    return {tier: (spec["cpu"], float(spec["ram_gb"])) for tier, spec in SIZE_TIERS.items()}


class TenantConfig(_Strict):
    tenant_id: str
    domain: str
    size: SizeTier = "small"
    location: str = Field(default="1", min_length=1)
    """A Hostwinds location by name ("seattle", "Dallas, TX") or id; resolved through `get_locations`."""
    image: str = Field(default="ubuntu-22.04", min_length=1)
    """An OS image by name ("ubuntu-22.04" = "Ubuntu 22.04 LTS") or UUID; resolved through `get_public_images`."""
    dns: DnsSettings
    ttl: int = Field(default=3600, ge=60, le=86_400)
    dmarc_stage: Literal["none", "quarantine", "reject"] = "none"
    """The stage a new domain starts at; `rotate.due` advances it (none -> quarantine pct=10 after 30 days -> reject
    after 90: ``fleet.dmarc``). Editing it later is an operator's decision: that stage is put in force and the
    schedule continues from it."""
    dmarc_hold: bool = False
    """Hold the DMARC stage where it is: `rotate.due` does not advance a domain that is not ready."""
    dmarc_rua: str | None = None
    spf_includes: tuple[str, ...] = ()
    ssh_key_type: Literal["rsa4096", "ed25519"] = "rsa4096"
    dkim_selector: str = ""
    """The first DKIM selector (empty: a fresh dated one). Later selectors live in the day-2 intent (fleet.intent)."""
    purge_secrets_on_destroy: bool = False
    hostwinds: HostwindsSettings = Field(default_factory=HostwindsSettings)
    ptr_check: Literal["dns", "hostwinds", "skip"] = "dns"
    migration: MigrationSettings | None = None
    """Set only in the deployed configuration, from the intent of `dr.migrate` (``fleet.intent.apply``)."""

    @field_validator("tenant_id")
    @classmethod
    def _tenant(cls, value: str) -> str:
        return problem_of(validate.tenant_id, value)

    @field_validator("domain")
    @classmethod
    def _domain(cls, value: str) -> str:
        return problem_of(validate.domain, value)

    @field_validator("image")
    @classmethod
    def _image(cls, value: str) -> str:
        # A readable id that names a Debian/Ubuntu release the installer does not support is refused here; an id that
        # names none (a UUID on the live API) is checked by the preflight against the image's Hostwinds name.
        if release_of(value) is not None and (problem := image_problem(value)) is not None:
            raise ValueError(problem)
        return value

    @field_validator("dkim_selector")
    @classmethod
    def _selector(cls, value: str) -> str:
        return problem_of(validate.dkim_selector, value) if value else value

    @field_validator("spf_includes")
    @classmethod
    def _includes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        includes = tuple(problem_of(lambda v: validate.domain(v, allow_service_labels=True), item) for item in value)
        # The DNS layer's own SPF builder: the record published later passes the same checks (<= 10 lookups).
        problem_of(lambda v: build_spf(SPF_PLACEHOLDER_IP, includes), includes)
        return includes

    @field_validator("dmarc_rua")
    @classmethod
    def _rua(cls, value: str | None) -> str | None:
        if value is None:
            return None
        # The DNS layer's rule (one address: no spaces, ';', ',' or '!' that would break the DMARC record).
        try:
            return mailto(value, "dmarc_rua")
        except ConfigError as exc:
            raise ValueError(f"{exc.problem}: give one address such as dmarc@example.com "
                             "(mailto: optional; no spaces, ';' or ',')") from exc

    @field_validator("dns")
    @classmethod
    def _zone(cls, value: DnsSettings, info: ValidationInfo) -> DnsSettings:
        domain = info.data.get("domain")
        if value.zone is None or not isinstance(domain, str):
            return value
        zone = problem_of(lambda v: validate.domain(v, "dns.zone"), value.zone)
        if not in_zone(domain, zone):
            raise ValueError(f"zone {value.zone!r} does not contain the domain {domain!r}: set `zone` to the "
                             f"zone the domain's records go into (the domain itself or a parent of it)")
        return value

    @property
    def mail_host(self) -> str:
        return f"mail.{self.domain}"

    @property
    def plan_id(self) -> str:
        """The plan as the stack names it: ``hostwinds.plan_id`` (a rid or plan name) if set, else the size tier;
        resolved to a rid through ``get_price_list`` (unmanaged plans) by the preflight and at create."""
        return self.hostwinds.plan_id or self.size

    @property
    def vps_label(self) -> str:
        """Unique Hostwinds label of the tenant's current VPS (the generation changes on migration)."""
        return f"pm-{self.tenant_id}-{self.hostwinds.vps_generation}"

    @property
    def tenant_user(self) -> str:
        return validate.linux_tenant_user(self.tenant_id)


RETIRED_SETTINGS = {
    f"{CONFIG_NAMESPACE}:vault_addrs": "is no longer read: Vault is a connection setting (VAULT_ADDRS or VAULT_ADDR in "
                                       "the environment of `pulumi` and `invoke`); delete this setting",
}
"""Settings that once existed, with what replaces them (a stack file that still has one is told the fix)."""


def parse_tenant_config(raw: Mapping[str, Any]) -> TenantConfig:
    """Validate a mapping of config keys (without the ``pm:`` prefix) into a TenantConfig."""
    try:
        return TenantConfig.model_validate(dict(raw))
    except PydanticValidationError as exc:
        found = problems(exc, prefix=CONFIG_NAMESPACE, separator=":", retired=RETIRED_SETTINGS)
        raise TenantConfigError(found) from None


def config_from_stack_file(data: Mapping[str, Any]) -> TenantConfig:
    """Parse the ``config:`` block of a Pulumi.<stack>.yaml (keys like ``pm:domain``)."""
    config = data.get("config") or {}
    raw = {}
    for key, value in config.items():
        namespace, _, name = str(key).partition(":")
        if namespace == CONFIG_NAMESPACE and name:
            raw[name] = value
    return parse_tenant_config(raw)


def raw_from_pulumi_config(values: Mapping[str, object]) -> dict[str, Any]:
    """The ``pm:`` keys of the config Pulumi hands the program (``{"pm:domain": "..."}``; maps and lists arrive as
    JSON text) as a mapping for ``parse_tenant_config``. An empty value or a ``{``/``[`` value that is not JSON is
    named with its key and the fix, all at once (``TenantConfigError``)."""
    raw: dict[str, Any] = {}
    problems: list[tuple[str, str]] = []
    for key, value in values.items():
        namespace, _, name = str(key).partition(":")
        if namespace != CONFIG_NAMESPACE or not name:
            continue
        text = str(value)
        if not text.strip():
            problems.append((str(key), "is empty: give it a value, or delete the line to use the default"))
        elif text.lstrip()[:1] in ("[", "{"):
            try:
                raw[name] = json.loads(text)
            except json.JSONDecodeError as exc:
                problems.append((str(key), f"starts with {text.lstrip()[0]!r} but is not a valid list or map "
                                           f"({exc.msg} at character {exc.pos + 1}): write a list or map as YAML "
                                           "under the key, and do not start a text value with '[' or '{'"))
        else:
            raw[name] = text
    if problems:
        raise TenantConfigError(problems)
    return raw


def check_stack_name(config: TenantConfig, stack: str) -> None:
    """One tenant = one stack named after it: a stack whose name differs from ``tenant_id`` is refused, so no
    stack can act on another tenant's id (its Vault paths, VPS label, Hostwinds key)."""
    if stack != config.tenant_id:
        raise TenantConfigError([(f"{CONFIG_NAMESPACE}:tenant_id",
                                  f"is {config.tenant_id!r} but the stack is named {stack!r}: a tenant's stack must "
                                  f"be named after its tenant id (stacks/Pulumi.{config.tenant_id}.yaml, "
                                  f"`pulumi stack init {config.tenant_id}`), or set tenant_id to {stack!r} if this "
                                  "stack is that tenant")])
