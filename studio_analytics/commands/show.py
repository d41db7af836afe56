"""``studio-analytics show execution ID`` / ``show session ID``: one item in full."""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from typing import Any

from studio_analytics.analytics.report_payload import detail_payload
from studio_analytics.commands.failures import UsageError, database_errors
from studio_analytics.commands.options import db_url_from_args
from studio_analytics.commands.report import usd
from studio_analytics.db.engine import create_db_engine
from studio_analytics.db.schema_state import require_metrics_tables


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from studio_analytics.cli import add_db_argument

    p = sub.add_parser("show", help="one execution (with its trace tree: sub-agents, tool and model calls) "
                                    "or one session (with its executions)")
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
                # the body of GET /api/analytics/executions/ID and /sessions/ID too
                payload = detail_payload(conn, args.kind, key)
        finally:
            engine.dispose()
    if payload is None:
        print(f"error: no {args.kind} {args.id} in this database", file=sys.stderr)
        return 1
    data = payload["data"]
    if args.format == "json":
        json.dump(payload, sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
        return 0
    if args.kind == "execution":
        print_execution(data)
        return 0
    children = data.pop("executions", None) or []
    for key_, value in (data.get("session") or data).items():
        if not isinstance(value, dict | list):
            print(f"  {key_:26} {'—' if value is None else value}")
    for child in children:
        name = child.get("tool_name") or child.get("agent_name")
        ms = child.get("duration_ms")
        print(f"    {child['start_time'][11:23]}  {name:24} {child['status']:12} "
              f"{'—' if ms is None else f'{ms:,.1f} ms'}")
    return 0


def print_execution(data: dict[str, Any]) -> None:
    """The execution's fields, then its trace tree: one line per span, indented by depth."""
    spans = data.pop("spans", None) or []
    truncated = data.pop("spans_truncated", False)
    for key, value in data.items():
        if not isinstance(value, dict | list):
            print(f"  {key:26} {'—' if value is None else value}")
    print(f"  trace ({len(spans)} spans{', cut at this many' if truncated else ''})")
    for line in tree_lines(spans):
        print(f"    {line}")


def tree_lines(spans: list[dict[str, Any]]) -> list[str]:
    """``kind name`` indented by depth, then duration, status, tokens and cost."""
    labels = [f"{'  ' * s['depth']}{s['kind']:9} {s['name']}" for s in spans]
    width = min(64, max((len(label) for label in labels), default=0))
    lines = []
    for label, s in zip(labels, spans, strict=True):
        ms = s.get("duration_ms")
        lines.append(f"{label[:width]:{width}}  {'—' if ms is None else f'{ms:,.1f} ms':>13}  {s['status']:11} "
                     f"{_tokens(s):24} {_cost(s)}".rstrip())
    return lines


def _tokens(span: dict[str, Any]) -> str:
    if span["kind"] == "model":
        n_in, n_out = span.get("input_tokens"), span.get("output_tokens")
        if n_in is None and n_out is None:
            return "tokens —"
        return f"in {n_in or 0:,} / out {n_out or 0:,}"
    if span["kind"] == "execution" and span.get("tokens_used") is not None:
        return f"tokens {span['tokens_used']:,}"
    return ""


def _cost(span: dict[str, Any]) -> str:
    if span["kind"] != "model":
        return ""
    return "unpriced" if span.get("cost_usd") is None else usd(span["cost_usd"])
