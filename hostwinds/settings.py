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
from dataclasses import dataclass, field
from typing import Any

from hostwinds.endpoint import DEFAULT_URL as DEFAULT_URL  # re-exported: callers import it from here
from hostwinds.endpoint import check_api_url
from toolkit.errors import ConfigError
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


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 3
    base_delay: float = 1.0
    max_delay: float = 30.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ConfigError("retry.attempts", f"must be at least 1, got {self.attempts}")
        if self.base_delay < 0 or self.max_delay < 0:
            raise ConfigError("retry.base_delay", "delays must not be negative")

    def delay_before(self, attempt: int) -> float:
        """Seconds to wait before try number ``attempt`` (2, 3, ...): base, 2*base, 4*base, ... capped."""
        return float(min(self.max_delay, self.base_delay * 2 ** (attempt - 2)))


@dataclass(frozen=True)
class PollSettings:
    interval: float = 30.0
    timeout: float = 1800.0

    def __post_init__(self) -> None:
        if self.interval < 0:
            raise ConfigError("poll.interval", f"must not be negative, got {self.interval}")
        if self.timeout <= 0:
            raise ConfigError("poll.timeout", f"must be positive, got {self.timeout}")


@dataclass(frozen=True)
class ClientSettings:
    api_key: Secret
    url: str = DEFAULT_URL
    http_timeout: float = 30.0
    rate_per_second: float = 2.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    breaker_threshold: int = 5
    breaker_reset_after: float = 60.0
    poll: PollSettings = field(default_factory=PollSettings)
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

    def __post_init__(self) -> None:
        if not isinstance(self.api_key, Secret) or not self.api_key.reveal().strip():
            raise ConfigError("api_key", "must be a non-empty Secret (set HOSTWINDS_API_KEY)")
        check_api_url(self.url, "url")  # before anything can send the key there
        if self.rate_per_second <= 0:
            raise ConfigError("rate_per_second", f"must be positive, got {self.rate_per_second}")
        if self.http_timeout <= 0:
            raise ConfigError("http_timeout", f"must be positive, got {self.http_timeout}")
        if self.breaker_threshold < 1:
            raise ConfigError("breaker_threshold", f"must be at least 1, got {self.breaker_threshold}")
        if self.billing_cycle not in BILLING_CYCLES:
            raise ConfigError(ENV_SETTINGS["billing_cycle"], f"{self.billing_cycle!r} must be one of "
                                                             f"{', '.join(BILLING_CYCLES)}")
        if not _FORM_FIELD.match(self.ssh_key_field) or self.ssh_key_field in _RESERVED_FIELDS:
            raise ConfigError(ENV_SETTINGS["ssh_key_field"], f"{self.ssh_key_field!r} must be a lower-case form field "
                                                             "name other than action, API and name")
        if self.ssh_key_list_action and not _FORM_FIELD.match(self.ssh_key_list_action):
            raise ConfigError(ENV_SETTINGS["ssh_key_list_action"], f"{self.ssh_key_list_action!r} must be a "
                                                                   "snake_case action name (or empty)")
        if self.firewall_wait <= 0:
            raise ConfigError("firewall_wait", f"must be positive, got {self.firewall_wait}")
        REDACTOR.register(self.api_key)

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
