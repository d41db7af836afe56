"""``studio-analytics export TABLE -o FILE.csv``: every row of a range, in constant memory."""

from __future__ import annotations

import argparse
import sys
import time

from studio_analytics.analytics.results import ExecutionFilter
from studio_analytics.commands.options import add_range_arguments, range_from_args
from studio_analytics.config import resolve_db_url
from studio_analytics.db.engine import create_db_engine, translate_error
from studio_analytics.db.schema_state import require_metrics_tables
from studio_analytics.export.csv_export import TABLES, ExportCancelled, stream_table_csv


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from studio_analytics.cli import add_db_argument

    p = sub.add_parser("export", help="stream every row of a time range to a CSV file")
    p.add_argument("table", choices=tuple(TABLES))
    p.add_argument("-o", "--output", required=True, metavar="FILE.csv")
    add_db_argument(p)
    add_range_arguments(p)
    for name in ("agent", "tool", "status", "session", "user", "text"):
        p.add_argument(f"--{name}", help=f"executions only: filter by {name}")
    p.set_defaults(func=cmd_export)


def cmd_export(args: argparse.Namespace) -> int:
    url = resolve_db_url(args.db)
    try:
        tr = range_from_args(args)
        filters = ExecutionFilter(agent_name=args.agent, tool_name=args.tool, status=args.status,
                                  session_id=args.session, user_id=args.user, text=args.text)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    tty = sys.stderr.isatty()
    started = time.monotonic()

    def progress(done: int, total: int | None) -> bool:
        if tty and total:
            filled = int(30 * done / total)
            sys.stderr.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {done:,}/{total:,} rows")
            sys.stderr.flush()
        return True

    try:
        engine = create_db_engine(url, read_only=True)
        with engine.connect() as conn:
            require_metrics_tables(conn)
            n = stream_table_csv(conn, args.table, tr, args.output, filters=filters, progress=progress)
        engine.dispose()
    except ExportCancelled as e:
        print(f"\n{e}", file=sys.stderr)
        return 1
    except Exception as e:  # noqa: BLE001
        err = translate_error(e, url)
        print(f"error: {err.message}" + (f"\n  hint: {err.hint}" if err.hint else ""), file=sys.stderr)
        return 1
    if tty:
        sys.stderr.write("\n")
    print(f"wrote {n:,} {args.table} rows to {args.output} in {time.monotonic() - started:.1f} s")
    return 0
