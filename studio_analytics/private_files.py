"""Files that hold payloads (databases, the spool, exports) are private to their owner.

Created 0600 inside folders we create 0700, whatever the umask: queries, responses and
tool inputs are the users' data. SQLite gives its ``-wal``, ``-shm`` and ``-journal``
files the mode of the database file, so creating that one private covers them.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

FILE_MODE = 0o600
DIR_MODE = 0o700


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` (and missing parents) 0700; an existing folder is left as it is."""
    if not path.is_dir():
        path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
        with contextlib.suppress(OSError):
            os.chmod(path, DIR_MODE)  # mkdir's mode is filtered by the umask
    return path


def create_private_file(path: Path) -> bool:
    """Create an empty ``path`` 0600 unless it exists; True if this call created it.
    An empty file is a valid empty SQLite database."""
    if path.exists():
        return False
    if not path.parent.is_dir():
        path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        return False
    os.close(fd)
    with contextlib.suppress(OSError):
        os.chmod(path, FILE_MODE)  # os.open's mode is filtered by the umask too
    return True


__all__ = ["DIR_MODE", "FILE_MODE", "create_private_file", "ensure_private_dir"]
