"""The Mailu installer for real over SSH against sandbox VPS hosts.

What is real: OpenSSH, the files written (content, mode, owner), users, the order and arguments of every call to
docker/apt-get/systemctl/ufw (recorded by the sandbox's stand-ins, which report success and healthy containers).
What is not: Mailu itself (no Docker engine or image registry here).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from components.mailu_install import MailuInstallProvider
from mailu.config import MailuConfig
from mailu.installer import ADMIN_MARKER, InstallReport, MailuInstaller
from mailu.render import parse_env
from mailu.secrets import SecretRefs, StaticSecrets
from tests.fixtures.mailu import KeyPair, make_dkim_pem, make_request, register_loader_secrets
from toolkit.redact import Secret
from toolkit.ssh import KnownHosts, SshExecutor

ExecutorFor = Callable[..., SshExecutor]
COMPOSE = ["compose", "--project-name", "mailu", "--file", "/mailu/docker-compose.yml"]


def _install(executor: SshExecutor, request: Any) -> InstallReport:
    return MailuInstaller(executor, health_interval=0.05).install(request)


def _calls_since(host: Any, start: int) -> list[dict[str, Any]]:
    return host.standin_calls()[start:]


def _compose_actions(calls: list[dict[str, Any]]) -> list[list[str]]:
    """docker compose calls other than ps/version, without the common prefix."""
    out = []
    for call in calls:
        args = call["args"]
        if call["tool"] == "docker" and args[: len(COMPOSE)] == COMPOSE and args[len(COMPOSE)] != "ps":
            out.append(args[len(COMPOSE):])
    return out


def _stat(executor: SshExecutor, path: str) -> tuple[int, str, str]:
    stat = executor.file_stats([path])[path]
    assert stat is not None, path
    return stat.mode, stat.owner, stat.group


def _secret_values(secrets: StaticSecrets) -> list[str]:
    pem_body = [line for line in secrets.dkim_private_key().reveal().splitlines() if "-----" not in line]
    return [secrets.mailu_secret_key().reveal(), secrets.admin_password().reveal(), *pem_body[:3]]


def test_first_install_writes_everything_and_second_run_changes_nothing(
    mailu_vps: Any, mailu_executor_for: ExecutorFor, mailu_secrets: StaticSecrets, mailu_tenant_key: KeyPair,
) -> None:
    executor = mailu_executor_for(mailu_vps)
    request = make_request(mailu_secrets, mailu_tenant_key)
    first = _install(executor, request)

    assert first.changed_steps == (
        "docker-daemon", "packages", "mailu-tree", "compose-file", "env-file", "front-overrides", "dkim-key",
        "mailu-up", "admin-account", "firewall", "fail2ban", "sshd", "tenant-user", "unattended-upgrades",
    )
    assert set(first.restarted) == set(request.config.services())

    # Files, modes, owners.
    assert _stat(executor, "/mailu") == (0o755, "root", "root")
    assert _stat(executor, "/mailu/dkim") == (0o700, "root", "root")
    assert _stat(executor, "/mailu/docker-compose.yml") == (0o644, "root", "root")
    assert _stat(executor, "/mailu/mailu.env") == (0o600, "root", "root")
    assert _stat(executor, "/mailu/dkim/acme.example.pm20261124.key") == (0o600, "root", "root")
    assert _stat(executor, ADMIN_MARKER) == (0o600, "root", "root")
    assert _stat(executor, "/etc/ssh/sshd_config.d/00-pm-hardening.conf") == (0o644, "root", "root")
    assert _stat(executor, "/home/tenant-acme1234/.ssh") == (0o700, "tenant-acme1234", "tenant-acme1234")
    assert _stat(executor, "/home/tenant-acme1234/.ssh/authorized_keys") == (
        0o600, "tenant-acme1234", "tenant-acme1234")
    assert mailu_vps.read_text("/home/tenant-acme1234/.ssh/authorized_keys") == mailu_tenant_key.public + "\n"
    assert mailu_vps.read_text("/mailu/dkim/acme.example.pm20261124.key") == mailu_secrets.dkim_private_key().reveal()
    env = parse_env(mailu_vps.read_text("/mailu/mailu.env"))
    assert env["SECRET_KEY"] == mailu_secrets.mailu_secret_key().reveal()
    assert env["DKIM_SELECTOR"] == "pm20261124"
    compose = yaml.safe_load(mailu_vps.read_text("/mailu/docker-compose.yml"))
    assert compose["services"]["admin"]["image"] == "ghcr.io/mailu/admin:2024.06.57"
    assert "PermitRootLogin prohibit-password" in mailu_vps.read_text("/etc/ssh/sshd_config.d/00-pm-hardening.conf")
    assert "tenant-acme1234:" in mailu_vps.read_text("/etc/passwd")

    # Order of the recorded host actions.
    calls = mailu_vps.standin_calls()
    actions = [(c["tool"], c["args"]) for c in calls if c["args"][:1] not in (["is-active"], ["is-enabled"])]
    up = actions.index(("docker", [*COMPOSE, "up", "-d", "--remove-orphans"]))
    exec_admin = next(i for i, (tool, args) in enumerate(actions) if tool == "docker" and "exec" in args)
    ufw_enable = actions.index(("ufw", ["--force", "enable"]))
    f2b_restart = actions.index(("systemctl", ["restart", "fail2ban"]))
    ssh_reload = actions.index(("systemctl", ["reload", "ssh"]))
    assert up < exec_admin < ufw_enable < f2b_restart < ssh_reload
    assert actions[exec_admin][1][len(COMPOSE):] == [
        "exec", "-T", "admin", "flask", "mailu", "config-import", "--update", "--quiet", "-"]
    assert actions.index(("ufw", ["default", "deny", "incoming"])) < ufw_enable
    for port in (22, 25, 80, 443, 465, 587, 993):
        assert ("ufw", ["allow", f"{port}/tcp"]) in actions

    # Secrets never on a recorded command line, nor in sshd's log.
    recorded = json.dumps(calls) + (mailu_vps.root_dir / "sshd.log").read_text(errors="replace")
    for value in _secret_values(mailu_secrets):
        assert value not in recorded
    assert mailu_secrets.admin_password().reveal() not in mailu_vps.read_text(ADMIN_MARKER)

    # Idempotence.
    mark = len(mailu_vps.standin_calls())
    second = _install(executor, request)
    assert second.change_count == 0, second.steps
    assert second.restarted == ()
    assert second.files_digest == first.files_digest
    later = _calls_since(mailu_vps, mark)
    assert _compose_actions(later) == []
    assert not [c for c in later if c["tool"] in ("apt-get", "ufw") and c["args"] != ["status"]]


def test_config_change_recreates_only_affected_services(
    mailu_vps: Any, mailu_executor_for: ExecutorFor, mailu_secrets: StaticSecrets, mailu_tenant_key: KeyPair,
) -> None:
    executor = mailu_executor_for(mailu_vps)
    request = make_request(mailu_secrets, mailu_tenant_key)
    _install(executor, request)

    bigger = dataclasses.replace(request, config=request.config.replaced(message_size_limit=80_000_000))
    mark = len(mailu_vps.standin_calls())
    report = _install(executor, bigger)
    assert report.changed_steps == ("env-file", "mailu-up")
    assert report.restarted == ("front", "smtp", "webmail")
    assert _compose_actions(_calls_since(mailu_vps, mark)) == [["up", "-d", "--no-deps", "front", "smtp", "webmail"]]
    assert parse_env(mailu_vps.read_text("/mailu/mailu.env"))["MESSAGE_SIZE_LIMIT"] == "80000000"

    antivirus = dataclasses.replace(bigger, config=bigger.config.replaced(antivirus=True))
    mark = len(mailu_vps.standin_calls())
    report = _install(executor, antivirus)
    assert report.changed_steps == ("mailu-tree", "compose-file", "env-file", "mailu-up")
    assert report.restarted == ("antispam", "antivirus")
    assert _compose_actions(_calls_since(mailu_vps, mark)) == [["up", "-d", "--no-deps", "antispam", "antivirus"]]
    assert _install(executor, antivirus).change_count == 0


def test_dkim_key_rotation_restarts_antispam_only(
    mailu_vps: Any, mailu_executor_for: ExecutorFor, mailu_secrets: StaticSecrets, mailu_tenant_key: KeyPair,
) -> None:
    executor = mailu_executor_for(mailu_vps)
    request = make_request(mailu_secrets, mailu_tenant_key)
    _install(executor, request)
    # Mailu's admin container chowns /dkim to its own user at start; the installer must follow, not fight it.
    executor.run("chown -R 1000:1000 /mailu/dkim")
    assert _install(executor, request).change_count == 0

    new_key = make_dkim_pem()
    rotated = dataclasses.replace(request, dkim_private_key=new_key)
    mark = len(mailu_vps.standin_calls())
    report = _install(executor, rotated)
    assert report.changed_steps == ("dkim-key", "mailu-up")
    assert report.restarted == ("antispam",)
    assert _compose_actions(_calls_since(mailu_vps, mark)) == [["restart", "antispam"]]
    stat = executor.file_stats(["/mailu/dkim/acme.example.pm20261124.key"])["/mailu/dkim/acme.example.pm20261124.key"]
    assert stat is not None and (stat.mode, stat.uid, stat.gid) == (0o600, 1000, 1000)
    assert mailu_vps.read_text("/mailu/dkim/acme.example.pm20261124.key") == new_key.reveal()
    recorded = json.dumps(mailu_vps.standin_calls())
    assert new_key.reveal().splitlines()[1] not in recorded


def test_new_selector_is_a_config_change(
    mailu_vps: Any, mailu_executor_for: ExecutorFor, mailu_secrets: StaticSecrets, mailu_tenant_key: KeyPair,
) -> None:
    executor = mailu_executor_for(mailu_vps)
    request = make_request(mailu_secrets, mailu_tenant_key)
    _install(executor, request)
    switched = dataclasses.replace(request, config=request.config.replaced(dkim_selector="pm20271124"),
                                   dkim_private_key=make_dkim_pem())
    report = _install(executor, switched)
    assert report.changed_steps == ("env-file", "dkim-key", "mailu-up")
    assert report.restarted == ("admin", "antispam")
    assert mailu_vps.path("/mailu/dkim/acme.example.pm20271124.key").exists()


def test_admin_password_rotation_and_drift_repair(
    mailu_vps: Any, mailu_executor_for: ExecutorFor, mailu_secrets: StaticSecrets, mailu_tenant_key: KeyPair,
) -> None:
    executor = mailu_executor_for(mailu_vps)
    request = make_request(mailu_secrets, mailu_tenant_key)
    _install(executor, request)

    rotated = dataclasses.replace(request, admin_password=Secret("rotated-password-0123456789abcdef"))
    mark = len(mailu_vps.standin_calls())
    report = _install(executor, rotated)
    assert report.changed_steps == ("admin-account",)
    assert len([a for a in _compose_actions(_calls_since(mailu_vps, mark)) if a[0] == "exec"]) == 1
    assert "rotated-password" not in json.dumps(mailu_vps.standin_calls())

    # Someone loosened the env file's mode: fixed without upload and without restarting anything.
    executor.run("chmod 644 /mailu/mailu.env")
    mark = len(mailu_vps.standin_calls())
    report = _install(executor, rotated)
    assert report.changed_steps == ("env-file",)
    assert report.restarted == ()
    assert _stat(executor, "/mailu/mailu.env") == (0o600, "root", "root")
    assert _compose_actions(_calls_since(mailu_vps, mark)) == []


def test_docker_comes_from_dockers_repository_pinned_and_held(
    mailu_vps_factory: Callable[..., Any], mailu_executor_for: Callable[..., SshExecutor], mailu_secrets: StaticSecrets,
    mailu_tenant_key: KeyPair,
) -> None:
    """Issue 13 item 1: on a Debian 12 host (the sandbox's), Debian's docker.io/docker-compose (v1) are removed and
    Docker Engine + the compose plugin come from Docker's apt repository, signed-by its pinned key, versions pinned
    and held; a re-run asks apt for nothing."""
    host = mailu_vps_factory("bare", with_unattended_upgrades=False)
    executor = mailu_executor_for(host)
    executor.run("apt-get install -y docker.io docker-compose")  # what the old installer left on Debian
    mark = len(host.standin_calls())
    report = _install(executor, make_request(mailu_secrets, mailu_tenant_key))
    assert report.steps[0].name == "host" and "Debian 12 (bookworm" in report.steps[0].detail
    apt = [c["args"] for c in _calls_since(host, mark) if c["tool"] in ("apt-get", "apt-mark")]
    suffix = "-1~debian.12~bookworm"
    assert apt == [
        ["remove", "-y", "-q", "docker.io", "docker-compose"],
        ["update", "-q"], ["install", "-y", "-q", "ca-certificates"],
        ["update", "-q"],
        ["install", "-y", "-q", "--allow-change-held-packages", "ufw", "fail2ban", "python3-systemd",
         "unattended-upgrades", f"docker-ce=5:27.3.1{suffix}", f"docker-ce-cli=5:27.3.1{suffix}",
         "containerd.io=1.7.22-1", f"docker-compose-plugin=2.29.7{suffix}"],
        ["hold", "docker-ce", "docker-ce-cli", "containerd.io", "docker-compose-plugin"],
    ]
    source = host.read_text("/etc/apt/sources.list.d/docker.list")
    assert "deb [arch=amd64 signed-by=/etc/apt/keyrings/docker.asc] https://download.docker.com/linux/debian " \
           "bookworm stable" in source
    shown = executor.run("gpg --show-keys --with-colons /etc/apt/keyrings/docker.asc").stdout  # real gpg on the host
    assert "fpr:::::::::9DC858229FC7DD38854AE2D88D81803C0EBFCD88:" in shown
    assert json.loads(host.read_text("/etc/docker/daemon.json")) == {"userland-proxy": False}

    mark = len(host.standin_calls())
    again = _install(executor, make_request(mailu_secrets, mailu_tenant_key))
    assert not again.steps[1].changed and not again.steps[2].changed
    assert not [c for c in _calls_since(host, mark) if c["tool"] in ("apt-get", "apt-mark")]


def test_pulumi_provider_runs_the_installer_and_outputs_no_secret(
    mailu_vps: Any, mailu_secrets: StaticSecrets, mailu_tenant_key: KeyPair,
) -> None:
    refs = SecretRefs(admin_ssh_path=f"vps/{mailu_vps.address}/admin_ssh", dkim_path="dkim/acme.example/pm20261124",
                      smtp_admin_path="smtp/acme1234corp/admin", mailu_secret_key_path="mailu/acme1234corp/secret_key")
    register_loader_secrets(refs, mailu_secrets)
    config = MailuConfig(domain="acme.example", dkim_selector="pm20261124")
    props = {
        "host": mailu_vps.address, "port": 22, "known_hosts": [mailu_vps.known_hosts_line()],
        "trust_on_first_use": False, "tenant_id": "acme1234corp", "tenant_public_keys": [mailu_tenant_key.public],
        "mailu_config": config.as_dict(), "config_digest": config.digest(), "secret_refs": refs.as_dict(),
        "secrets_loader": "tests.fixtures.mailu:static_secrets_loader", "health_timeout": 30.0,
    }
    provider = MailuInstallProvider()
    created = provider.create(props)
    assert created.id == f"acme.example@{mailu_vps.address}"
    outs = created.outs or {}
    assert "mailu-up" in outs["steps_changed"] and len(outs["files_digest"]) == 64
    dumped = json.dumps(outs)
    for value in _secret_values(mailu_secrets):
        assert value not in dumped
    updated = provider.update(created.id, outs, props).outs or {}
    assert updated["steps_changed"] == [] and updated["files_digest"] == outs["files_digest"]

    with pytest.raises(Exception, match="config_digest"):
        provider.create({**props, "config_digest": "0" * 64})


def test_tenant_user_logs_in_with_its_key_only(
    mailu_vps: Any, mailu_executor_for: ExecutorFor, mailu_secrets: StaticSecrets, mailu_tenant_key: KeyPair,
) -> None:
    _install(mailu_executor_for(mailu_vps), make_request(mailu_secrets, mailu_tenant_key))
    known = KnownHosts(lines=[mailu_vps.known_hosts_line()])
    with SshExecutor(mailu_vps.address, mailu_tenant_key.private, port=mailu_vps.port, user="tenant-acme1234",
                     known_hosts=known, boot_timeout=10.0) as tenant:
        assert tenant.run(["id", "-un"]).stdout.strip() == "tenant-acme1234"
    shadow = mailu_executor_for(mailu_vps).run(["getent", "shadow", "tenant-acme1234"]).stdout.split(":")
    assert shadow[1] == "*"  # no usable password: key login only
