"""toolkit.models: every settings model refuses with the toolkit's error naming the setting, never pydantic's."""

from __future__ import annotations

from typing import ClassVar

import pytest
from pydantic import ValidationError as PydanticValidationError
from pydantic import field_validator

from dnsrecords.providers.cloudflare import CloudflareSettings
from dnsrecords.providers.rfc2136 import Rfc2136Settings
from hostwinds.settings import ClientSettings, PollSettings, RetryPolicy
from mailu.config import MailuConfig
from sandbox.hostwinds_sim.settings import SimSettings
from toolkit.errors import ConfigError, ValidationError
from toolkit.models import SettingsModel
from toolkit.redact import Secret
from vault.config import VaultConfig

KEY = "k-" + "s" * 30


class _Sample(SettingsModel):
    field_prefix: ClassVar[str] = "sample"

    count: int = 1
    name: str = "a"

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if value != value.lower():
            raise ValueError(f"{value!r} must be lower case")
        return value


def test_each_problem_is_named_by_its_setting_and_several_are_joined() -> None:
    with pytest.raises(ConfigError) as one:
        _Sample(name="A")
    assert (one.value.field, one.value.problem) == ("sample.name", "'A' must be lower case")
    with pytest.raises(ConfigError) as several:
        _Sample(count="many", colour="red")  # type: ignore[arg-type, call-arg]
    assert several.value.field == "sample.count, sample.colour"
    assert "sample.colour: is not a known setting (typo?)" in several.value.problem
    assert not isinstance(several.value, PydanticValidationError)


def test_a_refused_secret_is_never_quoted() -> None:
    with pytest.raises(ConfigError) as refused:
        ClientSettings(api_key=KEY)  # type: ignore[arg-type]
    assert refused.value.field == "api_key" and KEY not in str(refused.value)


@pytest.mark.parametrize(("build", "field", "error"), [
    (lambda: RetryPolicy(attempts=0), "retry.attempts", ConfigError),
    (lambda: PollSettings(timeout=0), "poll.timeout", ConfigError),
    (lambda: ClientSettings(api_key=Secret(KEY), billing_cycle="weekly"), "PM_HOSTWINDS_BILLING_CYCLE", ConfigError),
    (lambda: VaultConfig(("https://v:8200",)), "vault.auth", ConfigError),
    (lambda: VaultConfig((), token=Secret(KEY)), "vault.addresses", ConfigError),
    (lambda: Rfc2136Settings(server="127.0.0.1", zone="z.example", key_name="k", key_secret=Secret(KEY),
                             algorithm="md5"), "tsig_algorithm", ConfigError),
    (lambda: CloudflareSettings(zone="z.example", token=Secret("")), "cloudflare_token", ConfigError),
    (lambda: CloudflareSettings(zone="z.example", token=Secret(KEY), retries=-1), "cloudflare retries", ConfigError),
    (lambda: SimSettings(empty_account_reply="nothing"), "settings.empty_account_reply", ConfigError),
    (lambda: MailuConfig(domain="acme.example", timezone="a\nb"), "mailu.timezone", ValidationError),
])
def test_every_settings_model_names_the_setting(build: object, field: str, error: type[ConfigError]) -> None:
    with pytest.raises(error) as refused:
        build()  # type: ignore[operator]
    assert refused.value.field == field


def test_replaced_checks_the_copy_and_keeps_the_original() -> None:
    config = VaultConfig(("https://v:8200",), token=Secret(KEY))
    assert config.replaced(timeout=2.0).timeout == 2.0 and config.timeout == 5.0
    with pytest.raises(ConfigError) as refused:
        config.replaced(token=None)
    assert refused.value.field == "vault.auth"


def test_a_simulator_update_is_all_or_nothing() -> None:
    settings = SimSettings(vps_hosts=False)
    with pytest.raises(ConfigError) as refused:
        settings.update({"build_delay": 5, "rate_limit_reply": "shout"})
    assert refused.value.field == "settings.rate_limit_reply" and settings.build_delay == 0.0
