"""``studio-analytics demo``: realistic data written through the tracker."""

from __future__ import annotations

import argparse
import sys

from sqlalchemy import func, select

from studio_analytics.config import resolve_db_url
from studio_analytics.db.engine import create_db_engine, safe_url, translate_error
from studio_analytics.db.models import AgentExecutionMetrics
from studio_analytics.db.schema_state import inspect_schema


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from studio_analytics.cli import add_db_argument

    p = sub.add_parser("demo", help="write realistic demo data through the tracker")
    add_db_argument(p)
    p.add_argument("--executions", type=int, default=5_000, help="agent runs to write (default 5000)")
    p.add_argument("--days", type=float, default=7.0, help="spread them over the last N days (default 7)")
    p.add_argument("--seed", type=int, default=None, help="make the data reproducible")
    p.add_argument("--if-empty", action="store_true", help="do nothing if the database already has executions")
    p.add_argument("--live", action="store_true", help="then keep writing a few runs per second until Ctrl-C")
    p.add_argument("--rate", type=float, default=3.0, help="runs per second with --live (default 3)")
    p.set_defaults(func=cmd_demo)


def existing_executions(url: str) -> int:
    """How many executions the database holds; 0 when it or its tables do not exist yet."""
    try:
        engine = create_db_engine(url, read_only=True)
    except Exception:  # noqa: BLE001 - a missing file is simply empty
        return 0
    try:
        with engine.connect() as conn:
            if not inspect_schema(conn).readable:
                return 0
            return int(conn.execute(select(func.count()).select_from(AgentExecutionMetrics)).scalar() or 0)
    finally:
        engine.dispose()


def cmd_demo(args: argparse.Namespace) -> int:
    from studio_analytics.demo.generator import backfill, live

    url = resolve_db_url(args.db)
    try:
        if args.if_empty and (n := existing_executions(url)):
            print(f"{safe_url(url)} already has {n:,} executions; no demo data written")
            return 0
        if args.executions > 0:
            print(f"writing ~{args.executions:,} demo executions over {args.days:g} days to {safe_url(url)} …",
                  file=sys.stderr)
            result = backfill(url, executions=args.executions, days=args.days, seed=args.seed)
            print(f"wrote {result.executions:,} executions in {result.sessions:,} sessions "
                  f"({result.workflows:,} workflows) in {result.seconds:.1f} s")
        if args.live:
            print("writing live executions; press Ctrl-C to stop", file=sys.stderr)
            try:
                n = live(url, per_second=args.rate, seed=args.seed)
            except KeyboardInterrupt:
                n = 0
            print(f"live mode stopped ({n:,} executions)" if n else "live mode stopped")
    except Exception as e:  # noqa: BLE001
        err = translate_error(e, url)
        print(f"error: {err.message}" + (f"\n  hint: {err.hint}" if err.hint else ""), file=sys.stderr)
        return 1
    return 0
