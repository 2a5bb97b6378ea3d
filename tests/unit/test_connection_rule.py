"""The one connection-settings rule (toolkit.connection): options > process environment > env file, the env file
as a whole profile, and the same answer whether the operator sourced the file or not."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from toolkit import connection
from toolkit.errors import ConfigError

PROFILE = {
    "VAULT_ADDR": "http://127.0.0.1:18210", "VAULT_ADDRS": "http://127.0.0.1:18210", "VAULT_TOKEN": "s.sandbox",
    "PM_DNS_SERVER": "127.0.0.1", "PM_DNS_PORT": "15353", "PM_DNS_ZONE": "sandbox.test",
    "PM_DNS_TSIG_SECRET": "c2VjcmV0", "HOSTWINDS_API_URL": "http://127.0.0.1:18700/cloud/api.php",
    "PULUMI_BACKEND_URL": "file:///tmp/state", "PM_BACKUP_DEST": "/tmp/backups",
    "PM_BACKUP_KEY_FILE": "/tmp/backup.key", "ODD": "it's a \"quoted\" $value with spaces",
}


@pytest.fixture()
def env_file(tmp_path: Path) -> Path:
    path = tmp_path / "env"
    connection.write_env_file(path, PROFILE)
    return path


def test_env_file_is_private_and_round_trips(env_file: Path) -> None:
    assert (env_file.stat().st_mode & 0o777) == 0o600
    assert connection.read_env_file(env_file) == PROFILE


def test_env_file_is_what_a_shell_gets_when_it_sources_it(env_file: Path) -> None:
    shell = subprocess.run(["bash", "-c", f"set -a; . {env_file}; env -0"], capture_output=True, check=True,
                           env={"PATH": os.environ["PATH"]})
    sourced = dict(item.split("=", 1) for item in shell.stdout.decode().split("\0") if "=" in item)
    assert {key: sourced[key] for key in PROFILE} == PROFILE


def test_without_a_vault_in_the_environment_the_env_file_is_the_profile(env_file: Path) -> None:
    used = connection.resolve({"PATH": "/bin", "PM_ENV_FILE": str(env_file)})
    assert used.source == f"env file {env_file}"
    assert used.env["PM_DNS_TSIG_SECRET"] == "c2VjcmV0" and used.env["PATH"] == "/bin"


def test_sourced_or_not_gives_the_same_settings(env_file: Path) -> None:
    not_sourced = connection.resolve({"PATH": "/bin", "PM_ENV_FILE": str(env_file)})
    sourced = connection.resolve({"PATH": "/bin", "PM_ENV_FILE": str(env_file), **PROFILE})
    assert sourced.env == not_sourced.env
    assert sourced.endpoints() | {"settings from": ""} == not_sourced.endpoints() | {"settings from": ""}


def test_a_shell_pointed_at_another_vault_never_mixes_in_the_sandbox(env_file: Path) -> None:
    used = connection.resolve({"VAULT_ADDR": "https://vault.example.net:8200", "PM_ENV_FILE": str(env_file)})
    assert used.source == connection.PROCESS_ENVIRONMENT
    assert "PM_DNS_TSIG_SECRET" not in used.env and "VAULT_TOKEN" not in used.env


def test_the_process_environment_wins_over_the_file_key_by_key(env_file: Path) -> None:
    used = connection.resolve({"PM_ENV_FILE": str(env_file), "PM_BACKUP_DEST": "/elsewhere"})
    assert used.env["PM_BACKUP_DEST"] == "/elsewhere"
    assert used.endpoints()["backups"] == "/elsewhere"


def test_no_file_no_vault_is_the_bare_environment(tmp_path: Path) -> None:
    used = connection.resolve({"PM_ENV_FILE": str(tmp_path / "absent")})
    assert used.source == connection.PROCESS_ENVIRONMENT
    assert used.endpoints()["Vault"].startswith("(not set")


def test_the_sandbox_directory_names_the_default_file(tmp_path: Path) -> None:
    assert connection.default_env_file({"PM_SANDBOX_DIR": str(tmp_path)}) == tmp_path / "env"
    assert connection.default_env_file({"PM_ENV_FILE": "/x/env", "PM_SANDBOX_DIR": str(tmp_path)}) == Path("/x/env")


def test_endpoints_never_show_a_credential(env_file: Path) -> None:
    shown = " ".join(connection.resolve({"PM_ENV_FILE": str(env_file)}).endpoints().values())
    assert "s.sandbox" not in shown and "c2VjcmV0" not in shown


def test_a_broken_line_names_the_file_line_and_key(tmp_path: Path) -> None:
    path = tmp_path / "env"
    path.write_text("export GOOD=1\nexport BAD='unterminated\n")
    with pytest.raises(ConfigError, match=r"env:2: .*BAD"):
        connection.read_env_file(path)
