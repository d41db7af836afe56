"""Reading a time range from hourly rollups plus the raw rows of its partial hours.

A range is cut into the whole UTC hours it covers — read from the rollup tables — and
at most two partial hours at its ends, read from the raw rows with the same
aggregates. Each figure is still one SQL statement: the parts are a ``UNION ALL``
aggregated once more. Without rollup tables (an Agent Studio database, a connection
with ``studio_analytics_rollups=False``) or without a whole hour in the range, the
whole range is read from raw rows, and percentiles are exact.

Percentiles from rollups come from the log-bucketed latency histograms: the bucket
that holds the nearest-rank value, reported at its geometric middle (within
:data:`~studio_analytics.db.rollups.PERCENTILE_RELATIVE_ERROR`, 4.4%).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, bindparam, case, func, select, true, union_all
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from studio_analytics.analytics.results import TimeRange
from studio_analytics.db.rollups import (
    DAY_S,
    HOUR_S,
    bucket_value,
    latency_bucket_sql,
    rollups_available,
)

Span = tuple[datetime, datetime]


@dataclass(frozen=True, slots=True)
class RangeSplit:
    """``hours``: [first, end) whole hours in POSIX seconds, or None to read raw rows only;
    ``edges``: the spans read from raw rows."""

    hours: tuple[int, int] | None
    edges: tuple[Span, ...]
    #: whether whole UTC days fit in ``hours`` (then daily histograms can be read)
    days: tuple[int, int] | None = None

    def histogram_spans(self) -> tuple[tuple[int, int] | None, list[tuple[int, int, int]]]:
        """How to read the whole hours from histograms: a span of whole days from the
        daily table, and hour spans ``(first, end, sign)`` from the hourly table.

        A partial day at either end that covers more than half its day is read as the
        whole day minus the hours outside the range (histogram counts subtract
        exactly), so at most 12 hourly rows per key are read at each end.
        """
        assert self.hours is not None
        first, end = self.hours
        if self.days is None:
            return None, [(first, end, 1)]
        day0, day1 = self.days
        hourly: list[tuple[int, int, int]] = []
        if first < day0:
            if day0 - first > DAY_S // 2:
                hourly.append((day0 - DAY_S, first, -1))
                day0 -= DAY_S
            else:
                hourly.append((first, day0, 1))
        if day1 < end:
            if end - day1 > DAY_S // 2:
                hourly.append((end, day1 + DAY_S, -1))
                day1 += DAY_S
            else:
                hourly.append((day1, end, 1))
        return (day0, day1), hourly

    @property
    def uses_rollups(self) -> bool:
        return self.hours is not None

    @property
    def shape(self) -> tuple[Any, ...]:
        """What the SQL depends on; the times themselves are bound parameters (:meth:`params`)."""
        if self.hours is None:
            return (len(self.edges),)
        days, spans = self.histogram_spans()
        return len(self.edges), days is not None, tuple(sign for *_, sign in spans)

    def params(self) -> dict[str, Any]:
        """Values of the bind parameters that :func:`within`, :func:`hours_within` and
        :func:`histogram_percentiles` put in the statements."""
        out: dict[str, Any] = {}
        for i, (start, end) in enumerate(self.edges):
            out[f"e{i}_start"], out[f"e{i}_end"] = start, end
        if self.hours is not None:
            out["h_first"], out["h_end"] = self.hours
            days, spans = self.histogram_spans()
            if days is not None:
                out["d_first"], out["d_end"] = days
            for i, (first, end, _) in enumerate(spans):
                out[f"hs{i}_first"], out[f"hs{i}_end"] = first, end
        return out


def raw_only(tr: TimeRange) -> RangeSplit:
    return RangeSplit(None, ((tr.start, tr.end),))


def split_range(conn: Connection, tr: TimeRange) -> RangeSplit:
    first = -(-int(tr.start.timestamp()) // HOUR_S) * HOUR_S
    if tr.start.timestamp() > first:  # sub-second start inside the hour
        first += HOUR_S
    end = int(tr.end.timestamp()) // HOUR_S * HOUR_S
    if end <= first or not rollups_available(conn):
        return raw_only(tr)
    first_dt, end_dt = datetime.fromtimestamp(first, UTC), datetime.fromtimestamp(end, UTC)
    edges = tuple(span for span in ((tr.start, first_dt), (end_dt, tr.end)) if span[0] < span[1])
    day0, day1 = -(-first // DAY_S) * DAY_S, end // DAY_S * DAY_S
    return RangeSplit((first, end), edges, (day0, day1) if day1 > day0 else None)


def within(column: Any, edge: int) -> ColumnElement[bool]:
    """``column`` inside raw span number ``edge`` of the split (bound parameters)."""
    return (column >= bindparam(f"e{edge}_start")) & (column < bindparam(f"e{edge}_end"))


def hours_within(hour_column: Any, split: RangeSplit) -> ColumnElement[bool]:
    assert split.hours is not None
    return (hour_column >= bindparam("h_first")) & (hour_column < bindparam("h_end"))


def cached_statement(key: tuple[Any, ...], build: Callable[[], Any]) -> Any:
    """The statement for ``key`` (query name, dialect, split shape, options), built once.

    Statements take every time as a bound parameter, so one object serves every
    refresh: building and hashing the ~1,500 SQL elements of a dashboard refresh cost
    ~30 ms of Python a time."""
    stmt = _STATEMENTS.get(key)
    if stmt is None:
        if len(_STATEMENTS) > 512:
            _STATEMENTS.clear()
        stmt = _STATEMENTS[key] = build()
    return stmt


_STATEMENTS: dict[tuple[Any, ...], Any] = {}


def combined(split: RangeSplit, raw: Callable[[ColumnElement[bool]], Select[Any]], raw_time: Any,
             rolled: Select[Any] | None, hour_column: Any) -> Any:
    """A subquery of the raw parts (``raw(where)`` per edge span) and the rollup part,
    with identical column labels; the caller aggregates it once more."""
    parts = [raw(within(raw_time, i)) for i in range(len(split.edges))]
    if split.hours is not None and rolled is not None:
        parts.append(rolled.where(hours_within(hour_column, split)))
    return (union_all(*parts) if len(parts) > 1 else parts[0]).subquery()


@dataclass(frozen=True, slots=True)
class Histogram:
    """Where a latency histogram lives: hourly table, optional daily table, the key
    expression for a (table, period column) and an optional filter per table."""

    hourly: Any
    daily: Any | None
    key: Callable[[Any, str], Any]
    where: Callable[[Any], Any] = lambda _model: true()


def histogram_percentiles(conn: Connection, split: RangeSplit, fractions: Sequence[float], *,
                          raw_key: Any, raw_value: Any, raw_time: Any, raw_filter: Any,
                          histogram: Histogram, keys_disjoint: bool = False) -> Any:
    """Subquery ``key, p<NN>...`` where each ``p<NN>`` is a histogram *bucket* (convert
    with :func:`bucket_value`): the first bucket whose cumulative count reaches
    ``fraction * n`` — the bucket holding the nearest-rank value. Whole days are read
    from the daily table when there is one (see :meth:`RangeSplit.histogram_spans`),
    other whole hours from the hourly table. ``keys_disjoint``: no key appears in two
    parts (keys are the hours themselves), so the parts need no adding up."""
    agg = histogram_counts(conn, split, raw_key=raw_key, raw_value=raw_value, raw_time=raw_time,
                           raw_filter=raw_filter, histogram=histogram, keys_disjoint=keys_disjoint)
    cum = select(
        agg.c.key, agg.c.b,
        func.sum(agg.c.n).over(partition_by=agg.c.key, order_by=agg.c.b).label("cum"),
        func.sum(agg.c.n).over(partition_by=agg.c.key).label("total"),
    ).subquery()
    cols = [func.min(case((cum.c.cum >= f * cum.c.total, cum.c.b))).label(f"p{round(f * 100)}") for f in fractions]
    return select(cum.c.key, *cols).group_by(cum.c.key).subquery()


def histogram_counts(conn: Connection, split: RangeSplit, *, raw_key: Any, raw_value: Any, raw_time: Any,
                     raw_filter: Any, histogram: Histogram, keys_disjoint: bool = False) -> Any:
    """Subquery ``key, b, n``: the range's latency histogram per key — raw edge rows
    bucketed in SQL plus the whole hours (and days) from the histogram tables (see
    :func:`histogram_percentiles`). A raw-only split reads its one span from raw rows."""
    dialect = conn.dialect.name
    parts = []
    for i in range(len(split.edges)):
        bucket = latency_bucket_sql(dialect, raw_value)
        parts.append(
            select(raw_key.label("key"), bucket.label("b"), func.count().label("n"))
            .where(within(raw_time, i), raw_value.isnot(None), raw_filter)
            .group_by(raw_key, bucket)
        )
    if split.hours is None:
        u = union_all(*parts).subquery() if len(parts) > 1 else parts[0].subquery()
        return select(u.c.key, u.c.b, func.sum(u.c.n).label("n")).group_by(u.c.key, u.c.b).subquery()
    hourly = histogram.hourly
    if histogram.daily is not None:
        days, spans = split.histogram_spans()
        hour_spans = [(bindparam(f"hs{i}_first"), bindparam(f"hs{i}_end"), sign) for i, (*_, sign) in enumerate(spans)]
    else:
        days, hour_spans = None, [(bindparam("h_first"), bindparam("h_end"), 1)]
    if days is not None:
        daily = histogram.daily
        parts.append(
            select(histogram.key(daily, "day").label("key"), daily.bucket.label("b"), daily.n.label("n"))
            .where(daily.day >= bindparam("d_first"), daily.day < bindparam("d_end"), histogram.where(daily))
        )
    for first, end, sign in hour_spans:
        parts.append(
            select(histogram.key(hourly, "hour").label("key"), hourly.bucket.label("b"),
                   (hourly.n if sign > 0 else -hourly.n).label("n"))
            .where(hourly.hour >= first, hourly.hour < end, histogram.where(hourly))
        )
    u = union_all(*parts).subquery()
    if keys_disjoint:
        agg = u  # each (key, bucket) comes from one part only: nothing to add up
    else:
        agg = select(u.c.key, u.c.b, func.sum(u.c.n).label("n")).group_by(u.c.key, u.c.b).having(
            func.sum(u.c.n) > 0).subquery()
    return agg


def by_name(column: str) -> Callable[[Any, str], Any]:
    """Histogram key: a name column of the rollup table (agent_name, tool_name...)."""
    return lambda model, _period: getattr(model, column)


def percentile_value(split: RangeSplit, value: Any) -> float | None:
    """A percentile column's value as milliseconds (a bucket number when from rollups)."""
    if value is None:
        return None
    return bucket_value(int(value)) if split.uses_rollups else float(value)


def mean(total: Any, count: Any) -> ColumnElement[Any]:
    """``sum / count`` as a float on both dialects (SQLite divides integers as integers)."""
    return func.sum(total) * 1.0 / func.nullif(func.sum(count), 0)


def zsum(column: Any) -> ColumnElement[Any]:
    return func.coalesce(func.sum(column), 0)


def hour_bucket(hour: Any, size: int) -> Any:
    """An hour column's time bucket of ``size`` seconds (integer division on both
    dialects; SQLAlchemy's "/" would divide as floats)."""
    return hour if size == HOUR_S else hour.op("/")(size) * size
