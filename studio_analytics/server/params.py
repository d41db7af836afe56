"""Query parameters of the API, checked here so a bad value is a 422 naming the parameter
and what was wrong, never a traceback from deeper down.

The range follows the original design: ``start_date``/``end_date`` (ISO 8601 date or
date-time; naive = UTC) win over ``days``; ``end_date`` defaults to now; ``days``
(default 7) counts back from the end. The same :func:`~studio_analytics.analytics.time_range`
as the CLI builds it, so the CLI's ``--start/--end/--days`` give the same range.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from studio_analytics.analytics.models import BREAKDOWNS
from studio_analytics.analytics.results import TimeRange
from studio_analytics.analytics.timerange import PRESETS, parse_time, time_range

DEFAULT_DAYS = 7
#: Longest range, by ``days`` or by explicit bounds: ten years, far more than a metrics
#: database keeps, and a day-bucketed series of at most 3,650 points.
MAX_DAYS = 3650
MAX_LIMIT = 10_000
DEFAULT_LIMIT = 100
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9999, 1, 1, tzinfo=UTC)


class ParamError(ValueError):
    """A bad query parameter: answered 422 with ``parameter`` and the message."""

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(f"{parameter}: {message}")
        self.parameter = parameter
        self.message = message


@dataclass(frozen=True)
class RangeQuery:
    """The range a request asks for, normalised (the cache key's part)."""

    start: datetime | None
    end: datetime | None
    days: int
    preset: str | None = None  # the dashboard's 24h / 7d / 30d

    @property
    def open(self) -> bool:
        """Ends "now": the same request gives another range a moment later."""
        return self.end is None

    def key(self) -> tuple[str, str, int, str]:
        return (self.start.isoformat() if self.start else "", self.end.isoformat() if self.end else "", self.days,
                self.preset or "")

    def resolve(self, now: datetime | None = None) -> TimeRange:
        if self.preset is not None:
            return time_range(preset=self.preset, now=now)
        if self.start is not None or self.end is not None:
            tr = time_range(start_date=self.start, end_date=self.end, days=self.days, now=now)
        else:
            tr = time_range(days=self.days, now=now)
        return tr



def parse_range(start_date: str | None, end_date: str | None, days: str | None) -> RangeQuery:
    start = _iso("start_date", start_date)
    end = _iso("end_date", end_date)
    n = _whole("days", days, DEFAULT_DAYS, MAX_DAYS, "days")
    if start is not None and end is not None and start >= end:
        raise ParamError("start_date", f"{start_date} is not before end_date {end_date}")
    query = RangeQuery(start, end, n)
    try:
        tr = query.resolve()  # a start_date after now (no end_date) is caught here
    except (ValueError, OverflowError) as e:
        raise ParamError("start_date" if start is not None else "days", str(e)) from None
    if tr.end - tr.start > timedelta(days=MAX_DAYS):
        raise ParamError("start_date", f"the range {tr.start:%Y-%m-%d} .. {tr.end:%Y-%m-%d} is longer than "
                                       f"{MAX_DAYS:,} days")
    if tr.start < EARLIEST:
        raise ParamError("days", f"the range starts {tr.start:%Y-%m-%d}, before 1970-01-01")
    return query


def parse_preset(value: str | None) -> str | None:
    """The dashboard's ``range``: 24h, 7d or 30d."""
    if value is None or value == "":
        return None
    if value not in PRESETS:
        raise ParamError("range", f"{value!r} is not one of {', '.join(PRESETS)}")
    return value


def parse_limit(value: str | None) -> int:
    return _whole("limit", value, DEFAULT_LIMIT, MAX_LIMIT, "rows")


def parse_by(value: str | None) -> str:
    if value is None or value == "":
        return "model"
    if value not in BREAKDOWNS:
        raise ParamError("by", f"{value!r} is not one of {', '.join(BREAKDOWNS)}")
    return value


def parse_at(value: str | None) -> datetime | None:
    return _iso("at", value)


def parse_execution_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise ParamError("execution_id", f"{value!r} is not an execution id (a UUID)") from None


def parse_session_id(value: str) -> str:
    if not value.strip() or len(value) > 512:
        raise ParamError("session_id", "must be 1 to 512 characters")
    return value


def _iso(name: str, value: str | None) -> datetime | None:
    if value is None or value == "":
        return None
    try:
        parsed = parse_time(value)
    except (ValueError, OverflowError) as e:
        raise ParamError(name, f"{value!r} is not an ISO 8601 date or date-time ({e})") from None
    if not EARLIEST <= parsed < LATEST:
        raise ParamError(name, f"{value!r} is outside 1970-01-01 .. 9998-12-31")
    return parsed


def _whole(name: str, value: str | None, default: int, maximum: int, unit: str) -> int:
    if value is None or value == "":
        return default
    text = value.strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 9 or not 1 <= int(text) <= maximum:
        raise ParamError(name, f"{value!r} is not a whole number of {unit} from 1 to {maximum:,}")
    return int(text)
