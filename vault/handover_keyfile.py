"""The tenant side of a key handover: a new private key file, mode 0600, never written through a link.

The file is created *before* the token is spent (``O_CREAT | O_EXCL | O_NOFOLLOW``): an existing file, a link or a
missing directory is refused while the token is still good. If the unwrap then fails, the empty file is removed
(only if it is still the file we created).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

from toolkit.errors import ValidationError
from toolkit.redact import Secret


class KeyWriter(Protocol):
    def __call__(self, key: Secret) -> None: ...


def _refusal(path: Path) -> str | None:
    try:
        found = path.lstat()
    except FileNotFoundError:
        if not path.parent.is_dir():
            return f"{path.parent} is not a directory: create it first (mode 0700)"
        return None
    kind = "a symbolic link" if stat.S_ISLNK(found.st_mode) else "a file" if stat.S_ISREG(found.st_mode) else "there"
    return f"{path} already exists ({kind}): the key file is never overwritten nor written through a link; choose " \
           "another --out"


@contextmanager
def private_key_file(path: str | Path) -> Iterator[KeyWriter]:
    """A new file at ``path`` (mode 0600) and a writer for the key; the file is removed if the block raises."""
    target = Path(path).expanduser()
    problem = _refusal(target)
    if problem:
        raise ValidationError("out", problem)
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise ValidationError("out", f"cannot create {target}: {exc.strerror}") from None
    os.fchmod(fd, 0o600)  # whatever the umask
    created = os.fstat(fd)
    done = False

    def write(key: Secret) -> None:
        data = key.reveal().encode()
        view = memoryview(data if data.endswith(b"\n") else data + b"\n")
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)

    try:
        yield write
        done = True
    finally:
        os.close(fd)
        if not done:
            try:
                now = target.lstat()
                if (now.st_dev, now.st_ino) == (created.st_dev, created.st_ino):
                    target.unlink()
            except FileNotFoundError:
                pass
