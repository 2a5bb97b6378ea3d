"""Installer logic without a host: restart mapping, admin marker, compose ps parsing, package plan, secrets
protocol and the Pulumi wrapper's diff."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pytest
import yaml

from components.mailu_install import diff_inputs
from hostops.files import DesiredFile, files_digest
from mailu import restart
from mailu.config import MailuConfig
from mailu.errors import MailuInstallError
from mailu.hardening import HardeningConfig
from mailu.installer import (
    InstallRequest,
    MailuInstaller,
    admin_import_yaml,
    admin_marker,
    admin_marker_matches,
    mailu_dirs,
    parse_compose_ps,
)
from mailu.render import compose_document
from mailu.secrets import MailuSecrets, SecretRefs, StaticSecrets, resolve_loader
from tests import pem
from toolkit.errors import ConfigError
from toolkit.redact import Secret
from toolkit.ssh import CommandResult, FileStat

ALL_ENV = ("front", "resolver", "admin", "imap", "smtp", "antispam", "webmail")


class ScriptedExecutor:
    """A RemoteExecutor that answers from a script and records every command (no host)."""

    def __init__(self, answers: dict[str, str]) -> None:
        self.answers = answers
        self.commands: list[str] = []

    @property
    def host(self) -> str:
        return "scripted"

    def register_secret(self, *values: object) -> None:
        return None

    def run(self, command: str | Sequence[str], *, stdin: bytes | None = None, check: bool = True,
            timeout: float | None = None) -> CommandResult:
        text = command if isinstance(command, str) else " ".join(command)
        self.commands.append(text)
        out = next((answer for prefix, answer in self.answers.items() if prefix in text), "")
        return CommandResult(text, 0, out, "")

    def put_file(self, path: str, content: bytes, *, mode: int, owner: str = "root",
                 group: str | None = None) -> None:
        self.commands.append(f"put {path}")

    def read_file(self, path: str) -> bytes:
        raise AssertionError("not scripted")

    def read_file_if_exists(self, path: str) -> bytes | None:
        return None

    def file_stats(self, paths: Sequence[str]) -> dict[str, FileStat | None]:
        return dict.fromkeys(paths)


def test_env_change_restarts_only_readers() -> None:
    old = {"SECRET_KEY": "a", "MESSAGE_SIZE_LIMIT": "1", "DOMAIN": "x"}
    assert restart.env_services(ALL_ENV, old, {**old, "MESSAGE_SIZE_LIMIT": "2"}) == {"front", "smtp", "webmail"}
    assert restart.env_services(ALL_ENV, old, {**old, "SECRET_KEY": "b"}) == set(ALL_ENV)
    assert restart.env_services(ALL_ENV, old, {**old, "UNKNOWN_NEW": "1"}) == set(ALL_ENV)
    assert restart.env_services(ALL_ENV, old, old) == set()
    no_webmail = tuple(s for s in ALL_ENV if s != "webmail")
    assert restart.env_services(no_webmail, old, {**old, "MESSAGE_SIZE_LIMIT": "2"}) == {"front", "smtp"}


def test_dkim_key_change_restarts_antispam() -> None:
    assert restart.DKIM_KEY_SERVICES == ("antispam",)
    assert set(restart.ENV_KEY_SERVICES["DKIM_SELECTOR"]) == {"admin", "antispam"}


def test_compose_change_detection() -> None:
    base = compose_document(MailuConfig(domain="acme.example", bind_address="203.0.113.7"))
    same, removed = restart.compose_services(base, base)
    assert (same, removed) == (set(), False)
    av = compose_document(MailuConfig(domain="acme.example", bind_address="203.0.113.7", antivirus=True))
    changed, removed = restart.compose_services(base, av)
    assert changed == {"antispam", "antivirus"} and not removed
    changed, removed = restart.compose_services(av, base)
    assert "antispam" in changed and removed
    other_subnet = compose_document(MailuConfig(domain="acme.example", bind_address="203.0.113.7",
                                                subnet="10.9.0.0/24"))
    assert restart.compose_services(base, other_subnet)[0] == set(base["services"]) - {"webmail"}
    assert restart.services_with_env_file(base) == ALL_ENV


def test_admin_marker_roundtrip_without_the_password() -> None:
    password = Secret("correct horse battery staple")
    marker = admin_marker("admin@acme.example", password, b"\x01" * 16, iterations=1000)
    assert password.reveal() not in marker
    assert admin_marker_matches(marker, "admin@acme.example", password)
    assert not admin_marker_matches(marker, "admin@acme.example", Secret("other password"))
    assert not admin_marker_matches(marker, "root@acme.example", password)
    assert not admin_marker_matches("garbage", "admin@acme.example", password)


def test_admin_import_document() -> None:
    document = yaml.safe_load(admin_import_yaml(MailuConfig(domain="acme.example"), Secret("pw-1234567")))
    assert document["domain"] == [{"name": "acme.example"}]
    assert document["user"] == [{"email": "admin@acme.example", "password": "pw-1234567",
                                 "hash_password": True, "global_admin": True}]


def test_parse_compose_ps_both_formats() -> None:
    lines = "\n".join(json.dumps({"Service": s, "State": "running", "Health": "healthy"}) for s in ("a", "b"))
    assert parse_compose_ps(lines) == {"a": ("running", "healthy"), "b": ("running", "healthy")}
    array = json.dumps([{"Service": "a", "State": "exited", "Health": ""}])
    assert parse_compose_ps(array) == {"a": ("exited", "")}
    assert parse_compose_ps("") == {}


def test_mailu_tree_leaves_container_owned_volumes_alone() -> None:
    dirs = {d.path: d for d in mailu_dirs(MailuConfig(domain="acme.example"))}
    assert dirs["/mailu"].enforce and dirs["/mailu"].mode == 0o755
    assert dirs["/mailu/dkim"].mode == 0o700 and not dirs["/mailu/dkim"].enforce
    assert not dirs["/mailu/mail"].enforce and not dirs["/mailu/data"].enforce


def _installer(answers: dict[str, str]) -> tuple[MailuInstaller, ScriptedExecutor]:
    executor = ScriptedExecutor(answers)
    return MailuInstaller(executor), executor


def test_unsupported_os_is_refused_before_anything_changes() -> None:
    installer, executor = _installer({"os-release": "os alpine 3.20 \narch amd64\nroute local 203.0.113.7 dev lo\n"})
    with pytest.raises(MailuInstallError) as info:
        installer.install(_request())
    assert info.value.step == "host" and "alpine 3.20" in str(info.value) and "Debian 12" in str(info.value)
    assert len(executor.commands) == 1 and not any(c.startswith("put ") for c in executor.commands)


def test_a_publish_address_the_host_lacks_is_refused() -> None:
    installer, executor = _installer({"os-release": "os debian 12 bookworm\narch amd64\n"
                                                    "route 203.0.113.7 via 10.0.0.1 dev eth0 src 10.0.0.2\n"})
    with pytest.raises(MailuInstallError) as info:
        installer.install(_request())
    assert info.value.step == "host" and "203.0.113.7 is not an address of this host" in str(info.value)
    assert len(executor.commands) == 1


def _request() -> InstallRequest:
    return InstallRequest(config=MailuConfig(domain="acme.example", bind_address="203.0.113.7"),
                          hardening=HardeningConfig(tenant_id="acme1234corp"), secret_key=Secret("K" * 32),
                          dkim_private_key=Secret(f"{pem.begin()}\nx\n{pem.end()}\n"),
                          admin_password=Secret("pw-0123456789"))


def test_health_times_out_with_named_services() -> None:
    ps = json.dumps({"Service": "front", "State": "running", "Health": "unhealthy"})
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    executor = ScriptedExecutor({" ps ": ps})
    installer = MailuInstaller(executor, health_timeout=10, health_interval=1, sleep=sleep, clock=lambda: now[0])
    with pytest.raises(MailuInstallError) as info:
        installer._health(MailuConfig(domain="acme.example", webmail="none"))
    assert "front=running/unhealthy" in str(info.value) and "admin=missing" in str(info.value)


def test_request_and_files_never_show_secrets() -> None:
    secret = Secret("very-secret-value-123")
    request = InstallRequest(MailuConfig(domain="acme.example"), HardeningConfig(tenant_id="acme"),
                             secret, secret, secret)
    assert secret.reveal() not in repr(request)
    desired = DesiredFile("/mailu/mailu.env", b"SECRET_KEY=very-secret-value-123", 0o600, secret=True)
    assert "very-secret" not in repr(desired)
    assert "very-secret" not in files_digest([desired])


def test_static_secrets_satisfy_the_protocol() -> None:
    values = StaticSecrets(Secret("k"), Secret("d"), Secret("p"), Secret("s"))
    assert isinstance(values, MailuSecrets)
    assert "'p'" not in repr(values)


def test_resolve_loader() -> None:
    loader = resolve_loader("tests.fixtures.mailu:static_secrets_loader")
    assert callable(loader)
    for bad in ("nocolon", "no.such.module:f", "json:no_such_function"):
        with pytest.raises(ConfigError) as info:
            resolve_loader(bad)
        assert info.value.field == "secrets_loader"


def test_secret_refs_roundtrip() -> None:
    refs = SecretRefs("vps/a/admin_ssh", "dkim/a.example/pm1", "smtp/a/admin", "mailu/a/secret_key", dkim_version=3)
    assert SecretRefs.from_dict(refs.as_dict()) == refs
    with pytest.raises(ConfigError):
        SecretRefs.from_dict({"bogus": 1})


def test_wrapper_diff_replace_on_host_update_on_digest() -> None:
    olds = {"host": "203.0.113.7", "port": 22, "config_digest": "a", "secret_refs": {"dkim_version": 1}}
    assert not diff_inputs(olds, dict(olds)).changes
    update = diff_inputs(olds, {**olds, "config_digest": "b"})
    assert update.changes and not update.replaces
    rotated = diff_inputs(olds, {**olds, "secret_refs": {"dkim_version": 2}})
    assert rotated.changes and not rotated.replaces
    moved = diff_inputs(olds, {**olds, "host": "203.0.113.8"})
    assert moved.changes and moved.replaces == ["host"]
