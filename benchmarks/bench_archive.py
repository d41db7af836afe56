"""Archive to Parquet and restore, against CSV and a plain read measured in the same run.

    python -m benchmarks.bench_archive [--executions 100000] [--days 5] [--pg SERVER_URL]

Takes the cached database of :mod:`benchmarks.bench_analytics` (``.bench/analytics-models-N.sqlite3``:
N executions, 3N tool usages, 3N model calls over 30 days; built if missing) and, on a copy:

1. archives the oldest ``--days`` UTC days of every raw table (``archive.parquet_archive.day_archiver``,
   what ``db prune --archive`` runs) and times it; the baseline is the same rows written as CSV
   (``csv.writer`` over ``SELECT *``), the format an analyst would get without Parquet;
2. prunes those days (``retention.prune`` with no load), then ``db restore``'s ``restore()``
   puts them back and times it; the baseline is reading the same Parquet files alone;
3. checks that the restored rows are the rows archived (row counts per table and day).

Prints rows/s, bytes on disk (the SQLite share of those rows as ``db prune --dry-run`` estimates
it, Parquet, CSV) and the ratios. ``--pg``: the same on a copy of the cached PostgreSQL database
(``CREATE DATABASE … TEMPLATE``), dropped at the end.

Rows of the archived days that the prune keeps (sessions that go on past the cutoff) are in
the archive too; the check counts every table's rows before the cutoff before and after.
"""

from __future__ import annotations

import argparse
import csv
import shutil
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text

from benchmarks.bench_analytics import build, copy_postgres
from studio_analytics.archive.columns import ARCHIVED_TABLES
from studio_analytics.archive.parquet_archive import _pyarrow, day_archiver, restore
from studio_analytics.db.engine import create_db_engine
from studio_analytics.db.retention import day_cutoff, plan_prune, prune


def _days(engine: Any, n: int) -> tuple[list[date], datetime]:
    with engine.connect() as conn:
        oldest = conn.execute(text("SELECT min(start_time) FROM agent_execution_metrics")).scalar()
    oldest = datetime.fromisoformat(str(oldest)) if not isinstance(oldest, datetime) else oldest
    first = day_cutoff(oldest if oldest.tzinfo else oldest.replace(tzinfo=UTC))
    cutoff = first + timedelta(days=n)
    return [(first + timedelta(days=k)).date() for k in range(n)], cutoff


def _day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return start, start + timedelta(days=1)


def _rows_before(conn: Any, cutoff: datetime) -> dict[str, int]:
    return {t: int(conn.execute(text(f"SELECT count(*) FROM {t} WHERE start_time < :c"), {"c": cutoff}).scalar() or 0)
            for t in ARCHIVED_TABLES}


def _csv_baseline(engine: Any, days: list[date], folder: Path) -> tuple[int, float, int]:
    """The same rows as CSV files (rows, seconds, bytes)."""
    rows = size = 0
    started = time.perf_counter()
    with engine.connect() as conn:
        for day in days:
            lo, hi = _day_bounds(day)
            for table in ARCHIVED_TABLES:
                path = folder / f"{table}-{day}.csv"
                result = conn.execute(text(f"SELECT * FROM {table} WHERE start_time >= :lo AND start_time < :hi"),
                                      {"lo": lo, "hi": hi})
                with open(path, "w", newline="", encoding="utf-8") as f:
                    w = csv.writer(f)
                    w.writerow(result.keys())
                    for row in result:
                        w.writerow(row)
                        rows += 1
                size += path.stat().st_size
    return rows, time.perf_counter() - started, size


def measure(url: str, days_n: int, label: str) -> None:
    engine = create_db_engine(url)
    days, cutoff = _days(engine, days_n)
    with engine.connect() as conn:
        plan = plan_prune(conn, cutoff=cutoff)
        before = _rows_before(conn, cutoff)
    print(f"[{label}] {days_n} oldest days {days[0]} .. {days[-1]}: {plan.total_rows:,} raw rows, about "
          f"{plan.bytes_estimate / 1e6:,.1f} MB of the database")
    work = Path(tempfile.mkdtemp(prefix="bench-archive-"))
    try:
        archive_dir, csv_dir = work / "archive", work / "csv"
        csv_dir.mkdir()
        archiver = day_archiver(archive_dir)
        archived = 0
        started = time.perf_counter()
        for day in days:
            for table in ARCHIVED_TABLES:
                with engine.connect() as conn:
                    archived += archiver(conn, table, day)
        archive_s = time.perf_counter() - started
        parquet_bytes = sum(p.stat().st_size for p in archive_dir.rglob("*.parquet"))
        csv_rows, csv_s, csv_bytes = _csv_baseline(engine, days, csv_dir)
        print(f"[{label}] archive: {archived:,} rows in {archive_s:.1f} s = {archived / archive_s:,.0f} rows/s, "
              f"{parquet_bytes / 1e6:,.1f} MB of Parquet; CSV baseline: {csv_rows:,} rows in {csv_s:.1f} s = "
              f"{csv_rows / csv_s:,.0f} rows/s, {csv_bytes / 1e6:,.1f} MB")
        print(f"[{label}] Parquet vs CSV: {csv_bytes / parquet_bytes:.1f}x smaller, {csv_s / archive_s:.2f}x the "
              f"speed; vs the database's share: {plan.bytes_estimate / parquet_bytes:.1f}x smaller")

        report = prune(engine, cutoff=cutoff, pause_ms=0)
        print(f"[{label}] pruned {report.rows:,} rows in {report.seconds:.1f} s (no other writer, no pause)")

        pa, pq = _pyarrow()
        started = time.perf_counter()
        read_rows = sum(pq.read_table(p).num_rows for p in sorted(archive_dir.rglob("*.parquet")))
        read_s = time.perf_counter() - started
        with engine.connect() as conn:
            started = time.perf_counter()
            restored = restore(conn, archive_dir)
            restore_s = time.perf_counter() - started
        n = restored.rows_restored
        print(f"[{label}] restore: {n:,} rows in {restore_s:.1f} s = {n / restore_s:,.0f} rows/s; reading the "
              f"Parquet files alone: {read_rows:,} rows in {read_s:.2f} s ({restore_s / read_s:.0f}x faster than "
              f"the restore: the rest is the database's inserts and id checks)")
        with engine.connect() as conn:
            back = _rows_before(conn, cutoff)
        print(f"[{label}] rows before the cutoff after the restore: " + ", ".join(f"{t} {n:,}" for t, n in back.items())
              + f" ({'the same as' if back == before else 'NOT the same as'} before the prune)")
    finally:
        engine.dispose()
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--executions", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=5, help="oldest UTC days archived and restored")
    parser.add_argument("--pg", metavar="SERVER_URL", help="also on a copy of the cached PostgreSQL database")
    args = parser.parse_args(argv)
    source = Path(".bench") / f"analytics-models-{args.executions}.sqlite3"
    source.parent.mkdir(exist_ok=True)
    build(source, args.executions, model_calls=True)
    folder = Path(tempfile.mkdtemp(prefix="bench-archive-", dir=source.parent))
    try:
        copy = folder / "archive.sqlite3"
        shutil.copyfile(source, copy)
        measure(f"sqlite:///{copy}", args.days, "sqlite")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    if args.pg:
        url, drop = copy_postgres(args.pg, args.executions, "archive_copy")
        try:
            measure(url, args.days, "postgres")
        finally:
            drop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
