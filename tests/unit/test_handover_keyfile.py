"""The tenant-side key file of a handover: created new with mode 0600 whatever the umask, never over a file, never
through a link, and removed again when the unwrap fails (but never a file that replaced it meanwhile)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from tests import pem
from toolkit.errors import ValidationError
from toolkit.redact import Secret
from vault.handover_keyfile import private_key_file

KEY = Secret(f"{pem.begin('OPENSSH')}\nabc\n{pem.end('OPENSSH')}")


def test_a_new_file_gets_the_key_with_mode_0600_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        with private_key_file(tmp_path / "id") as write:
            write(KEY)
    finally:
        os.umask(old)
    assert (tmp_path / "id").read_text() == KEY.reveal() + "\n"
    assert stat.S_IMODE((tmp_path / "id").stat().st_mode) == 0o600


@pytest.mark.parametrize("kind", ["file", "link", "dangling link", "directory", "no parent"])
def test_an_existing_path_or_a_missing_directory_is_refused_untouched(tmp_path: Path, kind: str) -> None:
    target = tmp_path / "id"
    victim = tmp_path / "victim"
    victim.write_text("precious")
    if kind == "file":
        target.write_text("old key")
    elif kind == "link":
        target.symlink_to(victim)
    elif kind == "dangling link":
        target.symlink_to(tmp_path / "nowhere")
    elif kind == "directory":
        target.mkdir()
    else:
        target = tmp_path / "missing" / "id"
    with pytest.raises(ValidationError, match=r"already exists|is not a directory"), private_key_file(target):
        pytest.fail("the block must not run")
    assert victim.read_text() == "precious"
    assert not (tmp_path / "nowhere").exists()
    if kind == "file":
        assert target.read_text() == "old key"


def test_a_failed_unwrap_leaves_no_file(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), private_key_file(tmp_path / "id"):
        raise RuntimeError("token already used")
    assert not (tmp_path / "id").exists()


def test_a_file_that_replaced_ours_is_not_removed(tmp_path: Path) -> None:
    target = tmp_path / "id"
    with pytest.raises(RuntimeError), private_key_file(target):
        target.unlink()
        target.write_text("someone else's")
        raise RuntimeError("token already used")
    assert target.read_text() == "someone else's"
