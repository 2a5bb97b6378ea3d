"""Build a provider from its name and plain settings (as a stack config or a Pulumi resource holds them).

Secrets never travel in ``settings``: the TSIG secret / Cloudflare token is passed as ``secret`` (e.g. a
Pulumi secret input) or read from the environment at run time (``PM_DNS_TSIG_SECRET``, ``CLOUDFLARE_API_TOKEN``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from dnsrecords.providers.base import DnsProvider
from toolkit.errors import ConfigError
from toolkit.redact import Secret

PROVIDERS = ("rfc2136", "cloudflare", "manual")
SECRET_ENV = {"rfc2136": "PM_DNS_TSIG_SECRET", "cloudflare": "CLOUDFLARE_API_TOKEN"}


def _secret(provider: str, secret: str | Secret | None) -> Secret:
    if isinstance(secret, Secret) and secret:
        return secret
    if isinstance(secret, str) and secret:
        return Secret(secret)
    env = SECRET_ENV[provider]
    value = os.environ.get(env, "")
    if not value:
        what = "TSIG secret" if provider == "rfc2136" else "API token"
        raise ConfigError(env, f"the {provider} provider needs its {what}: set {env} (never put it in config)")
    return Secret(value)


def _need(settings: Mapping[str, Any], key: str, provider: str) -> Any:
    value = settings.get(key)
    if value in (None, ""):
        raise ConfigError(f"dns.{key}", f"the {provider} provider needs `{key}`")
    return value


def make_provider(
    provider: str, settings: Mapping[str, Any], secret: str | Secret | None = None
) -> DnsProvider:
    if provider == "rfc2136":
        from dnsrecords.providers.rfc2136 import Rfc2136Provider, Rfc2136Settings

        return Rfc2136Provider(Rfc2136Settings(
            server=str(_need(settings, "server", provider)), zone=str(_need(settings, "zone", provider)),
            key_name=str(_need(settings, "tsig_key_name", provider)), key_secret=_secret(provider, secret),
            algorithm=str(settings.get("tsig_algorithm") or "hmac-sha256"), port=int(settings.get("port") or 53),
        ))
    if provider == "cloudflare":
        from dnsrecords.providers.cloudflare import DEFAULT_API, CloudflareProvider, CloudflareSettings

        return CloudflareProvider(CloudflareSettings(
            zone=str(_need(settings, "zone", provider)), token=_secret(provider, secret),
            zone_id=settings.get("cloudflare_zone_id") or None,
            api_url=str(settings.get("cloudflare_api_url") or DEFAULT_API),
        ))
    if provider == "manual":
        from dnsrecords.providers.manual import ManualProvider

        return ManualProvider(str(_need(settings, "zone", provider)))
    raise ConfigError("dns.provider", f"{provider!r} is not one of {', '.join(PROVIDERS)}")
