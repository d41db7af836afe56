"""``studio-analytics show execution ID`` / ``show session ID``: one item in full."""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from typing import Any

from studio_analytics.analytics import execution_detail, session_detail
from studio_analytics.commands.failures import UsageError, database_errors
from studio_analytics.commands.options import db_url_from_args
from studio_analytics.commands.report import SCHEMA, to_jsonable
from studio_analytics.db.engine import create_db_engine
from studio_analytics.db.schema_state import require_metrics_tables


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from studio_analytics.cli import add_db_argument

    p = sub.add_parser("show", help="one execution (with its tool calls) or one session (with its executions)")
    p.add_argument("kind", choices=("execution", "session"))
    p.add_argument("id")
    add_db_argument(p)
    p.add_argument("--format", choices=("json", "table"), default="table")
    p.set_defaults(func=cmd_show)


def cmd_show(args: argparse.Namespace) -> int:
    url = db_url_from_args(args)
    if args.kind == "execution":
        try:
            key: Any = uuid.UUID(args.id)
        except ValueError:
            raise UsageError(f"{args.id!r} is not an execution id (a UUID)") from None
    else:
        key = args.id
    with database_errors(url):
        engine = create_db_engine(url, read_only=True)
        try:
            with engine.connect() as conn:
                require_metrics_tables(conn)
                item = execution_detail(conn, key) if args.kind == "execution" else session_detail(conn, key)
        finally:
            engine.dispose()
    if item is None:
        print(f"error: no {args.kind} {args.id} in this database", file=sys.stderr)
        return 1
    data = to_jsonable(item)
    if args.format == "json":
        json.dump({"schema": SCHEMA, "report": args.kind, "data": data}, sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
        return 0
    children = data.pop("tool_calls", None) or data.pop("executions", None) or []
    for key_, value in (data.get("session") or data).items() if args.kind == "session" else data.items():
        if not isinstance(value, dict | list):
            print(f"  {key_:26} {'—' if value is None else value}")
    for child in children:
        name = child.get("tool_name") or child.get("agent_name")
        ms = child.get("duration_ms")
        print(f"    {child['start_time'][11:23]}  {name:24} {child['status']:12} "
              f"{'—' if ms is None else f'{ms:,.1f} ms'}")
    return 0
