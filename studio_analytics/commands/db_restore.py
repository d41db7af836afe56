"""``studio-analytics db restore DIR [--from DATE] [--to DATE]``: load archived days (the
Parquet files ``db prune --archive DIR`` wrote) back into the database.

Every file is checked against the manifest's SHA-256 before anything is written; a
changed or missing file stops the restore and is named. Rows whose id is in the table
already are skipped, so restoring twice adds nothing. The rollups are left as they are:
the prune kept them, so they already count the restored rows. An Agent Studio database
is refused (studio-analytics never changes one).
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

from studio_analytics.archive.manifest import ArchiveError
from studio_analytics.archive.parquet_archive import (
    RestoreReport,
    pyarrow_available,
    require_restorable,
    restore,
)
from studio_analytics.commands.failures import UsageError, database_errors
from studio_analytics.commands.options import db_url_from_args
from studio_analytics.db.engine import create_db_engine, safe_url
from studio_analytics.db.rollups import rollup_drift, rollups_available


def iso_date(text: str) -> date:
    """``--from``/``--to``: a UTC day, ``YYYY-MM-DD``."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def add_restore_parser(db_sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from studio_analytics.cli import add_db_argument

    parser = db_sub.add_parser("restore", help="load archived days (written by `db prune --archive`) back; "
                                               "rows already in the database are skipped")
    parser.add_argument("archive_dir", metavar="DIR", type=Path, help="the archive folder (holds manifest.json)")
    add_db_argument(parser)
    parser.add_argument("--from", dest="start", type=iso_date, metavar="DATE",
                        help="first UTC day to restore, YYYY-MM-DD (default: the archive's first)")
    parser.add_argument("--to", dest="end", type=iso_date, metavar="DATE",
                        help="last UTC day to restore, included (default: the archive's last)")
    parser.set_defaults(func=cmd_restore)


def cmd_restore(args: argparse.Namespace) -> int:
    if args.start is not None and args.end is not None and args.start > args.end:
        raise UsageError(f"--from {args.start} is after --to {args.end}")
    folder: Path = args.archive_dir
    url = db_url_from_args(args)
    try:
        if not pyarrow_available():  # said before the database is opened
            raise ArchiveError("Parquet archives need pyarrow, which is not installed",
                               hint="install studio-analytics[archive]")
        if not folder.is_dir():
            raise ArchiveError(f"{folder}: no such folder", hint="give the folder `db prune --archive` wrote")
        with database_errors(url):
            _refuse_before_writing(url)
            engine = create_db_engine(url)
            try:
                with engine.connect() as conn:
                    report = restore(conn, folder, start=args.start, end=args.end)
                    drift = rollup_drift(conn) if rollups_available(conn) else None
            finally:
                engine.dispose()
    except ArchiveError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    _print_report(url, folder, args, report, drift)
    return 0


def _refuse_before_writing(url: str) -> None:
    """An Agent Studio or foreign database is refused through a read-only engine, and a
    SQLite file that does not exist is an error, not a new empty database."""
    engine = create_db_engine(url, read_only=True)
    try:
        with engine.connect() as conn:
            require_restorable(conn)
    finally:
        engine.dispose()


def _print_report(url: str, folder: Path, args: argparse.Namespace, report: RestoreReport,
                  drift: dict[str, int] | None) -> None:
    print(f"database:  {safe_url(url)}")
    print(f"archive:   {folder}")
    if not report.files:
        asked = f" between {args.start or '…'} and {args.end or '…'}" if args.start or args.end else ""
        print(f"no archived days{asked}: nothing restored")
    else:
        days = sorted({e.day for e in report.files})
        print(f"days:      {days[0]} .. {days[-1]} ({_plural(len(days), 'day')}, "
              f"{_plural(len(report.files), 'file')}, checksums verified)")
        for table, restored in report.restored.items():
            renumbered = report.renumbered.get(table, 0)
            note = f" ({renumbered:,} with a new id)" if renumbered else ""
            print(f"{table:26} {restored:>10,} restored {report.already_present[table]:>10,} already there{note}")
    for path in report.unlisted:
        print(f"warning: {path} is not in the manifest (no checksum to verify): not restored", file=sys.stderr)
    if drift is not None:
        pruned = ", ".join(f"{t} {-n:,}" for t, n in drift.items() if n < 0)
        uncounted = ", ".join(f"{t} {n:,}" for t, n in drift.items() if n > 0)
        if pruned:
            print(f"rollups:   still count rows pruned and not restored (kept for the charts): {pruned}")
        if uncounted:
            print(f"rollups:   do not count some raw rows (restored into a database that never counted them, "
                  f"or not rolled up yet): {uncounted}")


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


__all__ = ["add_restore_parser", "cmd_restore", "iso_date"]
