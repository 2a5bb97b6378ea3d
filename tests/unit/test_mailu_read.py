"""``MailuInstall`` refresh without a host: the live digest formula, drift in diff, an unreachable host or Vault."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from components import mailu_live
from components.mailu_install import MailuInstallProvider, diff_inputs, drifted
from components.mailu_live import live_digest, managed_paths
from hostops.files import DesiredFile, files_digest
from mailu.config import MailuConfig
from mailu.hardening import HardeningConfig
from mailu.secrets import SecretRefs, StaticSecrets
from tests.fixtures.mailu import make_ed25519, make_secrets
from toolkit.ssh import FileStat, sha256_hex
from vault.errors import VaultUnavailable

CONFIG = MailuConfig(domain="acme.example", dkim_selector="pm20261124")
REFS = SecretRefs(admin_ssh_path="vps/acme1234corp/admin_ssh", dkim_path="dkim/acme.example/pm20261124",
                  smtp_admin_path="smtp/acme1234corp/admin", mailu_secret_key_path="smtp/acme1234corp/mailu")
DIGEST = "a" * 64


def vault_down(_refs: SecretRefs) -> StaticSecrets:
    raise VaultUnavailable("no Vault node answered within the retry budget")


def static_key(_refs: SecretRefs) -> StaticSecrets:
    return make_secrets(make_ed25519())


def _state(**overrides: Any) -> dict[str, Any]:
    """Outputs of an install, as state holds them."""
    state: dict[str, Any] = {
        "host": "127.0.0.1", "port": 22, "known_hosts": [], "trust_on_first_use": True, "tenant_id": "acme1234corp",
        "tenant_public_keys": [], "mailu_config": CONFIG.as_dict(), "config_digest": CONFIG.digest(),
        "secret_refs": REFS.as_dict(), "secrets_loader": f"{__name__}:vault_down", "health_timeout": 600.0,
        "files_digest": DIGEST, "installed_digest": DIGEST, "steps_changed": [], "restarted": [],
        "host_keys": ["127.0.0.1 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"],
    }
    return {**state, **overrides}


def _stat(path: str, content: bytes, mode: int) -> FileStat:
    return FileStat(path=path, kind="file", mode=mode, owner="root", group="root", uid=0, gid=0,
                    sha256=sha256_hex(content))


def test_live_digest_of_a_converged_host_is_the_installed_digest() -> None:
    files = [DesiredFile("/mailu/docker-compose.yml", b"services: {}\n", 0o644),
             DesiredFile("/mailu/mailu.env", b"SECRET_KEY=x\n", 0o600, secret=True)]
    stats = {f.path: _stat(f.path, f.content, f.mode) for f in files}
    paths = [f.path for f in files]
    assert live_digest(stats, paths) == files_digest(files)

    edited = {**stats, "/mailu/mailu.env": _stat("/mailu/mailu.env", b"SECRET_KEY=y\n", 0o600)}
    chmodded = {**stats, "/mailu/mailu.env": _stat("/mailu/mailu.env", b"SECRET_KEY=x\n", 0o644)}
    missing = {**stats, "/mailu/mailu.env": None}
    linked = {**stats, "/mailu/mailu.env": FileStat("/mailu/mailu.env", "other", 0o777, "root", "root", 0, 0, None)}
    digests = {live_digest(s, paths) for s in (edited, chmodded, missing, linked)}
    assert files_digest(files) not in digests and len(digests) == 4


def test_managed_paths_cover_compose_env_dkim_key_and_hardening() -> None:
    paths = managed_paths(CONFIG, HardeningConfig(tenant_id="acme1234corp"))
    assert {"/mailu/docker-compose.yml", "/mailu/mailu.env", CONFIG.dkim_key_path} <= set(paths)
    assert any(p.startswith("/etc/ssh/") for p in paths) and any("authorized_keys" in p for p in paths)
    assert paths == sorted(set(paths))


def test_drift_after_refresh_means_update_and_converged_means_no_change() -> None:
    assert not drifted(_state()) and diff_inputs(_state(), _state()).changes is False
    assert drifted(_state(files_digest="b" * 64))
    result = diff_inputs(_state(files_digest="b" * 64), _state())  # olds: the outputs a refresh just wrote
    assert result.changes is True and result.replaces == []
    # A state written before ``installed_digest`` existed has nothing to compare: no drift.
    assert not drifted(_state(installed_digest=None))


def test_vault_unreachable_keeps_the_state_and_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    state = _state(files_digest="c" * 64, installed_digest=None)
    result = MailuInstallProvider().read("acme.example@127.0.0.1", state)
    assert result.id == "acme.example@127.0.0.1"
    assert result.outs is not None and result.outs["files_digest"] == "c" * 64
    assert result.outs["installed_digest"] == "c" * 64  # carried over from the old state's digest
    assert result.inputs is not None and "files_digest" not in result.inputs and result.inputs["host"] == "127.0.0.1"
    err = capsys.readouterr().err
    assert "cannot read the host for refresh" in err and "keeping the recorded state" in err


def test_host_not_answering_keeps_the_state(monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as probe:  # a port nothing listens on: the connection is refused at once
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setattr(mailu_live, "READ_BOOT_TIMEOUT", 0.0)
    state = _state(port=port, secrets_loader=f"{__name__}:static_key")
    result = MailuInstallProvider().read("acme.example@127.0.0.1", state)
    assert result.outs is not None and result.outs["files_digest"] == DIGEST
    assert "no SSH connection" in capsys.readouterr().err
