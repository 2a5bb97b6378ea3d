"""Settings of the Hostwinds client: endpoint, key, timeouts, limits, retry and polling policies.

Every value the product fixes (2 requests/s, 3 tries doubling from 1 s capped at 30 s, breaker after 5 failures
for 60 s, polling every 30 s up to 30 min) is a default here, overridable for tests and the sandbox.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hostwinds.endpoint import DEFAULT_URL as DEFAULT_URL  # re-exported: callers import it from here
from hostwinds.endpoint import check_api_url
from toolkit.errors import ConfigError
from toolkit.redact import REDACTOR, Secret

ENV_API_KEY = "HOSTWINDS_API_KEY"
ENV_API_URL = "HOSTWINDS_API_URL"


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
    # [guess] in the API contract: the form field carrying the public key in add_ssh_key.
    ssh_key_field: str = "key"
    # After a create call failed transiently, how long to look for the instance by label before re-sending.
    lost_create_grace: float = 60.0

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
        REDACTOR.register(self.api_key)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *, api_url: str | None = None,
                 **overrides: Any) -> ClientSettings:
        """The one way to build settings from the environment (``env``, default the process's).

        The key comes from HOSTWINDS_API_KEY only (never from config or state). The URL is ``api_url`` (a
        tenant's ``hostwinds.api_url`` or a provider input), else HOSTWINDS_API_URL, else the contract's; it is
        checked, and a refusal named after where it came from, before anything can send the key there.
        ``overrides`` are the other settings (timeouts, rate, retry, polling)."""
        source = os.environ if env is None else env
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
