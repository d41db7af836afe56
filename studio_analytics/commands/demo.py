"""``studio-analytics demo``: realistic data written through the tracker."""

from __future__ import annotations

import argparse
import sys
import time
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from studio_analytics.commands.failures import database_errors
from studio_analytics.commands.options import (
    count,
    days,
    db_url_from_args,
    iso_time,
    positive_number,
)
from studio_analytics.db.engine import create_db_engine, safe_url
from studio_analytics.db.models import AgentExecutionMetrics
from studio_analytics.db.schema_state import inspect_schema

if TYPE_CHECKING:
    from studio_analytics.demo.generator import DemoResult


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from studio_analytics.cli import add_db_argument

    p = sub.add_parser("demo", help="write realistic demo data through the tracker")
    add_db_argument(p)
    p.add_argument("--executions", type=count, default=None,
                   help=f"agent runs to write (default {DEFAULT_EXECUTIONS}; with --live on a database that "
                        "has executions already, none)")
    p.add_argument("--days", type=days, default=DEFAULT_DAYS,
                   help=f"spread them over the last N days (default {DEFAULT_DAYS:g}: two 7-day periods, so "
                        "the window's first view has a previous period to compare with)")
    p.add_argument("--seed", type=int, default=None,
                   help="make the data reproducible: with --end too, every run writes the same rows")
    p.add_argument("--end", type=iso_time, default=None, metavar="TIME",
                   help="end the history at this ISO time (naive = UTC; default now). The daily rhythm and "
                        "the incidents follow the hours of the day, so without it two seeded runs a few "
                        "seconds apart can differ")
    p.add_argument("--if-empty", action="store_true", help="do nothing if the database already has executions")
    p.add_argument("--live", action="store_true", help="then keep writing a few runs per second until Ctrl-C")
    p.add_argument("--rate", type=rate, default=3.0, help="runs per second with --live (default 3, at most 1000)")
    p.set_defaults(func=cmd_demo)


DEFAULT_EXECUTIONS = 5_000
DEFAULT_DAYS = 14.0


def rate(text: str) -> float:
    return positive_number(text, maximum=1_000)


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


def backfill_outcome(result: DemoResult) -> tuple[str, bool]:
    """What the backfill achieved, in one line, and whether every row reached the
    database: the tracker spools rows a broken database refuses, so "tracked" is not
    "written"."""
    what = (f"{result.executions:,} executions in {result.sessions:,} sessions "
            f"({result.workflows:,} workflows) in {result.seconds:.1f} s")
    s = result.tracker
    if s is None:
        return f"wrote {what}", True
    waiting = (s.spool_pending if s.spool_pending >= 0 else s.spooled) + s.queued
    if not (waiting or s.dropped or s.rejected):
        return f"wrote {what}", True
    problems = [f"{n:,} rows {verb}" for n, verb in (
        (waiting, "are waiting in the spool"), (s.dropped, "were dropped"),
        (s.rejected, "were rejected by the database")) if n]
    cause = f" (database error: {s.last_error})" if s.last_error else ""
    return (f"tracked {what}, but only {s.written + s.replayed:,} of {s.enqueued + s.dropped:,} rows reached the database; "
            f"{'; '.join(problems)}{cause}"), False


def cmd_demo(args: argparse.Namespace) -> int:
    from studio_analytics.demo.generator import backfill, live

    url = db_url_from_args(args)
    end_ns = None
    if args.end is not None:
        end_ns = int(args.end.timestamp()) * 1_000_000_000 + args.end.microsecond * 1_000
        if end_ns > time.time_ns():
            print(f"--end {args.end:%Y-%m-%d %H:%M:%S} UTC is in the future; the demo writes history up to now "
                  "at the latest", file=sys.stderr)
            return 2
    with database_errors(url):
        if args.if_empty and (n := existing_executions(url)):
            print(f"{safe_url(url)} already has {n:,} executions; no demo data written")
            return 0
        executions = args.executions
        if executions is None:
            # `demo --live` on a seeded database goes live; it does not add another history.
            executions = 0 if args.live and existing_executions(url) else DEFAULT_EXECUTIONS
        if executions > 0:
            print(f"writing ~{executions:,} demo executions over {args.days:g} days to {safe_url(url)} …",
                  file=sys.stderr)
            line, complete = backfill_outcome(backfill(url, executions=executions, days=args.days,
                                                       seed=args.seed, end_ns=end_ns))
            print(line, file=sys.stdout if complete else sys.stderr)
            if not complete:
                return 1  # no live mode on top of a database that does not take the rows
        if args.live:
            print("writing live executions; press Ctrl-C to stop", file=sys.stderr)
            try:
                n = live(url, per_second=args.rate, seed=args.seed)
            except KeyboardInterrupt:
                n = 0
            print(f"live mode stopped ({n:,} executions)" if n else "live mode stopped")
    return 0
