"""Settings of the Hostwinds client: endpoint, key, timeouts, limits, retry and polling policies.

Every value the product fixes (2 requests/s, 3 tries doubling from 1 s capped at 30 s, breaker after 5 failures
for 60 s, polling every 30 s up to 30 min) is a default here, overridable for tests and the sandbox.

Account-level settings (the same for every tenant of one Hostwinds account) come from the environment, like the key:
``PM_HOSTWINDS_BILLING_CYCLE`` (hourly billing may be disabled on an account), and the parts of the API contract no
public source shows, named as guesses: ``PM_HOSTWINDS_SSH_KEY_FIELD`` (the public-key field of ``add_ssh_key``)
and ``PM_HOSTWINDS_SSH_KEY_LIST_ACTION`` (a listing action for SSH keys, if the account has one).
``invoke hostwinds.probe`` shows what a live account answers (hostwinds/CONTRACT.md).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import ConfigDict, Field, field_validator

from hostwinds.endpoint import DEFAULT_URL as DEFAULT_URL  # re-exported: callers import it from here
from hostwinds.endpoint import check_api_url
from toolkit.errors import ConfigError
from toolkit.models import SettingsModel, problem_of
from toolkit.redact import REDACTOR, Secret

ENV_API_KEY = "HOSTWINDS_API_KEY"
ENV_API_URL = "HOSTWINDS_API_URL"
ENV_SETTINGS = {
    "billing_cycle": "PM_HOSTWINDS_BILLING_CYCLE",
    "ssh_key_field": "PM_HOSTWINDS_SSH_KEY_FIELD",
    "ssh_key_list_action": "PM_HOSTWINDS_SSH_KEY_LIST_ACTION",
}
"""Account-level settings read from the environment by ``from_env`` (an explicit override wins)."""
BILLING_CYCLES = ("hourly", "monthly", "quarterly", "semiannually", "annually", "biennially", "triennially")
_FORM_FIELD = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_RESERVED_FIELDS = frozenset({"action", "api", "name"})


class RetryPolicy(SettingsModel):
    field_prefix: ClassVar[str] = "retry"

    attempts: int = 3
    base_delay: float = 1.0
    max_delay: float = 30.0

    @field_validator("attempts")
    @classmethod
    def _attempts(cls, value: int) -> int:
        if value < 1:
            raise ValueError(f"must be at least 1, got {value}")
        return value

    @field_validator("base_delay", "max_delay")
    @classmethod
    def _delay(cls, value: float) -> float:
        if value < 0:
            raise ValueError("delays must not be negative")
        return value

    def delay_before(self, attempt: int) -> float:
        """Seconds to wait before try number ``attempt`` (2, 3, ...): base, 2*base, 4*base, ... capped."""
        return float(min(self.max_delay, self.base_delay * 2 ** (attempt - 2)))


class PollSettings(SettingsModel):
    field_prefix: ClassVar[str] = "poll"

    interval: float = 30.0
    timeout: float = 1800.0

    @field_validator("interval")
    @classmethod
    def _interval(cls, value: float) -> float:
        if value < 0:
            raise ValueError(f"must not be negative, got {value}")
        return value

    @field_validator("timeout")
    @classmethod
    def _timeout(cls, value: float) -> float:
        return _positive(value)


def _positive(value: float) -> float:
    if value <= 0:
        raise ValueError(f"must be positive, got {value}")
    return value


class ClientSettings(SettingsModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)
    field_names: ClassVar[Mapping[str, str]] = ENV_SETTINGS

    api_key: Secret
    url: str = DEFAULT_URL
    http_timeout: float = 30.0
    rate_per_second: float = 2.0
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    breaker_threshold: int = 5
    breaker_reset_after: float = 60.0
    poll: PollSettings = Field(default_factory=PollSettings)
    # [guess] in the API contract: the form field carrying the public key in add_ssh_key (no public source shows it).
    ssh_key_field: str = "key"
    # [guess] a read action listing the account's SSH keys ("" = none known: a taken name is then replaced).
    ssh_key_list_action: str = ""
    # The billing cycle of new instances; "Hourly products are disabled!" on some accounts [doc].
    billing_cycle: str = "hourly"
    # After a create call failed transiently, how long to look for the instance by label before re-sending.
    lost_create_grace: float = 60.0
    # How long a firewall profile may take to show on the instance before it counts as missing (not poll.timeout).
    firewall_wait: float = 120.0

    @field_validator("api_key", mode="before")
    @classmethod
    def _key(cls, value: object) -> Secret:
        if not isinstance(value, Secret) or not value.reveal().strip():
            raise ValueError("must be a non-empty Secret (set HOSTWINDS_API_KEY)")
        REDACTOR.register(value)
        return value

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return problem_of(lambda v: check_api_url(v, "url"), value)  # before anything can send the key there

    @field_validator("rate_per_second", "http_timeout", "firewall_wait")
    @classmethod
    def _positive(cls, value: float) -> float:
        return _positive(value)

    @field_validator("breaker_threshold")
    @classmethod
    def _threshold(cls, value: int) -> int:
        if value < 1:
            raise ValueError(f"must be at least 1, got {value}")
        return value

    @field_validator("billing_cycle")
    @classmethod
    def _cycle(cls, value: str) -> str:
        if value not in BILLING_CYCLES:
            raise ValueError(f"{value!r} must be one of {', '.join(BILLING_CYCLES)}")
        return value

    @field_validator("ssh_key_field")
    @classmethod
    def _key_field(cls, value: str) -> str:
        if not _FORM_FIELD.match(value) or value in _RESERVED_FIELDS:
            raise ValueError(f"{value!r} must be a lower-case form field name other than action, API and name")
        return value

    @field_validator("ssh_key_list_action")
    @classmethod
    def _list_action(cls, value: str) -> str:
        if value and not _FORM_FIELD.match(value):
            raise ValueError(f"{value!r} must be a snake_case action name (or empty)")
        return value

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *, api_url: str | None = None,
                 **overrides: Any) -> ClientSettings:
        """The one way to build settings from the environment (``env``, default the process's).

        The key comes from HOSTWINDS_API_KEY only (never from config or state). The URL is ``api_url`` (a
        tenant's ``hostwinds.api_url`` or a provider input), else HOSTWINDS_API_URL, else the contract's; it is
        checked, and a refusal named after where it came from, before anything can send the key there.
        ``overrides`` are the other settings (timeouts, rate, retry, polling); the account-level settings of
        ``ENV_SETTINGS`` come from ``env`` unless overridden."""
        source = os.environ if env is None else env
        for name, variable in ENV_SETTINGS.items():
            if name not in overrides and source.get(variable, "").strip():
                overrides[name] = source[variable].strip()
        key = source.get(ENV_API_KEY, "")
        if not key.strip():
            raise ConfigError(ENV_API_KEY, "is not set: export the Hostwinds API key (it is read from the environment "
                                           "only, so it never lands in config or state)")
        if api_url:
            url = check_api_url(api_url, "api_url")
        elif source.get(ENV_API_URL):
            url = check_api_url(source[ENV_API_URL], ENV_API_URL)
        else:
            url = DEFAULT_URL
        return cls(api_key=Secret(key), url=url, **overrides)
