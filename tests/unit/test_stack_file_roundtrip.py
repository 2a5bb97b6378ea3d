"""The one stack-file writer (toolkit.stack_files): edits touch only the `pm:` keys they name, on a real filesystem."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest
import yaml
from ruamel.yaml import YAML

from toolkit import stack_files
from toolkit.errors import ConfigError
from toolkit.tenant_config import TenantConfigError
from toolkit.yaml_edit import YamlDocument

pytestmark = pytest.mark.unit

SECURE = "v1:Jq8X0dBz2wY7bK3n:3hFv+PcQvB8f0K5mWm0x9lO1q2c4s6u8w0y2A4C6E8G0I2K4M6O8Q0S2U4W6Y8a0c2e4g6i8k0m2o4q6s8u0w2=="
ORIGINAL = f"""\
# Tenant acme: edited by hand; every comment must survive a rotation.
secretsprovider: passphrase
encryptionsalt: v1:PYC67h4Gqgk=:v1:GSoXlkKl89xexh79:loUDY3B3OlTn2Gs4gIt8MSeauhdAZg==
config:
  aws:region: eu-west-1   # a foreign namespace
  pm:tenant_id: acme
  pm:domain: acme.example
  pm:location: '1'
  pm:ttl: "3600"          # quoted on purpose
  # the DNS primary
  pm:dns:
    provider: rfc2136
    server: 127.0.0.1
    port: 53
    tsig_key_name: acme-update
  pm:spf_includes: []
  pm:dkim_selector: pm20261125
  pm:hostwinds:
    poll_interval: 120.5
    poll_timeout: 120
    vps_generation: 1
  # the last pm key follows
  pm:ptr_check: hostwinds
  mailer:smtpPassword:
    secure: {SECURE}
  mailer:relays:
    - relay1.example
    - relay2.example
