"""The SQL behind alert figures: sums and p95 per member over a window, the same over
past sample windows (the baseline), and runs stuck in progress.

A window ``[start, end)`` is read like every other range (:mod:`analytics.rollup_sources`):
its whole UTC hours from the hourly rollups, its partial hours at either end from raw
rows. Baseline samples are whole hours, so they come from the rollups alone, all
samples of a source in one statement (the sample spans are a small ``UNION ALL`` joined
on the hour). Without rollups (an Agent Studio database, or a connection told to read
raw rows) the same statements read the raw rows. Every statement only reads rows that
started before the evaluation's ``now``, so a past ``now`` sees what was known then.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, func, literal, or_, select, true, union_all
from sqlalchemy.engine import Connection

from studio_analytics.alerts.sources import SUMS, Source
from studio_analytics.analytics.results import Bucket, TimeRange
from studio_analytics.analytics.rollup_sources import Histogram as HistogramTables
from studio_analytics.analytics.rollup_sources import (
    by_name,
    cached_statement,
    combined,
    histogram_counts,
    raw_only,
    split_range,
)
from studio_analytics.analytics.sql import status_in
from studio_analytics.db.models import IN_PROGRESS_VALUES
from studio_analytics.db.rollups import (
    bucket_value,
    latency_bucket_sql,
    model_rollups_available,
    rollups_available,
)

P95 = 0.95


@dataclass(frozen=True, slots=True)
class Sums:
    n: int = 0
    finished: int = 0
    errors: int = 0
    timeouts: int = 0
    api_errors: int = 0
    tokens: int = 0
    cost: float = 0.0

    def __add__(self, other: Sums) -> Sums:
        return Sums(self.n + other.n, self.finished + other.finished, self.errors + other.errors,
                    self.timeouts + other.timeouts, self.api_errors + other.api_errors, self.tokens + other.tokens,
                    self.cost + other.cost)

    @classmethod
    def of(cls, row: Any) -> Sums:
        m = row._mapping
        return cls(*(int(m[k] or 0) for k in SUMS[:-1]), float(m["cost"] or 0.0))


def reads_rollups(conn: Connection, source: Source) -> bool:
    """Whether this source's whole hours come from its rollup on this connection."""
    return model_rollups_available(conn) if source.needs_model_calls else rollups_available(conn)


def _split(conn: Connection, source: Source, start: datetime, end: datetime) -> Any:
    tr = TimeRange(start, end, Bucket.HOUR, "alert")
    split = split_range(conn, tr)
    # a database of ours before the model-call rollups (0003) reads model calls raw
    return raw_only(tr) if split.uses_rollups and not reads_rollups(conn, source) else split


def window_sums(conn: Connection, source: Source, start: datetime, end: datetime) -> dict[str, Sums]:
    """Per member, the sums of runs that started in ``[start, end)``."""
    split = _split(conn, source, start, end)

    def build() -> Any:
        def raw(where: Any) -> Any:
            return (select(source.raw_member.label("member"),
                           *(func.sum(e).label(k) for k, e in source.raw_sums.items()))
                    .where(where, source.raw_filter).group_by(source.raw_member))

        rolled = (select(source.rollup_member.label("member"),
                         *(func.sum(e).label(k) for k, e in source.rollup_sums.items()))
                  .where(source.rollup_filter).group_by(source.rollup_member))
        u = combined(split, raw, source.raw_time, rolled, source.rollup.hour)
        return select(u.c.member, *(func.sum(u.c[k]).label(k) for k in SUMS)).group_by(u.c.member)

    stmt = cached_statement(("alert-sums", source.name, conn.dialect.name, split.shape), build)
    return {row.member: Sums.of(row) for row in conn.execute(stmt, split.params()) if row.member is not None}


Histogram = dict[int, int]  # latency bucket -> runs


