"""Files the application writes for people: private, and never left half-written.

:func:`private_atomic_text` writes to a temporary file in the target's folder
(created mode 0600 whatever the umask), flushes it to disk, and only then renames it
over the target. If anything fails — a full disk, a cancelled export, a database error
mid-stream — the temporary file is removed and the target is left as it was.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

PRIVATE_MODE = 0o600


@contextmanager
def private_atomic_text(target: str | os.PathLike[str]) -> Iterator[IO[str]]:
    """A UTF-8 text file (``newline=""``, as :mod:`csv` wants) that becomes ``target``
    when the block ends without an exception.

    File errors are re-raised as :class:`OSError` naming ``target`` (not the temporary
    file), so callers can say which file failed and why.
    """
    path = Path(target)
    try:
        # mkstemp creates the file with O_EXCL and mode 0600: nobody else can open it.
        fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    except OSError as e:
        raise _about(path, e) from e
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as f:
            if hasattr(os, "fchmod"):  # not on Windows, where mkstemp's file is private anyway
                os.fchmod(f.fileno(), PRIVATE_MODE)
            yield f
            f.flush()
            # On disk before the rename, or a crash could leave an empty file under the real name.
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        tmp.unlink(missing_ok=True)
        if isinstance(e, OSError) and e.filename in (None, tmp_name):
            raise _about(path, e) from e
        raise


def _about(path: Path, error: OSError) -> OSError:
    """The same error about ``path``: ``OSError(errno, ...)`` picks the subclass
    (PermissionError, FileNotFoundError, ...) from the errno."""
    if error.errno is not None:
        return OSError(error.errno, error.strerror, str(path))
    named = OSError(str(error))
    named.strerror, named.filename = str(error), str(path)
    return named
