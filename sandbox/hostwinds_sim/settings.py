"""Simulator settings: every delay and every [guess] of the API contract is a knob, not a fact.

What the sources show is built in (spec hostwinds-api.md, hostwinds/CONTRACT.md): UUID templates listed by
``get_public_images``, small integer location and plan ids, ``get_price_list`` answering managed plans unless asked
``managed=0``, integer ``locked``/``power_state``, ``image`` as an object, the two-step upgrade, error entries with
a numeric ``ERROR``, callers from IPv6 refused. What no source shows is a setting listed in ``GUESSES``, so a test
can take either side and the first live probe (``invoke hostwinds.probe``) can settle it.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import ConfigDict, Field, ValidationInfo, field_validator

from toolkit.errors import ConfigError
from toolkit.models import SettingsModel

DEFAULT_LOCATIONS: tuple[dict[str, Any], ...] = (
    {"id": 1, "name": "Seattle, WA"},
    {"id": 2, "name": "Dallas, TX"},
    {"id": 3, "name": "Amsterdam, NL"},
)


def _plan(rid: int, name: str, cpu: int, ram_mb: int, disk: int, monthly: str) -> dict[str, Any]:
    """A price-list entry shaped like the OpenAPI file's (strings for sizes and prices, ``rid`` an integer)."""
    return {"id": rid, "rid": rid, "name": name, "cpu": str(cpu), "ram": str(ram_mb), "disk": str(disk),
            "bandwidth": "1000", "monthly": monthly, "quarterly": "", "annually": "", "mysort": rid}


# Unmanaged plans (managed=0). Ids are small integers like the 52 seen in a working call; names and sizes are made up.
DEFAULT_PLANS: dict[str, dict[str, Any]] = {
    "52": _plan(52, "Unmanaged Linux SSD 1", 1, 1024, 30, "4.99"),
    "53": _plan(53, "Unmanaged Linux SSD 2", 1, 2048, 50, "8.99"),
    "54": _plan(54, "Unmanaged Linux SSD 3", 2, 4096, 75, "16.99"),
    "55": _plan(55, "Unmanaged Linux SSD 4", 4, 8192, 150, "32.99"),
}
# What get_price_list answers by default (managed=1 [doc]): other plans, with other rids.
DEFAULT_MANAGED_PLANS: dict[str, dict[str, Any]] = {
    "36": _plan(36, "Managed Linux SSD 3", 2, 4096, 75, "29.99"),
    "37": _plan(37, "Managed Linux SSD 4", 4, 8192, 150, "49.99"),
}


def _image(uuid: str, name: str, category: str, version: str) -> dict[str, Any]:
    """A public image shaped like the OpenAPI file's ``Image`` (the uuid is what ``add_instance`` takes)."""
    return {"uuid": uuid, "name": name, "type": "linux", "category": category, "version": version, "min_disk": 10,
            "retired": 0, "category_name": category.title()}


DEFAULT_IMAGES: tuple[dict[str, Any], ...] = (
    _image("3b5a6c1e-0f2d-4c8b-9a71-2204a1b2c3d4", "Ubuntu 22.04 LTS", "ubuntu", "22.04"),
    _image("7d9e2f40-1a3b-4e5c-8d6f-2404a1b2c3d4", "Ubuntu 24.04 LTS", "ubuntu", "24.04"),
    _image("c1e4b7a2-5d3f-4a6b-9c8e-0012a1b2c3d4", "Debian 12", "debian", "12"),
    _image("9a0b1c2d-3e4f-4051-8627-1800a1b2c3d4", "Ubuntu 18.04 LTS", "ubuntu", "18.04") | {"retired": 1},
)
# Portal-made profiles are "<unique id> <chosen name>" (official portal guide).
DEFAULT_FIREWALL_PROFILES: tuple[str, ...] = ("3f9a1c2e default", "7b4d8e61 mail")

GUESSES: tuple[str, ...] = (
    "create_reply_includes_serviceid", "auth_error_wrapped_in_list", "ssh_key_field", "ssh_key_without_field",
    "ssh_key_list_action", "firewall_reply_shape", "firewall_unknown_reply", "firewall_set_by_chosen_name",
    "error_code_as_number", "empty_account_reply", "terminated_listed_as", "ips_without_address",
    "hostname_template",
)
"""Every setting that stands for something no public source shows (each documented below with its choices)."""
CHOICES: dict[str, tuple[str, ...]] = {
    "rate_limit_reply": ("http429", "body"), "ssh_key_without_field": ("refuse", "register_name_only"),
    "firewall_reply_shape": ("object", "map"), "firewall_unknown_reply": ("error", "noop"),
    "empty_account_reply": ("list", "object", "null", "error"),
}
"""The settings that take one of a few words, and those words."""