def window_histograms(conn: Connection, source: Source, start: datetime, end: datetime) -> dict[str, Histogram]:
    """Per member, the latency histogram (log buckets, ``db.rollups``) of the runs that
    started in the window: whole hours from the rollup histograms, raw rows bucketed the
    same way in SQL. Percentiles are then read off these few rows (:func:`percentile`)."""
    assert source.histograms is not None
    hourly, daily, column = source.histograms
    split = _split(conn, source, start, end)
    raw = source.raw

    def build() -> Any:
        counts = histogram_counts(conn, split, raw_key=source.raw_member, raw_value=raw.duration_ms,
                                  raw_time=raw.start_time, raw_filter=source.raw_filter,
                                  histogram=HistogramTables(hourly, daily, by_name(column)))
        return select(counts.c.key, counts.c.b, counts.c.n)

    stmt = cached_statement(("alert-histograms", source.name, conn.dialect.name, split.shape), build)
    out: dict[str, Histogram] = {}
    for key, bucket, n in conn.execute(stmt, split.params()):
        if key is not None and n:
            out.setdefault(key, {})[int(bucket)] = int(n)
    return out


def percentile(histogram: Histogram, fraction: float = P95) -> float | None:
    """The nearest-rank value's bucket, at its geometric middle (within ±4.4 %): the
    same reading as the analytics' percentiles in SQL."""
    total = sum(histogram.values())
    if not total:
        return None
    running = 0
    for bucket in sorted(histogram):
        running += histogram[bucket]
        if running >= fraction * total:
            return bucket_value(bucket)
    raise AssertionError("unreachable")


def merged(histograms: Any) -> Histogram:
    out: Histogram = {}
    for histogram in histograms:
        for bucket, n in histogram.items():
            out[bucket] = out.get(bucket, 0) + n
    return out


Span = tuple[int, int]  # [first hour, end hour) in POSIX seconds


def _samples_cte(spans: list[Span], as_datetimes: bool, time_type: Any) -> Any:
    parts = []
    for i in range(len(spans)):
        lo = bindparam(f"s{i}_lo", type_=time_type) if as_datetimes else bindparam(f"s{i}_lo")
        hi = bindparam(f"s{i}_hi", type_=time_type) if as_datetimes else bindparam(f"s{i}_hi")
        parts.append(select(literal(i).label("idx"), lo.label("lo"), hi.label("hi")))
    return (union_all(*parts) if len(parts) > 1 else parts[0]).cte("samples")


def _sample_params(spans: list[Span], as_datetimes: bool) -> dict[str, Any]:
    def conv(t: int) -> Any:
        return datetime.fromtimestamp(t, UTC) if as_datetimes else t

    out: dict[str, Any] = {}
    for i, (a, b) in enumerate(spans):
        out[f"s{i}_lo"], out[f"s{i}_hi"] = conv(a), conv(b)
    return out


def sample_sums(conn: Connection, source: Source, spans: list[Span]) -> dict[tuple[int, str], Sums]:
    """Sums per (sample index, member) over whole-hour sample spans."""
    if not spans:
        return {}
    rolled = reads_rollups(conn, source)

    def build() -> Any:
        if rolled:
            time, member, sums, where = (source.rollup.hour, source.rollup_member, source.rollup_sums,
                                         source.rollup_filter)
            samples = _samples_cte(spans, False, None)
            table = source.rollup
        else:
            time, member, sums, where = source.raw_time, source.raw_member, source.raw_sums, source.raw_filter
            samples = _samples_cte(spans, True, time.type)
            table = source.raw
        # No overall bounds beside the join's: SQLite would take them for the index
        # range and scan all the weeks once per sample.
        return (select(samples.c.idx, member.label("member"), *(func.sum(e).label(k) for k, e in sums.items()))
                .select_from(table)
                .join(samples, and_(time >= samples.c.lo, time < samples.c.hi))
                .where(where)
                .group_by(samples.c.idx, member))

    stmt = cached_statement(("alert-samples", source.name, rolled, len(spans), conn.dialect.name), build)
    return {(int(row.idx), row.member): Sums.of(row)
            for row in conn.execute(stmt, _sample_params(spans, not rolled)) if row.member is not None}


