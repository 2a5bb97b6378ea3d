"""Files that hold secrets (tokens, keys, unseal shares): created with mode 0600 from the start, never widened by
the umask, and never written through a symlink left in their place."""

from __future__ import annotations

import os
from pathlib import Path


def write_private(path: Path, text: str, *, exclusive: bool = False) -> None:
    """Write ``text`` to ``path`` with mode 0600 (``exclusive``: refuse when the file already exists)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | (os.O_EXCL if exclusive else os.O_TRUNC)
    fd = os.open(path, flags, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
