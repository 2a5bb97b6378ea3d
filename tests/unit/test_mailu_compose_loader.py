"""Every rendered Mailu flavour loaded by the compose-spec loader `docker compose` itself uses (compose-go/v2, built
by scripts/setup.sh into tools' cache as compose-validate), with the env file beside it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from mailu.config import MailuConfig
from mailu.ports import PUBLISHED_PORTS
from mailu.render import render
from toolkit.redact import Secret

ADDRESS = "203.0.113.7"
FLAVOURS = [(webmail, antivirus) for webmail in ("roundcube", "snappymail", "none") for antivirus in (False, True)]


def _validator() -> str:
    cached = Path.home() / ".cache" / "pm-toolkit" / "bin" / "compose-validate"
    binary = str(cached) if cached.exists() else shutil.which("compose-validate")
    if binary is None:
        if os.environ.get("CI") == "true":
            pytest.fail("compose-validate is not built: scripts/setup.sh step 5 should have built it")
        reason = "compose-validate not built (scripts/setup.sh builds it with Go from tools/compose-validate)"
        print(f"skipping: {reason}")
        pytest.skip(reason)
    return binary


def _load(tmp_path: Path, config: MailuConfig) -> subprocess.CompletedProcess[str]:
    files = render(config, Secret("S3CRETKEY0123456789ABCDEF"))
    (tmp_path / "docker-compose.yml").write_bytes(files.compose)
    (tmp_path / "mailu.env").write_bytes(files.env)
    return subprocess.run([_validator(), "--project-name", "mailu", str(tmp_path / "docker-compose.yml")],
                          capture_output=True, text=True, check=False)


@pytest.mark.parametrize(("webmail", "antivirus"), FLAVOURS, ids=[f"{w}-av{int(a)}" for w, a in FLAVOURS])
def test_every_flavour_loads_as_docker_compose_loads_it(tmp_path: Path, webmail: str, antivirus: bool) -> None:
    config = MailuConfig(domain="acme.example", bind_address=ADDRESS, webmail=webmail,  # type: ignore[arg-type]
                         antivirus=antivirus)
    result = _load(tmp_path, config)
    assert result.returncode == 0, result.stderr
    project = json.loads(result.stdout)
    assert project["name"] == "mailu"
    assert sorted(project["services"]) == sorted(config.services())
    front = project["services"]["front"]
    assert {(p["host_ip"], int(p["published"]), p["target"]) for p in front["ports"]} == {
        (ADDRESS, port, port) for port in PUBLISHED_PORTS}
    for name, service in project["services"].items():
        assert all(p["host_ip"] not in ("", "0.0.0.0") for p in service["ports"]), name
        if name not in ("redis", "antivirus"):
            assert "PORTS" in service["env_keys"] and "FULL_TEXT_SEARCH_ATTACHMENTS" in service["env_empty"], name
    assert ("webmail" in project["networks"]) == (webmail != "none")
    assert ("clamav" in project["networks"]) == antivirus


def test_the_loader_refuses_a_broken_port_mapping(tmp_path: Path) -> None:
    result = _load(tmp_path, MailuConfig(domain="acme.example", bind_address=ADDRESS))
    assert result.returncode == 0, result.stderr
    path = tmp_path / "docker-compose.yml"
    path.write_text(path.read_text().replace(f"{ADDRESS}:25:25", f"{ADDRESS}:smtp:25"))
    refused = subprocess.run([_validator(), str(path)], capture_output=True, text=True, check=False)
    assert refused.returncode == 1 and "compose-validate:" in refused.stderr and "smtp" in refused.stderr
