"""Issue 13, item by item, on rendered output and pure plans (the host side is tests/integration/
test_mailu_real_vps.py): what Mailu 2024.06.57 reads and what our files say."""

from __future__ import annotations

import hashlib
import json

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from dnsrecords.recordset import MailDomainInputs, build_record_set, mta_sts_policy
from mailu import docker_apt, docker_host, restart
from mailu.admin_account import admin_import_yaml, marker_account
from mailu.config import MailuConfig
from mailu.hardening import HardeningConfig, fail2ban_docker_action
from mailu.mta_sts import parse_policy
from mailu.overrides import MTA_STS_CONF, MTA_STS_POLICY, front_override_files
from mailu.ports import MAIL_PORTS, MAILU_PORTS_ENV, PUBLISHED_PORTS, SRV_SERVICES
from mailu.render import parse_env, render_compose, render_env
from toolkit.errors import ValidationError
from toolkit.redact import Secret
from toolkit.tenant_config import TenantConfigError, parse_tenant_config

KEY = Secret("S3CRETKEY0123456789ABCDEF")
DKIM_PUBLIC = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key().public_bytes(
    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def _config(**overrides: object) -> MailuConfig:
    values: dict[str, object] = {"domain": "acme.example", "dkim_selector": "pm20261124",
                                 "bind_address": "203.0.113.7"}
    values.update(overrides)
    return MailuConfig(**values)  # type: ignore[arg-type]


def _env(**overrides: object) -> dict[str, str]:
    return parse_env(render_env(_config(**overrides), KEY).decode())


# 1. Docker from Docker's repository; unsupported images refused -------------------------------------------

def test_the_carried_docker_key_is_the_pinned_one() -> None:
    assert docker_apt.key_fingerprint(docker_apt.DOCKER_KEY) == docker_apt.DOCKER_KEY_FINGERPRINT
    assert hashlib.sha256(docker_apt.docker_key()).hexdigest() == (
        "1500c1f56fa9e26b9b8f42452a553675796ade0807cdce11975eb98170b3a570")  # download.docker.com/linux/*/gpg


def test_a_swapped_key_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    lines = docker_apt.DOCKER_KEY.splitlines()
    other = "\n".join([*lines[:2], lines[2][:-4] + "AAAA", *lines[3:]])  # one byte of the key material changed
    monkeypatch.setattr(docker_apt, "DOCKER_KEY", other)
    with pytest.raises(ValidationError, match="is not Docker's 9DC858229FC7DD38854AE2D88D81803C0EBFCD88"):
        docker_apt.docker_key()


def test_versions_are_pinned_per_release() -> None:
    noble = docker_apt.release("ubuntu", "24.04")
    assert noble is not None and noble.pinned_versions() == {
        "docker-ce": "5:27.3.1-1~ubuntu.24.04~noble", "docker-ce-cli": "5:27.3.1-1~ubuntu.24.04~noble",
        "containerd.io": "1.7.22-1", "docker-compose-plugin": "2.29.7-1~ubuntu.24.04~noble"}
    assert "signed-by=/etc/apt/keyrings/docker.asc] https://download.docker.com/linux/ubuntu noble stable" in (
        noble.apt_source("amd64"))
    assert docker_apt.release("debian", "11") is None and docker_apt.release("ubuntu", "20.04") is None


@pytest.mark.parametrize(("image", "name", "supported"), [
    ("ubuntu-22.04", "", True), ("0b6e4e6c-aaaa", "Ubuntu 24.04 LTS", True), ("debian-12", "", True),
    ("7c1f-uuid", "Debian 11", False), ("7c1f-uuid", "CentOS 7", False), ("windows-2022", "", False),
])
def test_image_support_is_judged_by_name(image: str, name: str, supported: bool) -> None:
    problem = docker_apt.image_problem(image, name)
    assert (problem is None) == supported
    if problem:
        assert "the Mailu installer supports Debian 12, Ubuntu 22.04, Ubuntu 24.04" in problem


def test_the_stack_config_refuses_an_unsupported_release_name() -> None:
    base = {"tenant_id": "acme", "domain": "acme.example.com", "dns": {"provider": "manual"}}
    with pytest.raises(TenantConfigError) as info:
        parse_tenant_config({**base, "image": "ubuntu-20.04"})
    assert info.value.problems[0][0] == "pm:image" and "is Ubuntu 20.04" in info.value.problems[0][1]
    assert parse_tenant_config({**base, "image": "debian-12"}).image == "debian-12"


def test_package_plan_removes_the_distribution_docker_and_installs_pinned_versions() -> None:
    facts = docker_host.parse_facts("os debian 12 bookworm\narch amd64\nroute local 203.0.113.7 dev lo\n"
                                    "pkg docker.io 20.10.24 ii \npkg docker-compose 1.29.2 ii \npkg ufw 0.36 ii \n")
    plan = docker_host.package_plan(facts, facts.release())
    assert plan.remove == ("docker.io", "docker-compose")
    assert "docker-ce=5:27.3.1-1~debian.12~bookworm" in plan.install and "ufw" not in plan.install
    held = "".join(f"pkg {n} {v} hi \n" for n, v in facts.release().pinned_versions().items())
    converged = docker_host.parse_facts("os debian 12 bookworm\n" + held + "".join(
        f"pkg {n} 1 ii \n" for n in (*docker_host.COMMON_PACKAGES, *docker_host.PREREQUISITES)))
    assert docker_host.package_plan(converged, converged.release()).empty


# 2. No open relay ------------------------------------------------------------------------------------------

def test_ports_are_published_on_the_public_address_only() -> None:
    front = yaml.safe_load(render_compose(_config()))["services"]["front"]
    assert front["ports"] == [f"203.0.113.7:{p}:{p}" for p in PUBLISHED_PORTS]
    with pytest.raises(ValidationError, match=r"0\.0\.0\.0 publishes on every address"):
        _config(bind_address="0.0.0.0")
    with pytest.raises(ValidationError, match="installer fills in"):
        render_compose(_config(bind_address=""))
    assert MailuConfig.from_dict({**_config().as_dict(), "bind_address": "0.0.0.0"}).bind_address == ""


def test_daemon_config_turns_the_userland_proxy_off() -> None:
    assert json.loads(docker_host.daemon_config()) == {"userland-proxy": False}


def test_exposure_problems_name_every_way_round_the_binding() -> None:
    def pub(url: str, port: int, service: str = "front") -> docker_host.Publisher:
        return docker_host.Publisher(service, url, port, port, "tcp")

    good = [pub("203.0.113.7", p) for p in PUBLISHED_PORTS] + [pub("127.0.0.1", 8080, "admin")]
    assert docker_host.exposure_problems(good, docker_host.daemon_config(), "", "203.0.113.7") == []
    bad = [pub("0.0.0.0", 25), pub("198.51.100.9", 587), *good[2:]]
    problems = docker_host.exposure_problems(bad, b'{"userland-proxy": true}', "4242\n", "203.0.113.7")
    text = "; ".join(problems)
    assert 'does not set "userland-proxy": false' in text and "docker-proxy runs (pid 4242)" in text
    assert "front publishes 25/tcp on every address" in text and "on 198.51.100.9, not on 203.0.113.7" in text
    assert "front does not publish 80, 443 on 203.0.113.7" in text


# 3. Port 587: one source -----------------------------------------------------------------------------------

def test_ports_env_firewall_fail2ban_and_srv_agree() -> None:
    assert 587 in MAIL_PORTS and MAILU_PORTS_ENV == "25,80,443,465,587,993"
    assert _env()["PORTS"] == MAILU_PORTS_ENV
    assert set(HardeningConfig(tenant_id="acme1234corp").allowed_tcp_ports) == {22, *PUBLISHED_PORTS}
    assert f"port = {','.join(map(str, MAIL_PORTS))}" in fail2ban_docker_action()
    records = build_record_set(MailDomainInputs(domain="acme.example", mail_ip="203.0.113.7",
                                                dkim_selector="pm20261124", dkim_public_key=DKIM_PUBLIC))
    srv = {r.name: r.values[0] for r in records if r.type == "SRV"}
    assert srv == {f"_{service}._tcp.acme.example": f"0 1 {port} mail.acme.example" for service, port in SRV_SERVICES}
    assert all(port in PUBLISHED_PORTS for _, port in SRV_SERVICES)


# 4 and 5. Values Mailu reads differently from how they look --------------------------------------------------

def test_full_text_search_attachments_is_empty_and_dmarc_addresses_are_local_parts() -> None:
    env = _env(postmaster="postmaster")
    assert env["FULL_TEXT_SEARCH_ATTACHMENTS"] == ""
    assert env["DMARC_RUA"] == env["DMARC_RUF"] == "postmaster"
    assert "@" not in env["DMARC_RUA"]


# 6. MTA-STS: served, on a certificate, same policy as DNS ---------------------------------------------------

def test_mta_sts_host_is_in_hostnames_and_front_serves_the_dns_policy() -> None:
    config = _config()
    assert _env()["HOSTNAMES"].split(",") == ["mail.acme.example", "mta-sts.acme.example"]
    files = {f.path: f.content.decode() for f in front_override_files(config)}
    assert "location = /.well-known/mta-sts.txt" in files[MTA_STS_CONF]
    assert "alias /overrides/mta-sts.txt;" in files[MTA_STS_CONF]
    assert files[MTA_STS_POLICY] == mta_sts_policy("acme.example", "testing")
    policy = parse_policy(files[MTA_STS_POLICY])
    assert policy.mode == "testing" and policy.covers("mail.acme.example") and policy.max_age == 604_800
    off = _config(mta_sts_mode="none")
    assert front_override_files(off) == [] and "mta-sts" not in render_env(off, KEY).decode()


@pytest.mark.parametrize(("text", "problem"), [
    ("version: STSv1\nmode: enforce\nmax_age: 10\n", "names no mx"),
    ("version: STSv2\nmode: testing\nmx: a.example\nmax_age: 1\n", "not STSv1"),
    ("version: STSv1\nmode: strict\nmx: a.example\nmax_age: 1\n", "mode 'strict'"),
])
def test_policy_parser_refuses_what_a_sender_would(text: str, problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        parse_policy(text)


# 7. Readers, IDN DKIM file name, postmaster ------------------------------------------------------------------

@pytest.mark.parametrize(("key", "reader"), [
    ("RELAYNETS", "antispam"), ("FULL_TEXT_SEARCH", "webmail"), ("ADMIN", "webmail"),
    ("RECIPIENT_DELIMITER", "front"), ("WEB_WEBMAIL", "admin"), ("PORTS", "front"), ("PORTS", "admin"),
])
def test_selective_restart_includes_every_reader(key: str, reader: str) -> None:
    services = ("front", "resolver", "admin", "imap", "smtp", "antispam", "webmail")
    assert reader in restart.env_services(services, {key: "a"}, {key: "b"})


def test_idn_dkim_file_uses_the_unicode_name_mailu_looks_for() -> None:
    assert _config(domain="xn--bcher-kva.example").dkim_key_path == "/mailu/dkim/bücher.example.pm20261124.key"
    assert _config().dkim_key_path == "/mailu/dkim/acme.example.pm20261124.key"


def test_postmaster_gets_an_alias_unless_it_is_the_admin_mailbox() -> None:
    same = yaml.safe_load(admin_import_yaml(_config(), Secret("pw")))
    assert "alias" not in same
    other = _config(postmaster="postmaster")
    document = yaml.safe_load(admin_import_yaml(other, Secret("pw")))
    assert document["alias"] == [{"email": "postmaster@acme.example", "destination": ["admin@acme.example"]}]
    assert marker_account(other) != marker_account(_config())  # a new alias re-runs the import once