def sample_histograms(conn: Connection, source: Source, spans: list[Span]) -> dict[tuple[int, str], Histogram]:
    """Latency histograms per (sample index, member) over whole-hour sample spans, from
    the hourly histograms (raw rows bucketed the same way without rollups)."""
    if not spans:
        return {}
    assert source.histograms is not None
    hourly, _daily, column = source.histograms
    rolled = reads_rollups(conn, source)

    def build() -> Any:
        if rolled:
            samples = _samples_cte(spans, False, None)
            time, key, bucket, n, table, where = (hourly.hour, getattr(hourly, column), hourly.bucket,
                                                  func.sum(hourly.n), hourly, true())
        else:
            raw = source.raw
            time = raw.start_time
            samples = _samples_cte(spans, True, time.type)
            key, bucket = source.raw_member, latency_bucket_sql(conn.dialect.name, raw.duration_ms)
            n, table, where = func.count(), raw, and_(raw.duration_ms.isnot(None), source.raw_filter)
        return (select(samples.c.idx.label("idx"), key.label("key"), bucket.label("b"), n.label("n"))
                .select_from(table).join(samples, and_(time >= samples.c.lo, time < samples.c.hi))
                .where(where)  # the join's bounds only, as in sample_sums
                .group_by(samples.c.idx, key, bucket))

    stmt = cached_statement(("alert-sample-histograms", source.name, rolled, len(spans), conn.dialect.name), build)
    out: dict[tuple[int, str], Histogram] = {}
    # plain tuples: thousands of rows, and a Row's attribute lookups cost as much as the SQL
    for idx, key, bucket, n in conn.execute(stmt, _sample_params(spans, not rolled)):
        if key is not None and n:
            histogram = out.get((idx, key))
            if histogram is None:
                histogram = out[int(idx), key] = {}
            histogram[int(bucket)] = int(n)  # PostgreSQL's sums are numeric
    return out


def first_hour(conn: Connection, source: Source) -> int | None:
    """The hour (POSIX seconds) of the source's oldest run, None when it has none."""
    if reads_rollups(conn, source):
        value = conn.execute(select(func.min(source.rollup.hour)).where(source.rollup_filter)).scalar()
        return None if value is None else int(value)
    value = conn.execute(select(func.min(source.raw_time)).where(source.raw_filter)).scalar()
    if value is None:
        return None
    if isinstance(value, str):  # a raw aggregate on SQLite skips the column's type
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return int(value.timestamp()) // 3600 * 3600


def stuck_counts(conn: Connection, source: Source, now: datetime, *, after_s: int, lookback_s: int,
                 as_of: bool) -> dict[str, int]:
    """Runs per member started in ``[now - lookback, now - after)`` and still in progress
    at ``now``. ``as_of`` (``now`` in the past): also runs that finished only after
    ``now`` (a replay sees them as they were then)."""
    raw = source.raw
    in_progress = status_in(raw.status, IN_PROGRESS_VALUES)
    if as_of:
        in_progress = or_(in_progress, raw.end_time > bindparam("now", type_=raw.end_time.type))
    stmt = cached_statement(
        ("alert-stuck", source.name, as_of, conn.dialect.name),
        lambda: (select(source.raw_member.label("member"), func.count().label("n"))
                 .where(in_progress, source.raw_filter,
                        raw.start_time >= bindparam("lo", type_=raw.start_time.type),
                        raw.start_time < bindparam("hi", type_=raw.start_time.type))
                 .group_by(source.raw_member)))
    params = {"lo": now - timedelta(seconds=lookback_s), "hi": now - timedelta(seconds=after_s)}
    if as_of:
        params["now"] = now
    return {row.member: int(row.n) for row in conn.execute(stmt, params) if row.member is not None}