"""


@pytest.fixture
def stacks(tmp_path: Path) -> Path:
    stack_files.stack_file(tmp_path, "acme").write_text(ORIGINAL)
    return tmp_path


def _text(stacks: Path) -> str:
    return stack_files.stack_file(stacks, "acme").read_text()


def _data(stacks: Path) -> dict[str, Any]:
    return dict(yaml.safe_load(_text(stacks)))


def _without(text: str, *lines: str) -> list[str]:
    return [line for line in text.splitlines() if line not in lines]


def test_one_key_edit_changes_only_its_line(stacks: Path) -> None:
    written = stack_files.edit(stacks, "acme", {"dkim_selector": "pm20270101"})
    assert written.changed and written.config.dkim_selector == "pm20270101"
    after = _text(stacks)
    assert "  pm:dkim_selector: pm20270101" in after.splitlines()
    assert _without(after, "  pm:dkim_selector: pm20270101") == _without(ORIGINAL, "  pm:dkim_selector: pm20261125")
    data = _data(stacks)
    config = data["config"]
    assert data["encryptionsalt"].startswith("v1:PYC67h4Gqgk=") and data["secretsprovider"] == "passphrase"
    assert config["pm:ttl"] == "3600" and config["pm:location"] == "1"  # quoted numbers stay strings
    assert config["pm:hostwinds"] == {"poll_interval": 120.5, "poll_timeout": 120, "vps_generation": 1}
    assert type(config["pm:hostwinds"]["poll_timeout"]) is int
    assert config["mailer:smtpPassword"] == {"secure": SECURE} and config["aws:region"] == "eu-west-1"
    assert config["mailer:relays"] == ["relay1.example", "relay2.example"]


def test_nested_edit_and_whole_config_write_touch_one_line(stacks: Path) -> None:
    stack_files.edit(stacks, "acme", {"hostwinds.vps_generation": 2})
    assert _without(_text(stacks), "    vps_generation: 2") == _without(ORIGINAL, "    vps_generation: 1")
    config = stack_files.load(stacks, "acme")
    stack_files.write_config(stacks, config.model_copy(update={
        "hostwinds": config.hostwinds.model_copy(update={"vps_generation": 3})}))
    # the model-level diff edits only what differs: "3600" and 120 are untouched although the model has 3600/120.0
    assert _without(_text(stacks), "    vps_generation: 3") == _without(ORIGINAL, "    vps_generation: 1")


@pytest.mark.parametrize(("key", "gone"), [
    ("ptr_check", ["  pm:ptr_check: hostwinds"]),
    ("ttl", ['  pm:ttl: "3600"          # quoted on purpose']),
    ("hostwinds", ["  pm:hostwinds:", "    poll_interval: 120.5", "    poll_timeout: 120", "    vps_generation: 1"]),
])
def test_removing_a_key_removes_only_its_lines(stacks: Path, key: str, gone: list[str]) -> None:
    assert stack_files.edit(stacks, "acme", {key: None}).changed
    # the comments around it ("# the DNS primary", "# the last pm key follows") stay where they were
    assert _text(stacks).splitlines() == _without(ORIGINAL, *gone)
    assert f"pm:{key}" not in _data(stacks)["config"]


def test_values_are_written_with_their_types(stacks: Path) -> None:
    stack_files.edit(stacks, "acme", {"ttl": 7200, "location": "2", "hostwinds.poll_interval": 0.5,
                                      "spf_includes": ["_spf.example.net"], "migration": {"copy_from": "10.0.0.1"},
                                      "purge_secrets_on_destroy": True})
    lines = _text(stacks).splitlines()
    assert "  pm:ttl: 7200            # quoted on purpose" in lines  # the comment keeps its column
    assert "  pm:location: '2'" in lines
    assert "  pm:spf_includes:" in lines and "    - _spf.example.net" in lines  # block lists, like Pulumi writes
    config = _data(stacks)["config"]
    assert (config["pm:ttl"], config["pm:location"], config["pm:hostwinds"]["poll_interval"]) == (7200, "2", 0.5)
    assert config["pm:purge_secrets_on_destroy"] is True
    keys = list(config)  # new keys go after the last pm: key, before the other namespaces
    assert keys.index("pm:migration") == keys.index("mailer:smtpPassword") - 2
    for text in ("3600", "yes", "0777", "2026-11-27T12:00:00Z", "null", "1e3", "a: b", "[x]", "~", "1_000"):
        doc = YamlDocument("")
        doc.set(("v",), text)
        assert yaml.safe_load(doc.text()) == {"v": text}  # YAML 1.1 (PyYAML) reads a string back
        assert YAML(typ="safe", pure=True).load(doc.text()) == {"v": text}  # and so does YAML 1.2


def test_no_op_edit_does_not_touch_the_file(stacks: Path) -> None:
    path = stack_files.stack_file(stacks, "acme")
    before = os.stat(path)
    for changes in ({"dkim_selector": "pm20261125"}, {"hostwinds.poll_timeout": 120.0}, {"image": None}, {}):
        assert not stack_files.edit(stacks, "acme", changes).changed
    after = os.stat(path)
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert path.read_text() == ORIGINAL


@pytest.mark.parametrize("changes", [{"ttl": 1}, {"colour": "blue"}, {"dns": None}, {"size": "huge"}])
def test_invalid_result_is_refused_and_nothing_written(stacks: Path, changes: dict[str, Any]) -> None:
    path = stack_files.stack_file(stacks, "acme")
    inode = os.stat(path).st_ino
    with pytest.raises(TenantConfigError):
        stack_files.edit(stacks, "acme", changes)
    assert path.read_text() == ORIGINAL and os.stat(path).st_ino == inode
    assert sorted(p.name for p in stacks.iterdir()) == ["Pulumi.acme.yaml"]


def test_symlinked_stack_file_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere.yaml"
    target.write_text(ORIGINAL)
    stacks = tmp_path / "stacks"
    stacks.mkdir()
    stack_files.stack_file(stacks, "acme").symlink_to(target)
    with pytest.raises(stack_files.StackFileError, match="symlink"):
        stack_files.edit(stacks, "acme", {"dkim_selector": "pm20270101"})
    with pytest.raises(ConfigError):
        stack_files.create(stacks, {**_raw(), "tenant_id": "acme"}, overwrite=True)
    assert target.read_text() == ORIGINAL and stack_files.stack_file(stacks, "acme").is_symlink()


def test_crash_before_rename_leaves_the_original(stacks: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def crash(src: str, dst: str) -> None:
        raise OSError("killed between the temp write and the rename")

    monkeypatch.setattr(stack_files, "_replace", crash)
    with pytest.raises(OSError, match="killed"):
        stack_files.edit(stacks, "acme", {"dkim_selector": "pm20270101"})
    assert _text(stacks) == ORIGINAL
    assert sorted(p.name for p in stacks.iterdir()) == ["Pulumi.acme.yaml"]  # no temp file left behind


def test_mode_is_kept(stacks: Path) -> None:
    path = stack_files.stack_file(stacks, "acme")
    path.chmod(0o640)
    stack_files.edit(stacks, "acme", {"dkim_selector": "pm20270101"})
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640


def _raw() -> dict[str, Any]:
    return {"tenant_id": "beta", "domain": "beta.example", "dkim_selector": "pm20261125",
            "dns": {"server": "127.0.0.1", "tsig_key_name": "beta-update"},
            "spf_includes": ["_spf.example.net"]}


def test_create_new_file_and_overwrite_keeps_what_is_not_ours(tmp_path: Path) -> None:
    path = stack_files.create(tmp_path, _raw())
    assert stat.S_IMODE(os.stat(path).st_mode) == stack_files.NEW_FILE_MODE
    text = path.read_text()
    assert text.startswith("# Tenant beta: one Pulumi stack.")
    assert "  pm:spf_includes:\n    - _spf.example.net\n" in text
    assert stack_files.load(tmp_path, "beta") == stack_files.edit(tmp_path, "beta", {}).config
    with pytest.raises(ConfigError, match="already exists"):
        stack_files.create(tmp_path, _raw())
    path.write_text(text + "  aws:region: eu-west-1\nencryptionsalt: v1:salt:abc\n")
    stack_files.create(tmp_path, {**_raw(), "domain": "beta2.example", "spf_includes": []}, overwrite=True)
    data = yaml.safe_load(path.read_text())
    assert data["encryptionsalt"] == "v1:salt:abc" and data["config"]["aws:region"] == "eu-west-1"
    assert data["config"]["pm:domain"] == "beta2.example" and data["config"]["pm:spf_includes"] == []
