"""DNS providers behind one interface (``base.DnsProvider``), chosen by name: rfc2136, cloudflare, manual."""

from __future__ import annotations

from dnsrecords.providers.base import Change, ChangeReport, DnsProvider
from dnsrecords.providers.registry import PROVIDERS, make_provider

__all__ = ["PROVIDERS", "Change", "ChangeReport", "DnsProvider", "make_provider"]
