"""Archives of raw rows: one Parquet file per table per UTC day, with a manifest of their
checksums, written before a prune deletes the rows and read back by ``db restore``.

Beside ``analytics``: imports ``db``, never ``gui``. pyarrow (the ``archive`` extra) is
imported on first use only.
"""

from studio_analytics.archive.manifest import (
    ArchivedFile,
    ArchiveError,
    ManifestEntry,
    read_manifest,
)
from studio_analytics.archive.parquet_archive import (
    RestoreReport,
    archive_day,
    day_archiver,
    restore,
    update_manifest,
)

__all__ = [
    "ArchiveError", "ArchivedFile", "ManifestEntry", "RestoreReport", "archive_day", "day_archiver",
    "read_manifest", "restore", "update_manifest",
]
