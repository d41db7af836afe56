"""``manifest.json``: what an archive folder holds, and the checksum each file must have.

One entry per file (a table's rows of one UTC day): table, day, rows, SHA-256 of the
file's bytes, the schema revision of the database it came from, and when it was written.
A restore trusts a file only if its bytes still have that checksum. The manifest is
rewritten whole (temp file, then rename), private (0600) like the files it lists.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from studio_analytics.archive.columns import ARCHIVED_TABLES
from studio_analytics.private_files import FILE_MODE, ensure_private_dir

MANIFEST_NAME = "manifest.json"
FORMAT = "studio-analytics-archive"
FORMAT_VERSION = 1


class ArchiveError(Exception):
    """An archive that cannot be used as it is (a changed file, a broken manifest,
    pyarrow missing); ``hint`` says what to do."""

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


@dataclass(frozen=True)
class ArchivedFile:
    table: str
    day: date
    path: Path
    rows: int  # in the file
    sha256: str
    #: rows kept from the day's earlier file that are not in the database (pruned before)
    kept: int = 0

    @property
    def rows_from_database(self) -> int:
        return self.rows - self.kept


@dataclass(frozen=True)
class ManifestEntry:
    table: str
    day: date
    rows: int
    sha256: str
    schema_revision: str
    written_at: str  # ISO 8601 UTC

    @property
    def relative_path(self) -> str:
        return day_file_name(self.table, self.day)

    def to_json(self) -> dict[str, Any]:
        return {"path": self.relative_path, "table": self.table, "day": self.day.isoformat(),
                "rows": self.rows, "sha256": self.sha256, "schema_revision": self.schema_revision,
                "written_at": self.written_at}


def day_file_name(table: str, day: date) -> str:
    """``<table>/<YYYY-MM-DD>.parquet``, relative to the archive folder."""
    return f"{table}/{day.isoformat()}.parquet"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_manifest(folder: Path) -> tuple[ManifestEntry, ...]:
    """The entries of ``folder``'s manifest (none when there is no manifest yet)."""
    path = folder / MANIFEST_NAME
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return ()
    try:
        data = json.loads(text)
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError(f"not a {FORMAT} manifest")
        if int(data.get("version", 0)) > FORMAT_VERSION:
            raise ValueError(f"format version {data['version']} is newer than this studio-analytics reads "
                             f"({FORMAT_VERSION})")
        return tuple(_entry(item) for item in data["files"])
    except (ValueError, KeyError, TypeError) as e:
        raise ArchiveError(f"{path}: the manifest cannot be read ({e})",
                           hint="restore it from a backup, or move the folder aside and archive again") from e


def _entry(item: Any) -> ManifestEntry:
    table = str(item["table"])
    if table not in ARCHIVED_TABLES:
        raise ValueError(f"unknown table {table!r}")
    sha = str(item["sha256"]).lower()
    if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
        raise ValueError(f"{table} {item['day']}: {sha!r} is not a SHA-256")
    rows = int(item["rows"])
    if rows < 0:
        raise ValueError(f"{table} {item['day']}: negative row count")
    return ManifestEntry(table, date.fromisoformat(str(item["day"])), rows, sha,
                         str(item["schema_revision"]), str(item["written_at"]))


def update_manifest(folder: Path, files: Sequence[ArchivedFile], *, schema_revision: str) -> Path:
    """Add ``files`` to ``folder``'s manifest (replacing entries of the same table and
    day) and write it back. An entry whose file did not change keeps its ``written_at``,
    and a manifest with nothing new is left untouched."""
    ensure_private_dir(folder)
    path = folder / MANIFEST_NAME
    old = {(e.table, e.day): e for e in read_manifest(folder)}
    merged = dict(old)
    now = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    for f in files:
        previous = old.get((f.table, f.day))
        unchanged = (previous is not None and previous.sha256 == f.sha256 and previous.rows == f.rows
                     and previous.schema_revision == schema_revision)
        merged[(f.table, f.day)] = previous if unchanged else ManifestEntry(
            f.table, f.day, f.rows, f.sha256, schema_revision, now)
    if merged == old and path.exists():
        return path
    document = {"format": FORMAT, "version": FORMAT_VERSION,
                "files": [merged[k].to_json() for k in sorted(merged, key=lambda k: (k[0], k[1]))]}
    write_private_atomically(path, (json.dumps(document, indent=2) + "\n").encode("utf-8"))
    return path


def write_private_atomically(path: Path, data: bytes | Iterable[bytes]) -> None:
    """Write ``path`` 0600 through a temp file in its folder, synced, then renamed over
    it: a reader sees the old file or the new one, never half of one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), FILE_MODE)  # os.open's mode is filtered by the umask
            for chunk in [data] if isinstance(data, bytes) else data:
                f.write(chunk)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    sync_folder(path.parent)


def sync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (POSIX: fsync the directory)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


__all__ = [
    "MANIFEST_NAME", "ArchiveError", "ArchivedFile", "ManifestEntry", "day_file_name", "read_manifest",
    "sha256_of", "sync_folder", "update_manifest", "write_private_atomically",
]
