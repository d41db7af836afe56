"""Latency distribution of agents, tools or model calls: a log-bucketed histogram of the
range with its p50/p95/p99, and p50/p95/p99 per time bucket.

Whole hours come from the rollup latency histograms, the partial hours at the range's
ends from raw rows bucketed the same way in SQL (:func:`rollup_sources.split_range`).
The histogram's counts are then exact; its percentiles are the bucket holding the
nearest-rank value, reported at the bucket's geometric middle.

Error bound of such a percentile (``APPROXIMATION``): bucket ``b`` spans
``[2**(b/8), 2**((b+1)/8))`` ms (db/rollups.py, ``BUCKETS_PER_OCTAVE = 8``), so its
upper edge is ``2**(1/8)`` = 1.0905 × its lower edge, and the middle reported is
``2**((b+0.5)/8)``. A true value ``v`` in the bucket lies between ``middle / 2**(1/16)``
and ``middle * 2**(1/16)``: the reported figure is at most ``2**(1/16) - 1`` = 4.43 %
above ``v`` (``v`` at the lower edge) and ``1 - 2**(-1/16)`` = 4.24 % below it (``v``
at the upper edge) — within ±4.4 %.

Without rollups (or without a whole hour in the range) everything is read from raw
rows: bucket counts the same way, percentiles exact (``approximate`` False).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from sqlalchemy import bindparam, func, select, true
from sqlalchemy.engine import Connection

from studio_analytics.analytics.results import Bucket, TimeRange
from studio_analytics.analytics.rollup_sources import (
    Histogram,
    RangeSplit,
    by_name,
    cached_statement,
    histogram_counts,
    histogram_percentiles,
    hour_bucket,
    percentile_value,
    raw_only,
    split_range,
    within,
)
from studio_analytics.analytics.sql import bucket_epoch, percentile_columns
from studio_analytics.analytics.timerange import BUCKET_SECONDS, bucket_starts
from studio_analytics.db.capabilities import has_model_calls
from studio_analytics.db.models import AgentExecutionMetrics, ModelCallMetrics, ToolUsageMetrics
from studio_analytics.db.rollup_models import (
    AgentLatencyDailyRollup,
    AgentLatencyRollup,
    ExecutionLatencyRollup,
    ModelLatencyDailyRollup,
    ModelLatencyRollup,
    ToolLatencyDailyRollup,
    ToolLatencyRollup,
)
from studio_analytics.db.rollups import (
    BUCKETS_PER_OCTAVE,
    DAY_S,
    HOUR_S,
    PERCENTILE_RELATIVE_ERROR,
    bucket_value,
)

LatencyKind = Literal["agent", "tool", "model"]
KINDS: tuple[LatencyKind, ...] = ("agent", "tool", "model")
#: Relative error bound of a percentile read from the histograms (see the module docstring).
APPROXIMATION = PERCENTILE_RELATIVE_ERROR
FRACTIONS = (0.5, 0.95, 0.99)
#: Names per kind offered for selection (the busiest first).
NAMES_LIMIT = 40


@dataclass(frozen=True, slots=True)
class Percentiles:
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    #: read from the rollup histograms: each within ±``error`` of the exact value
    approximate: bool
    error: float  # relative bound, 0.0 when exact


@dataclass(frozen=True, slots=True)
class LatencyDistribution:
    """Counts per log bucket: ``lower_ms[i]``..``upper_ms[i]`` holds ``counts[i]`` durations
    (numpy arrays, only the buckets with a count, ascending)."""

    kind: LatencyKind
    name: str | None  # None: every agent / tool / model
    lower_ms: Any  # np.ndarray[float64]
    upper_ms: Any  # np.ndarray[float64]
    counts: Any  # np.ndarray[int64]
    total: int
    percentiles: Percentiles


@dataclass(frozen=True, slots=True)
class LatencyPercentileSeries:
    """p50/p95/p99 per time bucket (numpy float64 arrays, NaN where the bucket has no data)."""

    kind: LatencyKind
    name: str | None
    bucket: Bucket
    bucket_starts: Any  # np.ndarray[float64] POSIX seconds
    p50_ms: Any
    p95_ms: Any
    p99_ms: Any
    approximate: bool
    error: float


@dataclass(frozen=True, slots=True)
class LatencyNames:
    """The busiest names of each kind in the range (at most ``NAMES_LIMIT`` each)."""

    agents: tuple[str, ...]
    tools: tuple[str, ...]
    models: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class LatencyReport:
    """What the Latency tab shows for one selection, from one worker run."""

    distribution: LatencyDistribution
    series: LatencyPercentileSeries
    names: LatencyNames


@dataclass(frozen=True, slots=True)
class LatencyBucketRow:
    """One bar of a distribution, as a CSV export writes it."""

    kind: str
    name: str  # "" for all of the kind
    lower_ms: float
    upper_ms: float
    count: int


def bucket_rows(d: LatencyDistribution) -> list[LatencyBucketRow]:
    return [LatencyBucketRow(d.kind, d.name or "", float(lo), float(hi), int(n))
            for lo, hi, n in zip(d.lower_ms, d.upper_ms, d.counts, strict=True)]


@dataclass(frozen=True, slots=True)
class _Source:
    table: Any  # the raw table's model
    name: Any  # its name column
    hourly: Any
    daily: Any
    key: str  # the rollup tables' name column


_SOURCES: dict[str, _Source] = {
    "agent": _Source(AgentExecutionMetrics, AgentExecutionMetrics.agent_name, AgentLatencyRollup,
                     AgentLatencyDailyRollup, "agent_name"),
    "tool": _Source(ToolUsageMetrics, ToolUsageMetrics.tool_name, ToolLatencyRollup, ToolLatencyDailyRollup,
                    "tool_name"),
    "model": _Source(ModelCallMetrics, ModelCallMetrics.model, ModelLatencyRollup, ModelLatencyDailyRollup,
                     "model"),
}


def _source(conn: Connection, kind: str) -> _Source | None:
    if kind not in _SOURCES:
        raise ValueError(f"unknown latency kind {kind!r}; use one of {', '.join(KINDS)}")
    return None if kind == "model" and not has_model_calls(conn) else _SOURCES[kind]


def _name_filter(model: Any, column: str, name: str | None) -> Any:
    return true() if name is None else getattr(model, column) == bindparam("name")


def _per_name_counts(conn: Connection, split: RangeSplit, src: _Source, name: str | None) -> Any:
    """Subquery ``key, b, n``: the range's histogram per name (all names or the one)."""
    raw = src.table
    return histogram_counts(
        conn, split, raw_key=src.name, raw_value=raw.duration_ms, raw_time=raw.start_time,
        raw_filter=_name_filter(raw, src.name.key, name),
        histogram=Histogram(src.hourly, src.daily, by_name(src.key), lambda m: _name_filter(m, src.key, name)),
    )


