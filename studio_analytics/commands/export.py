"""``studio-analytics export TABLE -o FILE.csv``: every row of a range, in constant memory.

The file is created private (0600) and appears only when complete: rows go to a
temporary file beside it, renamed over FILE.csv at the end (see
:mod:`studio_analytics.export.files`). Text cells a spreadsheet would run as formulas
are neutralised unless ``--raw-csv`` (see :mod:`studio_analytics.export.csv_export`).
"""

from __future__ import annotations

import argparse
import sys
import time

from studio_analytics.analytics.results import ExecutionFilter
from studio_analytics.commands.failures import UsageError, database_errors
from studio_analytics.commands.options import add_range_arguments, db_url_from_args, range_from_args
from studio_analytics.db.engine import create_db_engine
from studio_analytics.db.models import Status
from studio_analytics.db.schema_state import require_metrics_tables
from studio_analytics.export.csv_export import TABLES, ExportCancelled, stream_table_csv

FILTERS = ("agent", "tool", "status", "session", "user", "text")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from studio_analytics.cli import add_db_argument

    p = sub.add_parser(
        "export", help="stream every row of a time range to a CSV file",
        description="Stream every row of a time range to a CSV file, created private (0600) and "
                    "renamed into place only when complete. Text cells starting with = + - @, a tab or "
                    "a carriage return get a leading ' so spreadsheets show them as text instead of "
                    "running them as formulas; --raw-csv writes the stored values unchanged.")
    p.add_argument("table", choices=tuple(TABLES))
    p.add_argument("-o", "--output", required=True, metavar="FILE.csv")
    add_db_argument(p)
    add_range_arguments(p)
    for name in FILTERS:
        choices = [s.value for s in Status] if name == "status" else None
        p.add_argument(f"--{name}", choices=choices, help=f"executions only: filter by {name}")
    p.add_argument("--raw-csv", action="store_true",
                   help="write text cells exactly as stored, for programs rather than spreadsheets "
                        "(by default cells starting with = + - @ tab or CR get a leading ')")
    p.set_defaults(func=cmd_export)


def execution_filter(args: argparse.Namespace) -> ExecutionFilter:
    given = [f"--{name}" for name in FILTERS if getattr(args, name)]
    if given and args.table != "executions":
        raise UsageError(f"{', '.join(given)} filter executions only, not {args.table}")
    return ExecutionFilter(agent_name=args.agent, tool_name=args.tool, status=args.status,
                           session_id=args.session, user_id=args.user, text=args.text)


def cmd_export(args: argparse.Namespace) -> int:
    url = db_url_from_args(args)
    tr = range_from_args(args)
    filters = execution_filter(args)
    tty = sys.stderr.isatty()
    started = time.monotonic()

    def progress(done: int, total: int | None) -> bool:
        if tty and total:
            filled = int(30 * done / total)
            sys.stderr.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {done:,}/{total:,} rows")
            sys.stderr.flush()
        return True

    try:
        with database_errors(url):
            engine = create_db_engine(url, read_only=True)
            try:
                with engine.connect() as conn:
                    require_metrics_tables(conn)
                    n = stream_table_csv(conn, args.table, tr, args.output, filters=filters, progress=progress,
                                         escape_formulas=not args.raw_csv)
            finally:
                engine.dispose()
    except ExportCancelled as e:
        print(f"\n{e}", file=sys.stderr)
        return 1
    finally:
        if tty:
            sys.stderr.write("\n")  # end the progress bar's line, whatever happened
    print(f"wrote {n:,} {args.table} rows to {args.output} in {time.monotonic() - started:.1f} s")
    return 0
