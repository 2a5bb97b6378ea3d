"""MailuConfig's state form and digest are pinned: every deployed tenant's Mailu install holds them in its Pulumi
state, so a change of either for the same values would show every install as changed (and re-run it)."""

from __future__ import annotations

from mailu.config import MailuConfig

FULL = {
    "domain": "xn--bcher-kva.example", "hostnames": ["mail.xn--bcher-kva.example", "mx2.xn--bcher-kva.example"],
    "postmaster": "postmaster", "admin_localpart": "ops.team", "tls_flavor": "mail-letsencrypt",
    "dkim_selector": "pm20261129", "subnet": "10.77.0.0/24", "message_size_limit": 80_000_000, "webmail": "none",
    "antivirus": True, "admin_ui": False, "bind_address": "203.0.113.7", "mta_sts_mode": "enforce",
    "site_name": "Acme Mail", "timezone": "Europe/Berlin", "version": "2024.06.57",
    "extra_env": [["LOG_LEVEL", "INFO"], ["REJECT_UNLISTED_RECIPIENT", "yes"]],
}


def _full() -> MailuConfig:
    return MailuConfig(
        domain="Xn--Bcher-Kva.Example.", hostnames=("mail.xn--bcher-kva.example", "mx2.xn--bcher-kva.example"),
        postmaster="postmaster", admin_localpart="ops.team", tls_flavor="mail-letsencrypt",
        dkim_selector="pm20261129", subnet="10.77.0.0/24", message_size_limit=80_000_000, webmail="none",
        antivirus=True, admin_ui=False, bind_address="203.0.113.7", mta_sts_mode="enforce", site_name="Acme Mail",
        timezone="Europe/Berlin", version="2024.06.57",
        extra_env=(("LOG_LEVEL", "INFO"), ("REJECT_UNLISTED_RECIPIENT", "yes")),
    )


def test_the_state_form_of_every_setting_is_pinned() -> None:
    data = _full().as_dict()
    assert data == FULL
    assert list(data) == list(FULL)  # same keys, same order
    assert {key: type(value) for key, value in data.items()} == {key: type(value) for key, value in FULL.items()}


def test_the_digest_of_a_fixed_config_is_pinned() -> None:
    assert MailuConfig(domain="acme.example").digest() == (
        "194e1f135ad89ae18071bec2ef8f13dacefeff4129c86a4a615af1955f111535")
    assert _full().digest() == "ec2338e50a1e2de919c61eb445cd24f8f1701fe246c065e4e26e8849d1f65274"


def test_the_state_form_reads_back_to_the_same_config_and_digest() -> None:
    back = MailuConfig.from_dict(FULL)
    assert back == _full() and back.digest() == _full().digest()
    older = MailuConfig.from_dict({**FULL, "bind_address": "0.0.0.0"})  # an older state's default
    assert older.bind_address == ""
