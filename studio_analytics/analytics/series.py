"""Time series per bucket: executions, failures, timeouts, average and p95 latency."""

from __future__ import annotations

from typing import Any

import numpy as np
from sqlalchemy import Select, bindparam, func, select, true
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from studio_analytics.analytics.results import TimeRange, TimeSeries
from studio_analytics.analytics.rollup_sources import (
    Histogram,
    cached_statement,
    combined,
    histogram_percentiles,
    hour_bucket,
    mean,
    percentile_value,
    raw_only,
    split_range,
    within,
    zsum,
)
from studio_analytics.analytics.sql import (
    bucket_epoch,
    is_failure,
    is_timeout,
    percentile_columns,
)
from studio_analytics.analytics.timerange import BUCKET_SECONDS, bucket_starts
from studio_analytics.db.models import AgentExecutionMetrics as AEM
from studio_analytics.db.rollup_models import (
    AgentHourlyRollup,
    AgentLatencyDailyRollup,
    AgentLatencyRollup,
    ExecutionLatencyRollup,
)
from studio_analytics.db.rollups import DAY_S, HOUR_S


def time_series(conn: Connection, tr: TimeRange, *, agent_name: str | None = None) -> TimeSeries:
    size = BUCKET_SECONDS[tr.bucket]
    # Minute buckets are finer than the rollups: those (short) ranges read raw rows.
    split = split_range(conn, tr) if size >= HOUR_S else raw_only(tr)
    dialect = conn.dialect.name
    params = {**split.params(), "agent_name": agent_name}

    def build_counts() -> Any:
        R = AgentHourlyRollup
        raw_filter = true() if agent_name is None else AEM.agent_name == bindparam("agent_name")
        roll_filter = true() if agent_name is None else R.agent_name == bindparam("agent_name")
        bucket = bucket_epoch(conn, AEM.start_time, size).label("b")

        def raw(where: ColumnElement[bool]) -> Select[Any]:
            return select(
                bucket, func.count().label("executions"), func.sum(is_failure(AEM.status)).label("failures"),
                func.sum(is_timeout(AEM.status)).label("timeouts"),
                func.count(AEM.duration_ms).label("duration_count"), func.sum(AEM.duration_ms).label("duration_sum"),
            ).where(where, raw_filter).group_by(bucket)

        rolled = select(hour_bucket(R.hour, size).label("b"), R.executions, R.failures, R.timeouts,
                        R.duration_count, R.duration_sum).where(roll_filter)
        u = combined(split, raw, AEM.start_time, rolled, R.hour)
        return select(u.c.b, zsum(u.c.executions), zsum(u.c.failures), zsum(u.c.timeouts),
                      mean(u.c.duration_sum, u.c.duration_count)).group_by(u.c.b)

    def build_p95() -> Any:
        raw_filter = true() if agent_name is None else AEM.agent_name == bindparam("agent_name")
        if not split.uses_rollups:
            pct = percentile_columns(conn, AEM.duration_ms, bucket_epoch(conn, AEM.start_time, size),
                                     within(AEM.start_time, 0) & raw_filter, (0.95,))
            return select(pct.c.key, pct.c.p95)
        if agent_name is None:
            hourly: Any = ExecutionLatencyRollup
            where: Any = lambda _model: true()  # noqa: E731
        else:
            hourly, where = AgentLatencyRollup, lambda model: model.agent_name == bindparam("agent_name")
        histogram = Histogram(
            hourly, AgentLatencyDailyRollup if size == DAY_S else None,
            lambda model, period: getattr(model, period) if period == "day" else hour_bucket(model.hour, size),
            where,
        )
        pct = histogram_percentiles(
            conn, split, (0.95,), raw_key=bucket_epoch(conn, AEM.start_time, size), raw_value=AEM.duration_ms,
            raw_time=AEM.start_time, raw_filter=raw_filter, histogram=histogram, keys_disjoint=size == HOUR_S,
        )
        return select(pct.c.key, pct.c.p95)

    shape = (dialect, split.shape, size, agent_name is None)
    counts = conn.execute(cached_statement(("series", *shape), build_counts), params).all()
    p95_rows = [(b, percentile_value(split, v))
                for b, v in conn.execute(cached_statement(("series_p95", *shape), build_p95), params)]
    starts = bucket_starts(tr)
    index = {b: i for i, b in enumerate(starts)}
    n = len(starts)
    executions = np.zeros(n, dtype=np.int64)
    failures = np.zeros(n, dtype=np.int64)
    timeouts = np.zeros(n, dtype=np.int64)
    avg = np.full(n, np.nan)
    p95 = np.full(n, np.nan)
    for b, total, failed, timed_out, average in counts:
        i = index.get(int(b))
        if i is not None:
            executions[i], failures[i], timeouts[i] = total, failed + timed_out, timed_out
            avg[i] = np.nan if average is None else float(average)
    for b, value in p95_rows:
        i = index.get(int(b))
        if i is not None and value is not None:
            p95[i] = float(value)
    return TimeSeries(bucket=tr.bucket, bucket_starts=np.asarray(starts, dtype=np.float64),
                      executions=executions, failures=failures, timeouts=timeouts,
                      p95_duration_ms=p95, avg_duration_ms=avg)

