"""Command-line options shared by the commands, and the checks that make a bad value a
one-line usage error (exit 2) instead of a traceback deeper down."""

from __future__ import annotations

import argparse
import math
import re
from datetime import UTC, datetime, timedelta

from sqlalchemy import make_url
from sqlalchemy.engine import URL
from sqlalchemy.exc import ArgumentError

from studio_analytics import analytics
from studio_analytics.analytics.results import TimeRange
from studio_analytics.analytics.timerange import parse_time
from studio_analytics.commands.failures import UsageError
from studio_analytics.config import resolve_db_url

#: Longest look-back: a century of history is more than any metrics database holds,
#: and keeps the range and its previous period (the KPIs' comparison) far inside
#: what a datetime can hold.
MAX_DAYS = 36_525
#: Explicit bounds must lie in this window (POSIX time, representable everywhere).
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9999, 1, 1, tzinfo=UTC)
_PASSWORD = re.compile(r"(://[^:/@]*:)[^@/]*@")


def positive_number(text: str, *, maximum: float = math.inf) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    # float() accepts "nan" and "inf"; neither is a length of time or a rate.
    if not math.isfinite(value) or value <= 0 or value > maximum:
        limit = f" up to {maximum:,g}" if math.isfinite(maximum) else ""
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number{limit}")
    return value


def days(text: str) -> float:
    """``--days``: a finite number of days, more than 0 and at most :data:`MAX_DAYS`."""
    return positive_number(text, maximum=MAX_DAYS)


def count(text: str) -> int:
    """A whole number of at least 0 (``--executions``)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is negative")
    return value


def positive_count(text: str) -> int:
    """A whole number of at least 1 (``--limit``)."""
    value = count(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def iso_time(text: str) -> datetime:
    """``--start``/``--end``: an ISO 8601 date or date-time (naive = UTC), 1970-9998."""
    try:
        value = parse_time(text)
    except (ValueError, OverflowError) as e:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO date or time ({e})") from None
    if not EARLIEST <= value < LATEST:
        raise argparse.ArgumentTypeError(f"{text!r} is outside 1970-01-01 .. 9998-12-31")
    return value


def add_range_arguments(parser: argparse.ArgumentParser) -> None:
    when = parser.add_mutually_exclusive_group()
    when.add_argument("--days", type=days, help=f"look back N days (default 7; at most {MAX_DAYS:,})")
    when.add_argument("--range", dest="preset", choices=("24h", "7d", "30d"))
    when.add_argument("--start", type=iso_time, help="ISO start (naive = UTC); with --end")
    parser.add_argument("--end", type=iso_time, help="ISO end (default now); with --start or --days")


def range_from_args(args: argparse.Namespace) -> TimeRange:
    """The range the options ask for; :class:`UsageError` with a readable message if it is not one."""
    if args.end is not None and args.preset:
        raise UsageError("--end goes with --start or --days, not --range")
    try:
        if args.start is not None or args.end is not None:
            tr = analytics.time_range(start_date=args.start, end_date=args.end, days=args.days)
        elif args.preset:
            tr = analytics.time_range(preset=args.preset)
        else:
            tr = analytics.time_range(days=args.days)
    except (ValueError, OverflowError) as e:
        raise UsageError(str(e)) from None
    if tr.end - tr.start > timedelta(days=MAX_DAYS):
        raise UsageError(f"the range {tr.start:%Y-%m-%d} .. {tr.end:%Y-%m-%d} is longer than {MAX_DAYS:,} days")
    if tr.start < EARLIEST:
        raise UsageError(f"the range starts {tr.start:%Y-%m-%d}, before 1970-01-01")
    return tr


def db_url_from_args(args: argparse.Namespace) -> str:
    """The database URL ``--db`` (or the environment) names, checked for mistakes the
    drivers would report late or obscurely (a port above 65535, ``sqlite://name``)."""
    url = resolve_db_url(getattr(args, "db", None))
    problem = url_problem(url)
    if problem:
        raise UsageError(f"bad database URL {mask_password(url)}: {problem}")
    return url


def url_problem(url: str) -> str | None:
    """What is wrong with ``url``, or None when it looks usable."""
    try:
        parsed = make_url(url)
    except ValueError:  # int() of the port
        return "its port is not a number"
    except ArgumentError:
        return "not a URL (use sqlite:///PATH, a file path, or postgresql://USER@HOST/DB)"
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return _sqlite_problem(parsed)
    if backend == "postgresql":
        return _postgres_problem(parsed)
    return f"unsupported database {backend!r} (studio-analytics reads SQLite files and PostgreSQL servers)"


def _sqlite_problem(url: URL) -> str | None:
    if url.host or url.username or url.port:
        return ("a SQLite URL has no host: write sqlite:///relative/path or sqlite:////absolute/path "
                "(three or four slashes), or just the file path")
    if not url.database or url.database == ":memory:":
        return "it names no SQLite file (an in-memory database would be empty)"
    return None


def _postgres_problem(url: URL) -> str | None:
    if url.port is not None and not 1 <= url.port <= 65535:
        return f"port {url.port} is outside 1-65535"
    if url.username == "":
        return "the user name is empty (postgresql://USER@HOST/DB)"
    if not url.host and not url.database and not url.query:
        return "it names neither a host nor a database (postgresql://USER@HOST/DB)"
    return None


def mask_password(url: str) -> str:
    """``url`` with any password replaced by ``***``, even when it does not parse."""
    return _PASSWORD.sub(r"\1***@", url)
