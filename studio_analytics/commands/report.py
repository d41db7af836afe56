"""``studio-analytics report NAME``: the window's figures as JSON or a table.

The JSON is the body of the same figure's endpoint of ``studio-analytics serve``: both are
built by :mod:`studio_analytics.analytics.report_payload`. Its shape is ``{"schema":
"studio-analytics/report/v1", "report": NAME, "range": {...}, "data": {...}}`` with ISO
8601 UTC times, UUIDs as strings and NaN as null.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import sys
from typing import Any

from studio_analytics.analytics.heatmap import WEEKDAYS
from studio_analytics.analytics.models import BREAKDOWNS
from studio_analytics.analytics.report_payload import (
    REPORTS,
    SCHEMA,  # noqa: F401 - `show` and scripts import it from here
    health_data,
    report_data,
    to_jsonable,  # noqa: F401 - `show` and scripts import it from here
    wrap_payload,
)
from studio_analytics.analytics.results import CostBreakdownRow, ModelUsageRow
from studio_analytics.analytics.users import UserActivityRow
from studio_analytics.commands.failures import UsageError, database_errors
from studio_analytics.commands.options import (
    add_range_arguments,
    db_url_from_args,
    positive_count,
    range_from_args,
)
from studio_analytics.db.engine import create_db_engine
from studio_analytics.db.schema_state import require_metrics_tables
from studio_analytics.export.csv_export import write_rows_csv

#: Reports with one table of rows, which ``--format csv`` can write.
CSV_REPORTS = ("models", "cost", "users")
NO_MODEL_CALLS = ("no model calls in this database (an Agent Studio database, or ours before revision 0003: "
                  "`studio-analytics db upgrade` adds them)")
#: The columns the table form shows, where the first nine fields would leave out what matters.
TABLE_COLUMNS = {
    "models": ("model", "calls", "failures", "p50_duration_ms", "p95_duration_ms", "p50_ttft_ms", "input_tokens",
               "output_tokens", "cost_usd", "cost_per_1k_calls", "unpriced_calls", "priced"),
    "cost": ("key", "calls", "input_tokens", "output_tokens", "cost_usd", "unpriced_calls"),
}


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from studio_analytics.cli import add_db_argument

    p = sub.add_parser("report", help="print the window's figures as JSON or a table")
    p.add_argument("name", choices=REPORTS)
    add_db_argument(p)
    add_range_arguments(p)
    p.add_argument("--format", choices=("json", "table", "csv"), default="table",
                   help="csv: report models and report cost only (text cells that a spreadsheet would run "
                        "as formulas get a leading ')")
    p.add_argument("--limit", type=positive_count, default=100, help="rows per table (default 100)")
    p.add_argument("--user", help="report heatmap: one user's executions (default: everyone's)")
    p.add_argument("--by", choices=BREAKDOWNS, help="report cost: per model (default), agent, user, session or "
                                                    "UTC day")
    p.set_defaults(func=cmd_report)


#: Kept under this name: tests replace it to stand for a bug in a report.
run_report = report_data


def cmd_report(args: argparse.Namespace) -> int:
    url = db_url_from_args(args)
    tr = range_from_args(args)
    if args.by is not None and args.name != "cost":
        raise UsageError(f"--by goes with report cost, not report {args.name}")
    if args.user is not None and args.name != "heatmap":
        raise UsageError(f"--user goes with report heatmap, not report {args.name}")
    if args.format == "csv" and args.name not in CSV_REPORTS:
        raise UsageError(f"--format csv is for report {' and report '.join(CSV_REPORTS)}; "
                         f"use --format json for report {args.name}")
    with database_errors(url):
        engine = create_db_engine(url, read_only=True)
        try:
            if args.name == "health":
                data: Any = health_data(engine, url)
            else:
                with engine.connect() as conn:
                    require_metrics_tables(conn)
                    data = run_report(conn, args.name, tr, args.limit, args.by, args.user)
        finally:
            engine.dispose()
    if args.format == "csv":
        if data is None:
            print(NO_MODEL_CALLS, file=sys.stderr)
        elif data.rows:
            write_rows_csv(sys.stdout, data.rows)
        else:  # the header alone: a program reading the file still finds its columns
            row_type = {"models": ModelUsageRow, "users": UserActivityRow}.get(args.name, CostBreakdownRow)
            csv.writer(sys.stdout).writerow([f.name for f in dataclasses.fields(row_type)])
        return 0
    payload = wrap_payload(args.name, tr, data)
    if args.format == "json":
        json.dump(payload, sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        print_table(payload)
    return 0


def print_table(payload: dict[str, Any]) -> None:
    data = payload["data"]
    print(f"{payload['report']} · {payload['range']['start'][:16]} → {payload['range']['end'][:16]} UTC")
    if payload["report"] in TABLE_COLUMNS:
        print_cost_table(payload["report"], data)
        return
    if payload["report"] == "heatmap":
        print_heatmap(data)
        return
    rows = None
    for key in ("rows", "groups", "recent"):
        if isinstance(data, dict) and isinstance(data.get(key), list):
            rows = data[key]
            break
    if rows is None:
        flat = data.get("kpis", data) if isinstance(data, dict) else data
        for key, value in flat.items():
            if isinstance(value, dict) and "value" in value:
                value = f"{_cell(value['value'])} (previous {_cell(value['previous'])})"
            print(f"  {key:26} {_cell(value)}")
        return
    if not rows:
        print("  (no rows in this range)")
        return
    columns = [c for c in rows[0] if not isinstance(rows[0][c], list | dict)][:9]
    widths = {c: max(len(c), *(len(_cell(r[c])) for r in rows)) for c in columns}
    print("  " + "  ".join(c.ljust(widths[c]) for c in columns))
    for r in rows:
        print("  " + "  ".join(_cell(r[c]).ljust(widths[c]) for c in columns))


def print_heatmap(data: dict[str, Any]) -> None:
    """Executions per weekday (rows) and hour of day (columns), then failures the same way."""
    who = f"user {data['user_id']}" if data["user_id"] is not None else "all users"
    for title in ("executions", "failures"):
        grid = data[title]
        width = max(3, *(len(str(n)) for row in grid for n in row))
        print(f"  {title} by weekday and hour ({data['zone']}), {who}")
        print("       " + " ".join(str(h).rjust(width) for h in range(24)))
        for day, row in zip(WEEKDAYS, grid, strict=True):
            print(f"  {day}  " + " ".join(str(n).rjust(width) for n in row))


def print_cost_table(report: str, data: dict[str, Any] | None) -> None:
    """``report models`` / ``report cost``: the rows, then what the range cost and what is
    unpriced (unpriced calls are never shown as $0)."""
    if data is None:
        print(f"  {NO_MODEL_CALLS}")
        return
    if report == "cost":
        print(f"  by {data['by']}")
    rows = data["rows"]
    columns = TABLE_COLUMNS[report]
    if not rows:
        print("  (no model calls in this range)")
    else:
        cells = [[_cost_cell(c, r[c]) for c in columns] for r in rows]
        widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
        print(("  " + "  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))).rstrip())
        for row in cells:
            print(("  " + "  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True))).rstrip())
        if data["total_rows"] > len(rows):
            print(f"  ({len(rows)} of {data['total_rows']} rows; --limit N for more)")
    t = data["totals"]
    print(f"  total: {t['calls']:,} calls, {t['input_tokens']:,} tokens in, {t['output_tokens']:,} out, "
          f"{usd(t['cost_usd'])} for {t['priced_calls']:,} priced calls")
    if t["unpriced_calls"]:
        print(f"  unpriced: {t['unpriced_calls']:,} calls ({t['unpriced_input_tokens']:,} tokens in, "
              f"{t['unpriced_output_tokens']:,} out) have no known cost and are not in the total")


def _cost_cell(column: str, value: Any) -> str:
    if column == "cost_usd":
        return "unpriced" if value is None else usd(value)
    if column == "cost_per_1k_calls":
        return "—" if value is None else usd(value)
    if column == "priced":
        return "yes" if value else "no price"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return _cell(value)


def usd(value: float) -> str:
    """Dollars with the digits a small cost needs ($0.000016, not $0.0000)."""
    if value == 0 or abs(value) >= 100:
        return f"${value:,.2f}"
    return f"${value:,.4f}" if abs(value) >= 0.01 else f"${value:.6f}"


def _cell(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"
    return str(value)[:60]
