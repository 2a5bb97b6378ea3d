"""Simulator settings: every delay and every [guess] of the API contract is a knob, not a fact."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from toolkit.errors import ConfigError

DEFAULT_LOCATIONS: tuple[dict[str, Any], ...] = (
    {"id": 1, "name": "Seattle, WA"},
    {"id": 2, "name": "Dallas, TX"},
    {"id": 3, "name": "Amsterdam, NL"},
)
DEFAULT_PLANS: dict[str, dict[str, Any]] = {
    "1001": {"name": "Unmetered SSD 1 GB", "cpu": "1", "ram": "1 GB", "disk": "30 GB"},
    "1002": {"name": "Unmetered SSD 2 GB", "cpu": "1", "ram": "2 GB", "disk": "50 GB"},
    "1003": {"name": "Unmetered SSD 4 GB", "cpu": "2", "ram": "4 GB", "disk": "75 GB"},
    "1004": {"name": "Unmetered SSD 8 GB", "cpu": "4", "ram": "8 GB", "disk": "150 GB"},
}
DEFAULT_IMAGES: tuple[str, ...] = ("ubuntu-22.04", "ubuntu-24.04", "debian-12")


@dataclass
class SimSettings:
    # Seconds each asynchronous change takes (0 = done before the reply is sent).
    build_delay: float = 0.0
    action_delay: float = 0.0
    terminate_delay: float = 0.0
    # [guess] contract details.
    create_reply_includes_serviceid: bool = False
    auth_error_wrapped_in_list: bool = False
    reject_json_bodies: bool = True
    ssh_key_field: str = "key"
    hostname_template: str = "hwsrv-{serviceid}.hostwindsdns.com"
    first_serviceid: int = 100001
    firewall_profiles: tuple[str, ...] | None = None  # None: any non-empty name is accepted
    default_firewall_profile: str = "default"
    locations: tuple[dict[str, Any], ...] = DEFAULT_LOCATIONS
    plans: dict[str, dict[str, Any]] = field(default_factory=lambda: dict(DEFAULT_PLANS))
    images: tuple[str, ...] | None = DEFAULT_IMAGES  # None: any template accepted
    # Server-side rate limit: requests per second over all clients (0 = none); reply style "http429" | "body".
    rate_limit_per_second: float = 0.0
    rate_limit_reply: str = "http429"
    # Each ACTIVE instance is a real SSH host (sandbox.vps_host); False for API-only tests.
    vps_hosts: bool = True
    vps_port: int = 22
    tick_interval: float = 0.1

    def update(self, changes: dict[str, Any]) -> None:
        """Apply changes (e.g. from the admin endpoint); unknown names are refused by name."""
        names = {f.name for f in dataclasses.fields(self)}
        for key, value in changes.items():
            if key not in names:
                raise ConfigError(f"settings.{key}", f"unknown simulator setting; known: {sorted(names)}")
            current = getattr(self, key)
            if isinstance(current, tuple) and isinstance(value, list):
                value = tuple(value)
            setattr(self, key, value)
        if self.rate_limit_reply not in ("http429", "body"):
            raise ConfigError("settings.rate_limit_reply", "must be 'http429' or 'body'")
