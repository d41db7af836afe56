"""Raw rows to Parquet files, one per table per UTC day, and back.

Why Parquet (through pyarrow, the optional ``archive`` extra): it is the file analysts
already open — ``pandas.read_parquet``, ``polars.read_parquet``, DuckDB's
``SELECT * FROM 'archive/*/*.parquet'``, Spark's ``spark.read.parquet`` — with no
studio-analytics installed. It is columnar and compressed (zstd; repeated names and
statuses are dictionary-encoded), so a day of runs whose payloads repeat takes a fraction
of the database's bytes, and a reader that wants two columns reads only those. pyarrow
is the reference implementation, kept by the Apache Arrow project, with wheels for every
platform we ship on. CSV would lose the types (nulls, timestamps, JSON) and the size.

Each file holds every column of the table as the database has it (see
:mod:`studio_analytics.archive.columns` for each column's form: UUIDs as their 36-character
text, times as UTC microsecond timestamps, JSON columns as JSON text), ordered by
``start_time`` then the row's id, so the same rows always make the same bytes: archiving
a day again leaves its file as it was. Files are written to a temp name, synced and
renamed (a crash leaves the old file or none, never half of one), 0600 in 0700 folders.
A day's rows are held in memory while its file is written (Arrow buffers: about the
size of the compressed file times the compression ratio, tens of MB for a busy day).

:func:`restore` puts archived rows back: it checks every file against the manifest's
SHA-256 before writing anything, then inserts the rows whose ids are not in the table, in
batches of a few thousand rows, each its own short transaction (a tracker writing at the
same time waits for one batch at most). The rollups are not touched: a prune keeps them,
so they still count the pruned rows, and the restored raw rows bring the two back in step.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Table, inspect, select, text
from sqlalchemy.engine import Connection

from studio_analytics.archive.columns import (
    ARCHIVED_TABLES,
    SURROGATE_KEY,
    ColumnKind,
    archive_values,
    column_kinds,
    model_table,
    read_expression,
    wire_values,
)
from studio_analytics.archive.manifest import (
    MANIFEST_NAME,
    ArchivedFile,
    ArchiveError,
    ManifestEntry,
    day_file_name,
    read_manifest,
    sha256_of,
    sync_folder,
    update_manifest,
)
from studio_analytics.db.bulk import execute_values
from studio_analytics.db.errors import DatabaseError
from studio_analytics.db.schema_state import VERSION_TABLE, SchemaKind, inspect_schema
from studio_analytics.private_files import FILE_MODE, ensure_private_dir

#: Rows fetched (and written as one Parquet row group) at a time while archiving.
ARCHIVE_CHUNK_ROWS = 20_000
#: Rows inserted per transaction by a restore.
RESTORE_BATCH_ROWS = 2_000
COMPRESSION = "zstd"
_META = "studio_analytics."


def _pyarrow() -> tuple[Any, Any]:
    """pyarrow and pyarrow.parquet, imported on first use: the rest of the package works
    without the ``archive`` extra."""
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError as e:
        raise ArchiveError("Parquet archives need pyarrow, which is not installed",
                           hint="install studio-analytics[archive]") from e
    return pyarrow, pyarrow.parquet


def pyarrow_available() -> bool:
    try:
        _pyarrow()
    except ArchiveError:
        return False
    return True


# -- archiving ------------------------------------------------------------------------

def archive_day(conn: Connection, table: str, day: date, folder: Path) -> ArchivedFile:
    """Write every row of ``table`` whose ``start_time`` falls in the UTC ``day`` to
    ``folder/<table>/<YYYY-MM-DD>.parquet`` (a day without rows gives a file with none).

    Same rows, same bytes: an unchanged file is not rewritten. A file already there keeps
    its rows that are no longer in the database (archived and pruned before: a row of
    that day that arrived late and is archived now must not push them out); a row that
    is in both is taken from the database. ``ArchivedFile.rows`` counts the file's rows,
    ``kept`` those that came from the earlier file only."""
    pa, pq = _pyarrow()
    model = model_table(table)
    key = ARCHIVED_TABLES[table]
    present = {c["name"] for c in inspect(conn).get_columns(table)}
    # A database before revision 0003 lacks our extension columns: its files lack them too.
    columns = [c for c in column_kinds(table) if c.name in present]
    schema = _arrow_schema(pa, model, table, day, columns)
    dialect = conn.dialect.name
    first = datetime.combine(day, time.min, tzinfo=UTC)
    stmt = (select(*(read_expression(model, c, dialect) for c in columns))
            .where(model.c.start_time >= first, model.c.start_time < first + timedelta(days=1)))

    # yield_per on the statement, not the connection: the caller's connection keeps its options
    result = conn.execute(stmt.execution_options(yield_per=ARCHIVE_CHUNK_ROWS))
    batches = [pa.record_batch([archive_values(pa, c.kind, [r[i] for r in part], schema.field(i).type, dialect)
                                for i, c in enumerate(columns)], schema=schema)
               for part in result.partitions()]
    rows = pa.Table.from_batches(batches, schema=schema)
    target = folder / day_file_name(table, day)
    earlier = _rows_only_in_earlier_file(pa, pq, folder, table, day, rows, schema)
    if earlier is not None and earlier.num_rows:
        rows = pa.concat_tables([rows, earlier])
    # Sorted here, not by the database: one order (binary) whatever the dialect's collation.
    rows = rows.sort_by([("start_time", "ascending"), (key, "ascending")])

    folder_of_table = ensure_private_dir(ensure_private_dir(folder) / table)
    tmp = folder_of_table / f".{day.isoformat()}.parquet.{os.getpid()}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
        with os.fdopen(fd, "wb") as sink:
            os.fchmod(sink.fileno(), FILE_MODE)  # os.open's mode is filtered by the umask
            pq.write_table(rows, sink, compression=COMPRESSION, row_group_size=ARCHIVE_CHUNK_ROWS)
            sink.flush()
            os.fsync(sink.fileno())
        sha = sha256_of(tmp)
        if target.exists() and sha256_of(target) == sha:
            tmp.unlink()  # idempotent: the same rows were archived before
        else:
            os.replace(tmp, target)
            sync_folder(folder_of_table)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return ArchivedFile(table, day, target, rows.num_rows, sha,
                        kept=0 if earlier is None else earlier.num_rows)


def _rows_only_in_earlier_file(pa: Any, pq: Any, folder: Path, table: str, day: date, rows: Any,
                               schema: Any) -> Any:
    """The rows of the day's existing file whose id is not among ``rows`` (None: no file).
    A file that no longer matches its manifest entry is not merged into a new one."""
    path = folder / day_file_name(table, day)
    if not path.is_file():
        return None
    listed = {(e.table, e.day): e for e in read_manifest(folder)}.get((table, day))
    if listed is not None and sha256_of(path) != listed.sha256:
        raise ArchiveError(f"{path} was changed after it was archived: it was left as it is and this day "
                           "was not archived again",
                           hint="put back the original file from a copy of the archive, or move it aside")
    import pyarrow.compute as pc

    old = pq.read_table(path)
    key = ARCHIVED_TABLES[table]
    extra = [n for n in old.column_names if n not in schema.names]
    if extra:
        raise ArchiveError(f"{path} has columns this database does not ({', '.join(extra)}): it was left as it "
                           "is and this day was not archived again",
                           hint="upgrade the database (`studio-analytics db upgrade`) first")
    old = old.filter(pc.invert(pc.is_in(old.column(key), value_set=rows.column(key))))
    # An earlier file from an older schema lacks columns: nulls, as a restore would leave them.
    columns = [old.column(f.name).cast(f.type) if f.name in old.column_names else pa.nulls(old.num_rows, f.type)
               for f in schema]
    return pa.Table.from_arrays(columns, schema=schema)


def _arrow_schema(pa: Any, model: Table, table: str, day: date, columns: Sequence[ColumnKind]) -> Any:
    types = {"uuid": pa.string(), "time": pa.timestamp("us", tz="UTC"), "json": pa.string(),
             "int": pa.int64(), "float": pa.float64(), "bool": pa.bool_(), "text": pa.string()}
    fields = []
    for c in columns:
        # Field metadata says which strings are UUIDs or JSON (a restore reads them back so).
        meta = {f"{_META}kind": c.kind} if c.kind in ("uuid", "json") else None
        fields.append(pa.field(c.name, types[c.kind], nullable=bool(model.c[c.name].nullable), metadata=meta))
    return pa.schema(fields, metadata={f"{_META}table": table, f"{_META}day": day.isoformat(),
                                       f"{_META}id_column": ARCHIVED_TABLES[table]})


def database_revision(conn: Connection) -> str:
    """The schema revision of one of our databases (our Alembic version table)."""
    revision = conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()
    return str(revision) if revision is not None else "none"


def day_archiver(folder: Path) -> Callable[[Connection, str, date], int]:
    """The ``archive`` callback of :func:`studio_analytics.db.retention.prune`: archives
    one table's day and records it in the manifest before returning the rows written, so
    a day is listed (with its checksum) before any of its rows is deleted."""

    def archive(conn: Connection, table: str, day: date) -> int:
        written = archive_day(conn, table, day, folder)
        update_manifest(folder, [written], schema_revision=database_revision(conn))
        # the rows of the database the file holds (what the prune counted); rows pruned
        # before and kept in the file are not among them
        return written.rows_from_database

    return archive


# -- restoring ------------------------------------------------------------------------

@dataclass(frozen=True)
class RestoreReport:
    files: tuple[ManifestEntry, ...]  # the manifest entries restored from, in order
    #: per table: rows inserted, and rows of the files whose id was in the table already
    restored: Mapping[str, int] = field(default_factory=dict)
    already_present: Mapping[str, int] = field(default_factory=dict)
    #: rows inserted with a new surrogate ``id`` (theirs was taken, or beyond what the
    #: database has handed out: an archive restored into another database)
    renumbered: Mapping[str, int] = field(default_factory=dict)
    #: Parquet files in the folder that the manifest does not list (not restored)
    unlisted: tuple[Path, ...] = ()

    @property
    def rows_restored(self) -> int:
        return sum(self.restored.values())


def restore(conn: Connection, folder: Path, *, start: date | None = None, end: date | None = None,
            batch_rows: int = RESTORE_BATCH_ROWS,
            on_file: Callable[[ManifestEntry, int, int], None] | None = None) -> RestoreReport:
    """Insert the archived rows of the days ``start``..``end`` (inclusive; default all)
    whose ids are not in their table yet. Every file is checked against the manifest
    first: a missing or changed one stops the restore before anything is written.

    ``conn`` must not be inside a transaction of the caller's: each batch is committed
    on its own. Stopped halfway, a restore run again inserts the rest.
    ``on_file(entry, restored, already_present)`` is called after each file."""
    require_restorable(conn)
    if not (folder / MANIFEST_NAME).is_file():
        raise ArchiveError(f"{folder}: no {MANIFEST_NAME} here, so nothing can be checked or restored",
                           hint="point at the folder given to `db prune --archive`")
    entries = tuple(sorted((e for e in read_manifest(folder)
                            if (start is None or e.day >= start) and (end is None or e.day <= end)),
                           key=lambda e: (e.day, list(ARCHIVED_TABLES).index(e.table))))
    missing_tables = sorted({e.table for e in entries} - set(inspect(conn).get_table_names()))
    if missing_tables:
        raise DatabaseError(f"This database has no {', '.join(missing_tables)} table for the archived rows",
                            hint="run `studio-analytics db upgrade --db URL` first")
    for entry in entries:  # every file before the first write
        path = _entry_path(folder, entry)
        if not path.is_file():
            raise ArchiveError(f"{path} is listed in the manifest but missing: nothing was restored",
                               hint="put it back from a copy of the archive, or leave that day out with "
                                    "--from/--to")
        _check_file(folder, entry, sha256_of(path))
    unlisted = _unlisted_files(folder, {(e.table, e.day) for e in read_manifest(folder)}, start, end)
    if conn.in_transaction():
        conn.rollback()  # only the reads above: each batch below is its own transaction

    pa, pq = _pyarrow()
    restored = dict.fromkeys(ARCHIVED_TABLES, 0)
    present = dict.fromkeys(ARCHIVED_TABLES, 0)
    renumbered = dict.fromkeys(ARCHIVED_TABLES, 0)
    for entry in entries:
        path = _entry_path(folder, entry)
        data = path.read_bytes()
        # Checked again on the very bytes restored: the file may have changed since.
        _check_file(folder, entry, hashlib.sha256(data).hexdigest(),
                    "nothing was restored from it (the files before it were)")
        arrow = pq.read_table(pa.BufferReader(data))
        if arrow.num_rows != entry.rows:
            raise ArchiveError(f"{path} holds {arrow.num_rows:,} rows, its manifest entry {entry.rows:,}",
                               hint="the archive is damaged; restore the folder from a backup")
        before = restored[entry.table], present[entry.table]
        _restore_file(conn, entry.table, path, arrow, batch_rows, restored, present, renumbered)
        if on_file is not None:
            on_file(entry, restored[entry.table] - before[0], present[entry.table] - before[1])
    used = {e.table for e in entries}
    return RestoreReport(entries, {t: n for t, n in restored.items() if t in used},
                         {t: n for t, n in present.items() if t in used},
                         {t: n for t, n in renumbered.items() if t in used}, unlisted)


def require_restorable(conn: Connection) -> None:
    """Raise :class:`DatabaseError` unless ``conn`` is one of our databases (an Agent
    Studio database is never written). Reads only."""
    state = inspect_schema(conn)
    if state.kind is SchemaKind.AGENT_STUDIO:
        raise DatabaseError("This is an Agent Studio database: studio-analytics reads it but never changes it, "
                            "so nothing was restored",
                            hint="restore into a studio-analytics database (`studio-analytics db upgrade --db URL` "
                                 "creates one)")
    if state.kind is not SchemaKind.STUDIO:
        raise DatabaseError("This database has no studio-analytics metrics tables, so nothing was restored",
                            hint="run `studio-analytics db upgrade --db URL` to create them")


def _entry_path(folder: Path, entry: ManifestEntry) -> Path:
    # Built from the table and day, never from a path in the manifest: a file outside
    # the folder is never read.
    return folder / day_file_name(entry.table, entry.day)


def _check_file(folder: Path, entry: ManifestEntry, found_sha: str,
                consequence: str = "nothing was restored") -> None:
    path = _entry_path(folder, entry)
    if found_sha != entry.sha256:
        raise ArchiveError(
            f"{path} was changed after it was archived (its SHA-256 is {found_sha}, the manifest records "
            f"{entry.sha256}): {consequence}",
            hint="put back the original file from a copy of the archive, or leave that day out with --from/--to")


def _unlisted_files(folder: Path, listed: set[tuple[str, date]], start: date | None,
                    end: date | None) -> tuple[Path, ...]:
    out = []
    for table in ARCHIVED_TABLES:
        for path in sorted((folder / table).glob("*.parquet")):
            try:
                day = date.fromisoformat(path.stem)
            except ValueError:
                out.append(path)
                continue
            if (table, day) not in listed and (start is None or day >= start) and (end is None or day <= end):
                out.append(path)
    return tuple(out)


def _restore_file(conn: Connection, table: str, path: Path, arrow: Any, batch_rows: int,
                  restored: dict[str, int], present: dict[str, int], renumbered: dict[str, int]) -> None:
    kinds = {c.name: c.kind for c in column_kinds(table)}
    names = list(arrow.column_names)
    columns_in_db = {c["name"] for c in inspect(conn).get_columns(table)}
    if conn.in_transaction():
        conn.rollback()
    foreign = [n for n in names if n not in kinds or n not in columns_in_db]
    key = ARCHIVED_TABLES[table]
    if foreign or key not in names:
        problem = (f"columns the table does not have: {', '.join(foreign)}" if foreign
                   else f"no {key} column")
        raise ArchiveError(f"{path} has {problem}",
                           hint="upgrade the database (`studio-analytics db upgrade`), or check the file")
    model = model_table(table)
    dialect = conn.dialect.name
    pa, _ = _pyarrow()
    for batch in arrow.to_batches(max_chunksize=batch_rows):
        # Converted before the transaction: the write lock is held for the inserts only.
        columns = [wire_values(pa, kinds[n], batch.column(i), dialect) for i, n in enumerate(names)]
        rows = list(zip(*columns, strict=True))
        try:
            if dialect == "sqlite":
                # The write lock from the start: no tracker inserts between the batch's
                # look at which ids are free and its insert.
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            done, seen, new_ids = _restore_batch(conn, model, key, kinds[key], names, rows)
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
        restored[table] += done
        present[table] += seen
        renumbered[table] += new_ids


def _restore_batch(conn: Connection, model: Table, key: str, key_kind: str, names: list[str],
                   rows: list[tuple[Any, ...]]) -> tuple[int, int, int]:
    """Insert the rows (wire values in ``names`` order) whose ``key`` is not in the table:
    (inserted, already there, renumbered)."""
    k = names.index(key)
    there = _keys_present(conn, model.name, key, key_kind, [r[k] for r in rows])
    missing = [r for r in rows if r[k] not in there]
    if not missing:
        return 0, len(rows), 0
    keep, renumber = missing, []
    if SURROGATE_KEY in names:
        keep, renumber = _split_by_free_id(conn, model, names.index(SURROGATE_KEY), missing)
    quote = conn.dialect.identifier_preparer.quote
    inserted = 0
    for part, cols in ((keep, names), (renumber, [n for n in names if n != SURROGATE_KEY])):
        if not part:
            continue
        if len(cols) < len(names):
            at = names.index(SURROGATE_KEY)
            part = [r[:at] + r[at + 1:] for r in part]
        head = f"INSERT INTO {quote(model.name)} ({', '.join(quote(n) for n in cols)})"
        # A row of the same id written meanwhile (another restore) is skipped, not an error.
        count = execute_values(conn, (head, f"ON CONFLICT ({quote(key)}) DO NOTHING"), part)
        inserted += count if count >= 0 else len(part)
    return inserted, len(rows) - inserted, len(renumber)


def _keys_present(conn: Connection, table: str, key: str, key_kind: str, keys: list[Any]) -> set[Any]:
    """Which of ``keys`` (wire values) the table holds, in the same wire form."""
    quote = conn.dialect.identifier_preparer.quote
    found: set[Any] = set()
    if conn.dialect.name == "postgresql":
        # ids come back as the canonical text the restore binds
        column, bound = (f"{quote(key)}::text", "CAST(%s AS uuid[])") if key_kind == "uuid" else (quote(key), "%s")
        found.update(v for (v,) in conn.exec_driver_sql(
            f"SELECT {column} FROM {quote(table)} WHERE {quote(key)} = ANY({bound})", (keys,)))
        return found
    for i in range(0, len(keys), 500):
        chunk = keys[i:i + 500]
        found.update(v for (v,) in conn.exec_driver_sql(
            f"SELECT {quote(key)} FROM {quote(table)} WHERE {quote(key)} IN ({', '.join('?' * len(chunk))})",
            tuple(chunk)))
    return found


def _split_by_free_id(conn: Connection, model: Table, at: int, rows: list[tuple[Any, ...]]
                      ) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Rows that can keep their surrogate id (position ``at``), and rows that get a new
    one. An id is kept when no row has it and no writer can draw it meanwhile: on SQLite
    any free id (the batch holds the write lock, and a new row takes the highest id + 1);
    on PostgreSQL ids the sequence has handed out already (at most its last value), which
    ``nextval`` never returns again. Nothing refers to these ids; rows are known by their
    UUIDs."""
    ident = model.c[SURROGATE_KEY]
    if conn.dialect.name == "postgresql":
        last = conn.execute(
            text("SELECT pg_sequence_last_value(CAST(pg_get_serial_sequence(:t, :c) AS regclass))"),
            {"t": model.name, "c": SURROGATE_KEY}).scalar()
        ceiling: float = int(last or 0)
    else:
        ceiling = math.inf
    wanted = [r[at] for r in rows if r[at] is not None and r[at] <= ceiling]
    taken = set(conn.execute(select(ident).where(ident.in_(wanted))).scalars()) if wanted else set()
    keep, renumber = [], []
    for r in rows:
        value = r[at]
        (keep if value is not None and value <= ceiling and value not in taken else renumber).append(r)
    return keep, renumber


__all__ = [
    "ARCHIVED_TABLES", "ArchiveError", "ArchivedFile", "RestoreReport", "archive_day", "database_revision",
    "day_archiver", "pyarrow_available", "read_manifest", "require_restorable", "restore", "update_manifest",
]
