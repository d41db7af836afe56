"""``studio-analytics report NAME``: the window's figures as JSON or a table.

The JSON is the scriptable equivalent of Agent Studio's analytics REST endpoints; its
shape is ``{"schema": "studio-analytics/report/v1", "report": NAME, "range": {...},
"data": {...}}`` with ISO 8601 UTC times, UUIDs as strings and NaN as null.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import uuid
from datetime import datetime
from typing import Any

import numpy as np

from studio_analytics import analytics
from studio_analytics.analytics.results import TimeRange
from studio_analytics.commands.failures import database_errors
from studio_analytics.commands.options import (
    add_range_arguments,
    db_url_from_args,
    positive_count,
    range_from_args,
)
from studio_analytics.db.engine import create_db_engine
from studio_analytics.db.schema_state import require_metrics_tables

SCHEMA = "studio-analytics/report/v1"
REPORTS = ("summary", "agents", "tools", "workflows", "errors", "sessions", "health")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from studio_analytics.cli import add_db_argument

    p = sub.add_parser("report", help="print the window's figures as JSON or a table")
    p.add_argument("name", choices=REPORTS)
    add_db_argument(p)
    add_range_arguments(p)
    p.add_argument("--format", choices=("json", "table"), default="table")
    p.add_argument("--limit", type=positive_count, default=100, help="rows per table (default 100)")
    p.set_defaults(func=cmd_report)


def to_jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return [to_jsonable(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        return to_jsonable(value.item())
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if hasattr(value, "value") and isinstance(getattr(value, "value", None), str):  # enums
        return value.value
    return value


def run_report(conn: Any, name: str, tr: TimeRange, limit: int) -> Any:
    if name == "summary":
        return {"kpis": analytics.summary_kpis(conn, tr), "series": analytics.time_series(conn, tr)}
    if name == "agents":
        return analytics.agent_usage(conn, tr, limit=limit)
    if name == "tools":
        return analytics.tool_usage(conn, tr, limit=limit)
    if name == "workflows":
        return analytics.workflow_performance(conn, tr, limit=limit)
    if name == "errors":
        return analytics.error_analysis(conn, tr, limit=limit)
    return analytics.session_activity(conn, tr, limit=limit)


def cmd_report(args: argparse.Namespace) -> int:
    url = db_url_from_args(args)
    tr = range_from_args(args)
    with database_errors(url):
        engine = create_db_engine(url, read_only=True)
        try:
            if args.name == "health":
                data: Any = analytics.database_health(engine, url)
            else:
                with engine.connect() as conn:
                    require_metrics_tables(conn)
                    data = run_report(conn, args.name, tr, args.limit)
        finally:
            engine.dispose()
    payload = {
        "schema": SCHEMA, "report": args.name,
        "range": {"start": tr.start.isoformat(), "end": tr.end.isoformat(), "bucket": tr.bucket.value, "label": tr.label},
        "data": to_jsonable(data),
    }
    if args.format == "json":
        json.dump(payload, sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        print_table(payload)
    return 0


def print_table(payload: dict[str, Any]) -> None:
    data = payload["data"]
    print(f"{payload['report']} · {payload['range']['start'][:16]} → {payload['range']['end'][:16]} UTC")
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


def _cell(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"
    return str(value)[:60]
