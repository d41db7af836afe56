"""Time series per bucket: executions, failures, timeouts, average and p95 latency."""

from __future__ import annotations

import numpy as np
from sqlalchemy import case, func, select
from sqlalchemy.engine import Connection

from studio_analytics.analytics.results import TimeRange, TimeSeries
from studio_analytics.analytics.sql import bucket_epoch, in_range, is_failure, is_timeout
from studio_analytics.analytics.timerange import BUCKET_SECONDS, bucket_starts
from studio_analytics.db.models import AgentExecutionMetrics as AEM


def time_series(conn: Connection, tr: TimeRange, *, agent_name: str | None = None) -> TimeSeries:
    size = BUCKET_SECONDS[tr.bucket]
    where = in_range(AEM.start_time, tr)
    if agent_name is not None:
        where = where & (AEM.agent_name == agent_name)
    bucket = bucket_epoch(conn, AEM.start_time, size).label("b")
    counts = conn.execute(
        select(bucket, func.count(), func.coalesce(func.sum(is_failure(AEM.status)), 0),
               func.coalesce(func.sum(is_timeout(AEM.status)), 0), func.avg(AEM.duration_ms))
        .where(where).group_by(bucket)
    ).all()
    # p95 per bucket (nearest rank on SQLite, percentile_cont on PostgreSQL)
    if conn.dialect.name == "postgresql":
        p95_rows = conn.execute(
            select(bucket, func.percentile_cont(0.95).within_group(AEM.duration_ms.asc()))
            .where(where, AEM.duration_ms.isnot(None)).group_by(bucket)
        ).all()
    else:
        ranked = select(
            bucket, AEM.duration_ms.label("v"),
            func.row_number().over(partition_by=bucket, order_by=AEM.duration_ms).label("rn"),
            func.count().over(partition_by=bucket).label("n"),
        ).where(where, AEM.duration_ms.isnot(None)).subquery()
        p95_rows = conn.execute(
            select(ranked.c.b, func.min(case((ranked.c.rn >= 0.95 * ranked.c.n, ranked.c.v)))).group_by(ranked.c.b)
        ).all()
    starts = bucket_starts(tr)
    index = {b: i for i, b in enumerate(starts)}
    n = len(starts)
    executions = np.zeros(n, dtype=np.int64)
    failures = np.zeros(n, dtype=np.int64)
    timeouts = np.zeros(n, dtype=np.int64)
    avg = np.full(n, np.nan)
    p95 = np.full(n, np.nan)
    for b, total, failed, timed_out, mean in counts:
        i = index.get(int(b))
        if i is not None:
            executions[i], failures[i], timeouts[i] = total, failed + timed_out, timed_out
            avg[i] = np.nan if mean is None else float(mean)
    for b, value in p95_rows:
        i = index.get(int(b))
        if i is not None and value is not None:
            p95[i] = float(value)
    return TimeSeries(bucket=tr.bucket, bucket_starts=np.asarray(starts, dtype=np.float64),
                      executions=executions, failures=failures, timeouts=timeouts,
                      p95_duration_ms=p95, avg_duration_ms=avg)