class SimSettings(SettingsModel):
    """Changed while the simulator runs (``update``, the admin endpoint), so not frozen; every change is checked."""

    model_config = ConfigDict(frozen=False)
    field_prefix: ClassVar[str] = "settings"

    # Seconds each asynchronous change takes (0 = done before the reply is sent).
    build_delay: float = 0.0
    action_delay: float = 0.0
    terminate_delay: float = 0.0

    # --- [guess] contract details no public source shows (GUESSES) ----------------------------------------------
    create_reply_includes_serviceid: bool = False
    auth_error_wrapped_in_list: bool = False
    # The public-key field of add_ssh_key; and what happens without it: "refuse" (error) or "register_name_only"
    # (public scripts send only `name`: the name is registered with no key, and instances get no key from it).
    ssh_key_field: str = "key"
    ssh_key_without_field: str = "refuse"
    # A read action listing SSH keys ("" = none, as far as any source shows).
    ssh_key_list_action: str = ""
    # get_instance_firewall_profile: one object [doc] or a map of id -> object [doc, OpenAPI file].
    firewall_reply_shape: str = "object"
    # set_instance_firewall with a name no profile has: "error" or "noop" (success, nothing happens).
    firewall_unknown_reply: str = "error"
    # Whether set_instance_firewall accepts the chosen name ("mail") of a profile named "<unique id> mail".
    firewall_set_by_chosen_name: bool = True
    # ERROR as a JSON number instead of a string of digits.
    error_code_as_number: bool = False
    # get_instances on an empty account: "list" ([]), "object" ({}), "null", or "error" ("No instances found.").
    empty_account_reply: str = "list"
    # A terminated instance: dropped from listings ("") or listed with this status (e.g. "TERMINATED").
    terminated_listed_as: str = ""
    # get_instance_ips also lists an entry without an address (e.g. an IPv6 slot with no IP).
    ips_without_address: bool = False
    hostname_template: str = "hwsrv-{serviceid}.hostwindsdns.com"

    # --- the account -----------------------------------------------------------------------------------------------
    reject_json_bodies: bool = True
    hourly_disabled: bool = False  # "Hourly products are disabled!" [doc]: an account property
    first_serviceid: int = 100001
    firewall_profiles: tuple[str, ...] | None = DEFAULT_FIREWALL_PROFILES  # None: any non-empty name is accepted
    default_firewall_profile: str = DEFAULT_FIREWALL_PROFILES[0]
    locations: tuple[dict[str, Any], ...] = DEFAULT_LOCATIONS
    plans: dict[str, dict[str, Any]] = Field(default_factory=lambda: dict(DEFAULT_PLANS))
    managed_plans: dict[str, dict[str, Any]] = Field(default_factory=lambda: dict(DEFAULT_MANAGED_PLANS))
    # Public images: objects with a "uuid" (a plain string is a uuid named after itself); None: any template.
    images: tuple[Any, ...] | None = DEFAULT_IMAGES
    # Server-side rate limit: requests per second over all clients (0 = none); reply style "http429" | "body".
    rate_limit_per_second: float = 0.0
    rate_limit_reply: str = "http429"
    # Each ACTIVE instance is a real SSH host (sandbox.vps_host); False for API-only tests.
    vps_hosts: bool = True
    vps_port: int = 22
    tick_interval: float = 0.1

    @field_validator(*CHOICES)
    @classmethod
    def _choice(cls, value: str, info: ValidationInfo) -> str:
        allowed = CHOICES[str(info.field_name)]
        if value not in allowed:
            raise ValueError(f"must be one of {', '.join(allowed)}")
        return value

    def update(self, changes: dict[str, Any]) -> None:
        """Apply changes (e.g. from the admin endpoint), all or none; unknown names are refused by name."""
        names = set(type(self).model_fields)
        for key in changes:
            if key not in names:
                raise ConfigError(f"settings.{key}", f"unknown simulator setting; known: {sorted(names)}")
        checked = SimSettings(**{**dict(self), **changes})
        for key in changes:  # in place: the server and its model share this object
            setattr(self, key, getattr(checked, key))

    def image_list(self) -> list[dict[str, Any]]:
        """The public images as objects (a plain string is a uuid named after itself)."""
        images = self.images if self.images is not None else DEFAULT_IMAGES
        return [dict(i) if isinstance(i, dict) else {"uuid": str(i), "name": str(i), "retired": 0} for i in images]

    def image(self, uuid: str) -> dict[str, Any] | None:
        """The image a template uuid names (retired ones included: existing instances keep theirs)."""
        return next((i for i in self.image_list() if i.get("uuid") == uuid), None)

    def plan(self, rid: str) -> dict[str, Any] | None:
        return self.plans.get(rid) or self.managed_plans.get(rid)
