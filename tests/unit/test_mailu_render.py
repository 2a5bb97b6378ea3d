"""Rendering of docker-compose.yml and mailu.env: deterministic, valid, structured like Mailu's setup output."""

from __future__ import annotations

import ipaddress
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from mailu.config import MailuConfig
from mailu.render import PUBLISHED_PORTS, RenderedFiles, parse_env, render, render_compose, render_env
from toolkit.errors import ValidationError
from toolkit.redact import Secret

KEY = Secret("S3CRETKEY0123456789ABCDEF")
SERVICE_KEYS = {
    "image", "restart", "env_file", "logging", "ports", "networks", "volumes", "depends_on", "dns", "hostname",
    "healthcheck",
}


def _config(**overrides: object) -> MailuConfig:
    values: dict[str, object] = {"domain": "acme.example", "dkim_selector": "pm20261124",
                                 "bind_address": "203.0.113.7"}
    values.update(overrides)
    return MailuConfig(**values)  # type: ignore[arg-type]


def _compose_structure_problems(document: dict[str, object]) -> list[str]:
    """Essentials of the compose specification that a typo would break (what `docker compose config` checks)."""
    problems: list[str] = []
    allowed_top = {"name", "services", "networks", "volumes", "configs", "secrets"}
    problems += [f"unknown top-level key {k}" for k in document if k not in allowed_top]
    services = document.get("services")
    networks = document.get("networks") or {}
    if not isinstance(services, dict) or not services:
        return [*problems, "services must be a non-empty mapping"]
    assert isinstance(networks, dict)
    for name, spec in services.items():
        if not re.fullmatch(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*", name):
            problems.append(f"bad service name {name}")
        if not isinstance(spec, dict) or "image" not in spec:
            problems.append(f"{name}: needs an image")
            continue
        problems += [f"{name}: unknown key {k}" for k in spec if k not in SERVICE_KEYS]
        for dep in spec.get("depends_on", []):
            if dep not in services:
                problems.append(f"{name}: depends on unknown service {dep}")
        nets = spec.get("networks", [])
        for net in nets if isinstance(nets, list) else list(nets):
            if net not in networks and net != "default":
                problems.append(f"{name}: unknown network {net}")
        for port in spec.get("ports", []):
            if not re.fullmatch(r"(\d{1,3}(\.\d{1,3}){3}:)?\d+:\d+", str(port)):
                problems.append(f"{name}: bad port {port}")
        for volume in spec.get("volumes", []):
            parts = str(volume).split(":")
            if len(parts) not in (2, 3) or not parts[0].startswith("/") or not parts[1].startswith("/"):
                problems.append(f"{name}: bad volume {volume}")
        if spec.get("restart") not in (None, "always", "unless-stopped", "on-failure", "no"):
            problems.append(f"{name}: bad restart policy")
    return problems


def test_rendering_is_deterministic() -> None:
    assert render(_config(), KEY) == render(_config(), KEY)
    assert render_compose(_config()) == render_compose(_config())


def test_compose_has_mailu_services_with_pinned_images() -> None:
    document = yaml.safe_load(render_compose(_config(antivirus=True)))
    assert list(document["services"]) == [
        "redis", "front", "resolver", "admin", "imap", "smtp", "antispam", "antivirus", "webmail",
    ]
    images = {name: spec["image"] for name, spec in document["services"].items()}
    assert images["front"] == "ghcr.io/mailu/nginx:2024.06.57"
    assert images["admin"] == "ghcr.io/mailu/admin:2024.06.57"
    assert images["antispam"] == "ghcr.io/mailu/rspamd:2024.06.57"
    assert images["imap"] == "ghcr.io/mailu/dovecot:2024.06.57"
    assert images["smtp"] == "ghcr.io/mailu/postfix:2024.06.57"
    assert images["resolver"] == "ghcr.io/mailu/unbound:2024.06.57"
    assert images["webmail"] == "ghcr.io/mailu/webmail:2024.06.57"
    assert all("${" not in image for image in images.values())


def test_compose_structure_is_valid() -> None:
    for config in (_config(), _config(webmail="none"), _config(antivirus=True, admin_ui=False)):
        document = yaml.safe_load(render_compose(config))
        assert _compose_structure_problems(document) == []


def test_compose_details_match_the_config() -> None:
    config = _config(subnet="10.42.0.0/24", bind_address="203.0.113.7", webmail="none")
    document = yaml.safe_load(render_compose(config))
    front = document["services"]["front"]
    assert front["ports"] == [f"203.0.113.7:{p}:{p}" for p in PUBLISHED_PORTS]
    assert "webmail" not in document["services"] and "webmail" not in document["networks"]
    resolver_ip = document["services"]["resolver"]["networks"]["default"]["ipv4_address"]
    assert resolver_ip == "10.42.0.254"
    assert ipaddress.ip_address(resolver_ip) in ipaddress.ip_network("10.42.0.0/24")
    assert document["networks"]["default"]["ipam"]["config"] == [{"subnet": "10.42.0.0/24"}]
    assert "/mailu/dkim:/dkim" in document["services"]["admin"]["volumes"]
    for name, spec in document["services"].items():
        if name not in ("redis", "antivirus"):
            assert spec["env_file"] == "mailu.env"
            assert spec["logging"]["options"]["tag"] == f"mailu-{name}"


def test_only_firewalled_ports_are_published() -> None:
    assert sorted(PUBLISHED_PORTS) == [25, 80, 443, 465, 587, 993]
    text = render_compose(_config()).decode()
    for port in (110, 143, 995, 4190):
        assert f":{port}:{port}" not in text


def test_env_file_parses_and_holds_the_settings() -> None:
    config = _config(hostnames=("mail.acme.example", "smtp.acme.example"), tls_flavor="cert",
                     message_size_limit=30_000_000, extra_env=(("REJECT_SPF", "true"),))
    env = parse_env(render_env(config, KEY).decode())
    assert env["SECRET_KEY"] == KEY.reveal()
    assert env["DOMAIN"] == "acme.example"
    assert env["HOSTNAMES"] == "mail.acme.example,smtp.acme.example,mta-sts.acme.example"
    assert env["POSTMASTER"] == "admin"
    assert env["TLS_FLAVOR"] == "cert"
    assert env["SUBNET"] == "192.168.203.0/24"
    assert env["DKIM_SELECTOR"] == "pm20261124"
    assert env["MESSAGE_SIZE_LIMIT"] == "30000000"
    assert env["WEBROOT_REDIRECT"] == "/webmail"
    assert env["API"] == "false" and env["API_TOKEN"] == ""
    assert env["REJECT_SPF"] == "true"
    assert "INITIAL_ADMIN_PW" not in env


def test_env_sections_follow_mailu_setup_order() -> None:
    text = render_env(_config(), KEY).decode()
    keys = [line.split("=", 1)[0] for line in text.splitlines() if line and not line.startswith("#")]
    for earlier, later in (("SECRET_KEY", "DOMAIN"), ("TLS_FLAVOR", "ADMIN"), ("ADMIN", "MESSAGE_SIZE_LIMIT"),
                           ("MESSAGE_SIZE_LIMIT", "WEBROOT_REDIRECT"), ("WEBROOT_REDIRECT", "COMPOSE_PROJECT_NAME")):
        assert keys.index(earlier) < keys.index(later)


@pytest.mark.parametrize("bad", ["short", "has space in it 12345", "dollar$sign0123456789", "quote'0123456789ab"])
def test_secret_key_is_checked_without_echoing_it(bad: str) -> None:
    with pytest.raises(ValidationError) as info:
        render_env(_config(), Secret(bad))
    assert info.value.field == "mailu.secret_key"
    assert bad not in str(info.value)


def test_secrets_absent_from_reprs() -> None:
    files = render(_config(), KEY)
    assert KEY.reveal() not in repr(files)
    assert KEY.reveal() not in str(files)
    assert isinstance(files, RenderedFiles)


def test_parse_env_rejects_garbage() -> None:
    with pytest.raises(ValidationError, match="line 2"):
        parse_env("A=1\nnot a setting\n")
    assert parse_env("# comment\n\nA=1=2\nB=\n") == {"A": "1=2", "B": ""}


def _docker_compose_available() -> str | None:
    if shutil.which("docker") is None:
        return "no docker client on this machine"
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        return "the docker client has no compose plugin (`docker compose version` failed)"
    return None


def test_compose_file_accepted_by_docker_compose_config(tmp_path: Path) -> None:
    reason = _docker_compose_available()
    if reason:
        print(f"skipping docker compose validation: {reason}")
        pytest.skip(reason)
    (tmp_path / "docker-compose.yml").write_bytes(render_compose(_config(antivirus=True)))
    (tmp_path / "mailu.env").write_bytes(render_env(_config(antivirus=True), KEY))
    result = subprocess.run(["docker", "compose", "-f", str(tmp_path / "docker-compose.yml"), "config", "--quiet"],
                            capture_output=True, text=True, check=False, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
