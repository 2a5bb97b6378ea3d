"""Hardening content: sshd drop-in, fail2ban, firewall policy, tenant user, unattended upgrades."""

from __future__ import annotations

import configparser

import pytest

from hostops.firewall import parse_ufw_status, ufw_apply_commands
from mailu import hardening
from mailu.hardening import HardeningConfig
from toolkit.errors import ValidationError

PUB = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBvXq2fFtAj7bLD0kK5Wc6yq9T0y0vCdjM0eA7p7s3Vb tenant"


def _ini(text: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(text)
    return parser


def test_sshd_dropin_disables_passwords_and_allows_root_by_key_only() -> None:
    lines = dict(line.split(" ", 1) for line in hardening.sshd_dropin().splitlines() if not line.startswith("#"))
    assert lines["PermitRootLogin"] == "prohibit-password"
    assert lines["PasswordAuthentication"] == "no"
    assert lines["KbdInteractiveAuthentication"] == "no"
    assert lines["PermitEmptyPasswords"] == "no"
    assert hardening.SSHD_DROPIN.rsplit("/", 1)[1].startswith("00-")


def test_fail2ban_jail_numbers() -> None:
    jail = _ini(hardening.fail2ban_jail(HardeningConfig(tenant_id="acme1234corp")))
    assert jail["DEFAULT"]["maxretry"] == "5"
    assert jail["DEFAULT"]["bantime"] == "3600"
    assert jail["sshd"]["enabled"] == "true"
    assert jail["recidive"]["bantime"] == "86400"
    assert jail["recidive"]["findtime"] == "86400"
    assert jail["pm-mailu-auth"]["filter"] == "pm-mailu-auth"
    assert jail["pm-mailu-auth"]["action"].startswith("pm-docker-user[")


def test_fail2ban_filter_and_action_parse() -> None:
    definition = _ini(hardening.fail2ban_filter())["Definition"]
    assert "<HOST>" in definition["failregex"]
    assert "CONTAINER_TAG=mailu-front" in definition["journalmatch"]
    action = _ini(hardening.fail2ban_docker_action())
    assert "DOCKER-USER" in action["Definition"]["actionstart"]
    assert action["Init"]["port"] == "25,80,443,465,587,993"


def test_firewall_allows_ssh_and_mail_ports_only() -> None:
    config = HardeningConfig(tenant_id="acme1234corp")
    assert config.allowed_tcp_ports == (22, 25, 80, 443, 465, 587, 993)
    commands = ufw_apply_commands(config.allowed_tcp_ports, extra_allowed=("8080/tcp",))
    assert commands[0] == ["ufw", "default", "deny", "incoming"]
    assert ["ufw", "allow", "993/tcp"] in commands
    assert ["ufw", "delete", "allow", "8080/tcp"] in commands
    assert commands[-1] == ["ufw", "--force", "enable"]
    assert "allow 22/tcp 25/tcp 80/tcp 443/tcp 465/tcp 587/tcp 993/tcp" in hardening.firewall_policy(config)


def test_parse_ufw_status_real_format() -> None:
    text = (
        "Status: active\n\nTo                         Action      From\n--                         ------      ----\n"
        "22/tcp                     ALLOW       Anywhere\n25/tcp                     ALLOW IN    Anywhere\n"
        "22/tcp (v6)                ALLOW       Anywhere (v6)\n"
    )
    assert parse_ufw_status(text) == (True, {"22/tcp", "25/tcp"})
    assert parse_ufw_status("Status: inactive\n") == (False, set())


def test_tenant_user_and_keys() -> None:
    config = HardeningConfig(tenant_id="acme1234corp", tenant_public_keys=(PUB,))
    assert config.tenant_user == "tenant-acme1234"
    keys = hardening.tenant_authorized_keys(config)
    assert keys.path == "/home/tenant-acme1234/.ssh/authorized_keys"
    assert (keys.mode, keys.owner, keys.group) == (0o600, "tenant-acme1234", "tenant-acme1234")
    assert keys.content.decode() == PUB + "\n"


def test_unattended_upgrades_enabled() -> None:
    text = hardening.auto_upgrades()
    assert 'APT::Periodic::Unattended-Upgrade "1";' in text
    assert 'APT::Periodic::Update-Package-Lists "1";' in text


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"tenant_id": "Bad/Id"}, "hardening.tenant_id"),
        ({"tenant_id": "acme", "tenant_public_keys": ("not a key",)}, "hardening.tenant_public_keys"),
        ({"tenant_id": "acme", "ssh_port": 0}, "hardening.ssh_port"),
        ({"tenant_id": "acme", "max_retry": 0}, "hardening.max_retry"),
    ],
)
def test_invalid_hardening_config(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        HardeningConfig(**kwargs)  # type: ignore[arg-type]
    assert info.value.field == field
