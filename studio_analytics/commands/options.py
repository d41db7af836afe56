"""Command-line options shared by the reporting commands."""

from __future__ import annotations

import argparse

from studio_analytics import analytics
from studio_analytics.analytics.results import TimeRange


def add_range_arguments(parser: argparse.ArgumentParser) -> None:
    when = parser.add_mutually_exclusive_group()
    when.add_argument("--days", type=float, help="look back N days (default 7)")
    when.add_argument("--range", dest="preset", choices=("24h", "7d", "30d"))
    when.add_argument("--start", help="ISO start (naive = UTC); with --end")
    parser.add_argument("--end", help="ISO end (default now)")


def range_from_args(args: argparse.Namespace) -> TimeRange:
    """The range the options ask for; ValueError with a readable message if it is not one."""
    if args.start:
        return analytics.time_range(start_date=args.start, end_date=args.end)
    if args.preset:
        return analytics.time_range(preset=args.preset)
    return analytics.time_range(days=args.days)