def latency_distribution(conn: Connection, tr: TimeRange, *, kind: LatencyKind = "agent",
                         name: str | None = None) -> LatencyDistribution:
    """The range's durations of ``kind`` (one ``name``, or all) as a log-bucketed histogram
    with p50/p95/p99: nearest-rank from the histogram when it comes from rollups
    (approximate), exact from raw rows otherwise."""
    src = _source(conn, kind)
    split = split_range(conn, tr)
    if src is None:
        return _distribution(kind, name, [], Percentiles(None, None, None, False, 0.0))
    params = {**split.params(), "name": name}

    def build() -> Any:
        per_name = _per_name_counts(conn, split, src, name)
        return select(per_name.c.b, func.sum(per_name.c.n)).group_by(per_name.c.b).order_by(per_name.c.b)

    shape = (conn.dialect.name, kind, split.shape, name is None)
    rows = [(int(b), int(n)) for b, n in conn.execute(cached_statement(("latency_hist", *shape), build), params)
            if n]
    if split.uses_rollups:
        percentiles = _histogram_percentiles(rows)
    else:
        def build_exact() -> Any:
            raw = src.table
            pct = percentile_columns(conn, raw.duration_ms, raw.duration_ms.isnot(None),
                                     within(raw.start_time, 0) & _name_filter(raw, src.name.key, name), FRACTIONS)
            return select(pct.c.p50, pct.c.p95, pct.c.p99)

        exact = conn.execute(cached_statement(("latency_exact", *shape), build_exact), params).first()
        values = [None if v is None else float(v) for v in (exact or (None, None, None))]
        percentiles = Percentiles(*values, approximate=False, error=0.0)
    return _distribution(kind, name, rows, percentiles)


def _histogram_percentiles(rows: list[tuple[int, int]]) -> Percentiles:
    """Nearest rank over the (already aggregated, at most a few hundred) buckets: the
    first bucket whose cumulative count reaches ``fraction * n``, as the tables' SQL does."""
    if not rows:
        return Percentiles(None, None, None, approximate=True, error=APPROXIMATION)
    buckets = np.array([b for b, _ in rows])
    cum = np.cumsum([n for _, n in rows])
    values = [bucket_value(int(buckets[np.searchsorted(cum, f * cum[-1], side="left")])) for f in FRACTIONS]
    return Percentiles(*values, approximate=True, error=APPROXIMATION)


def _distribution(kind: LatencyKind, name: str | None, rows: list[tuple[int, int]],
                  percentiles: Percentiles) -> LatencyDistribution:
    buckets = np.array([b for b, _ in rows], dtype=np.float64)
    counts = np.array([n for _, n in rows], dtype=np.int64)
    return LatencyDistribution(
        kind=kind, name=name, lower_ms=2.0 ** (buckets / BUCKETS_PER_OCTAVE),
        upper_ms=2.0 ** ((buckets + 1) / BUCKETS_PER_OCTAVE), counts=counts, total=int(counts.sum()),
        percentiles=percentiles,
    )


def latency_percentile_series(conn: Connection, tr: TimeRange, *, kind: LatencyKind = "agent",
                              name: str | None = None) -> LatencyPercentileSeries:
    """p50/p95/p99 per bucket of the range's bucket size (as :func:`series.time_series`):
    from the histograms for hour and day buckets, exact from raw rows for minutes."""
    size = BUCKET_SECONDS[tr.bucket]
    starts = bucket_starts(tr)
    n = len(starts)
    out = [np.full(n, np.nan) for _ in FRACTIONS]
    src = _source(conn, kind)
    split = split_range(conn, tr) if size >= HOUR_S else raw_only(tr)
    if src is not None:
        params = {**split.params(), "name": name}
        raw = src.table
        raw_filter = _name_filter(raw, src.name.key, name)
        key = bucket_epoch(conn, raw.start_time, size)

        def build() -> Any:
            if not split.uses_rollups:
                pct = percentile_columns(conn, raw.duration_ms, key, within(raw.start_time, 0) & raw_filter, FRACTIONS)
            else:
                # All agents: the per-hour histogram of every execution, one row per bucket
                # instead of one per agent (as series.time_series reads it).
                everyone = kind == "agent" and name is None
                histogram = Histogram(
                    ExecutionLatencyRollup if everyone else src.hourly, src.daily if size == DAY_S else None,
                    lambda model, period: getattr(model, period) if period == "day" else hour_bucket(model.hour, size),
                    lambda m: true() if everyone and m is ExecutionLatencyRollup else _name_filter(m, src.key, name),
                )
                pct = histogram_percentiles(conn, split, FRACTIONS, raw_key=key, raw_value=raw.duration_ms,
                                            raw_time=raw.start_time, raw_filter=raw_filter, histogram=histogram)
            return select(pct.c.key, pct.c.p50, pct.c.p95, pct.c.p99)

        shape = (conn.dialect.name, kind, split.shape, size, name is None)
        index = {b: i for i, b in enumerate(starts)}
        for b, *values in conn.execute(cached_statement(("latency_series", *shape), build), params):
            i = index.get(int(b))
            if i is not None:
                for array, value in zip(out, values, strict=True):
                    v = percentile_value(split, value)
                    array[i] = np.nan if v is None else v
    approximate = src is not None and split.uses_rollups
    return LatencyPercentileSeries(
        kind=kind, name=name, bucket=tr.bucket, bucket_starts=np.asarray(starts, dtype=np.float64),
        p50_ms=out[0], p95_ms=out[1], p99_ms=out[2], approximate=approximate,
        error=APPROXIMATION if approximate else 0.0,
    )


def latency_names(conn: Connection, tr: TimeRange, *, limit: int = NAMES_LIMIT) -> LatencyNames:
    """Per kind, the ``limit`` names with the most timed rows in the range."""
    split = split_range(conn, tr)
    found: dict[str, tuple[str, ...]] = {}
    for kind in KINDS:
        src = _source(conn, kind)
        if src is None:
            found[kind] = ()
            continue

        def build(src: _Source = src) -> Any:
            per_name = _per_name_counts(conn, split, src, None)
            total = func.sum(per_name.c.n)
            return (select(per_name.c.key).group_by(per_name.c.key).having(total > 0)
                    .order_by(total.desc(), per_name.c.key).limit(bindparam("limit")))

        shape = (conn.dialect.name, kind, split.shape)
        rows = conn.execute(cached_statement(("latency_names", *shape), build), {**split.params(), "limit": limit})
        found[kind] = tuple(str(r[0]) for r in rows)
    return LatencyNames(agents=found["agent"], tools=found["tool"], models=found["model"])


def latency_report(conn: Connection, tr: TimeRange, *, kind: LatencyKind = "agent",
                   name: str | None = None) -> LatencyReport:
    """Distribution, percentile series and the names to choose from, for the Latency tab."""
    return LatencyReport(
        distribution=latency_distribution(conn, tr, kind=kind, name=name),
        series=latency_percentile_series(conn, tr, kind=kind, name=name),
        names=latency_names(conn, tr),
    )
