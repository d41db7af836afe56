"""Workflow performance per type, and each type's runs and duration over time."""

from __future__ import annotations

from typing import Any

import numpy as np
from sqlalchemy import Select, func, select, true
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from studio_analytics.analytics.results import (
    TimeRange,
    WorkflowPerformance,
    WorkflowPerformanceRow,
)
from studio_analytics.analytics.rollup_sources import (
    Histogram,
    by_name,
    combined,
    histogram_percentiles,
    hour_bucket,
    mean,
    percentile_value,
    raw_only,
    split_range,
    zsum,
)
from studio_analytics.analytics.sql import (
    bucket_epoch,
    in_range,
    is_finished,
    is_success,
    percentile_columns,
)
from studio_analytics.analytics.timerange import BUCKET_SECONDS, bucket_starts
from studio_analytics.db.models import WorkflowMetrics as WM
from studio_analytics.db.rollup_models import (
    WorkflowHourlyRollup,
    WorkflowLatencyDailyRollup,
    WorkflowLatencyRollup,
)
from studio_analytics.db.rollups import HOUR_S

WORKFLOW_SORTS = {"workflow_type", "runs", "successes", "success_rate", "avg_duration_ms", "p95_duration_ms",
                  "avg_agent_count", "total_tool_calls", "total_api_calls", "total_tokens", "avg_satisfaction",
                  "avg_completion_rate"}


def workflow_performance(conn: Connection, tr: TimeRange, *, sort: str = "runs", descending: bool = True,
                         limit: int = 100) -> WorkflowPerformance:
    if sort not in WORKFLOW_SORTS:
        raise ValueError(f"cannot sort workflows by {sort!r}")
    where = in_range(WM.start_time, tr)
    split = split_range(conn, tr)
    R = WorkflowHourlyRollup

    def raw(w: ColumnElement[bool]) -> Select[Any]:
        return select(
            WM.workflow_type.label("workflow_type"), func.count().label("runs"),
            func.sum(is_success(WM.status)).label("successes"), func.sum(is_finished(WM.status)).label("finished"),
            func.count(WM.duration_ms).label("duration_count"), func.sum(WM.duration_ms).label("duration_sum"),
            func.sum(WM.agent_count).label("agent_count_sum"), func.sum(WM.total_tool_calls).label("tool_calls"),
            func.sum(WM.total_api_calls).label("api_calls"), func.sum(WM.total_tokens_used).label("tokens"),
            func.count(WM.user_satisfaction_score).label("satisfaction_count"),
            func.sum(WM.user_satisfaction_score).label("satisfaction_sum"),
            func.count(WM.task_completion_rate).label("completion_count"),
            func.sum(WM.task_completion_rate).label("completion_sum"),
        ).where(w).group_by(WM.workflow_type)

    rolled = select(R.workflow_type, R.runs, R.successes, R.finished, R.duration_count, R.duration_sum,
                    R.agent_count_sum, R.tool_calls, R.api_calls, R.tokens, R.satisfaction_count, R.satisfaction_sum,
                    R.completion_count, R.completion_sum)
    u = combined(split, raw, WM.start_time, rolled, R.hour)
    base = select(
        u.c.workflow_type, zsum(u.c.runs).label("runs"), zsum(u.c.successes).label("successes"),
        zsum(u.c.finished).label("finished"), mean(u.c.duration_sum, u.c.duration_count).label("avg_duration_ms"),
        mean(u.c.agent_count_sum, u.c.runs).label("avg_agent_count"),
        zsum(u.c.tool_calls).label("total_tool_calls"), zsum(u.c.api_calls).label("total_api_calls"),
        zsum(u.c.tokens).label("total_tokens"),
        mean(u.c.satisfaction_sum, u.c.satisfaction_count).label("avg_satisfaction"),
        mean(u.c.completion_sum, u.c.completion_count).label("avg_completion_rate"),
    ).group_by(u.c.workflow_type).subquery()
    if split.uses_rollups:
        pct = histogram_percentiles(
            conn, split, (0.95,), raw_key=WM.workflow_type, raw_value=WM.duration_ms, raw_time=WM.start_time,
            raw_filter=true(),
            histogram=Histogram(WorkflowLatencyRollup, WorkflowLatencyDailyRollup, by_name("workflow_type")),
        )
    else:
        pct = percentile_columns(conn, WM.duration_ms, WM.workflow_type, where, (0.95,))
    success_rate = (base.c.successes * 1.0 / func.nullif(base.c.finished, 0)).label("success_rate")
    sort_col = {"success_rate": success_rate, "p95_duration_ms": pct.c.p95}.get(sort, base.c.get(sort, base.c.runs))
    order = sort_col.desc() if descending else sort_col.asc()
    rows = conn.execute(
        select(base, success_rate, pct.c.p95, func.count().over().label("all_groups"))
        .join(pct, pct.c.key == base.c.workflow_type, isouter=True)
        .order_by(order.nulls_last(), base.c.workflow_type).limit(limit), split.params()
    ).mappings().all()
    size = BUCKET_SECONDS[tr.bucket]
    starts = bucket_starts(tr)
    index = {b: i for i, b in enumerate(starts)}
    trends: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    names = [r["workflow_type"] for r in rows]
    if names:
        for name in names:
            trends[name] = (np.asarray(starts, dtype=np.float64), np.zeros(len(starts), dtype=np.int64),
                            np.full(len(starts), np.nan))
        trend_split = split if size >= HOUR_S else raw_only(tr)
        bucket = bucket_epoch(conn, WM.start_time, size).label("b")

        def raw_trend(w: ColumnElement[bool]) -> Select[Any]:
            return select(WM.workflow_type.label("workflow_type"), bucket, func.count().label("runs"),
                          func.count(WM.duration_ms).label("duration_count"),
                          func.sum(WM.duration_ms).label("duration_sum")).where(
                w, WM.workflow_type.in_(names)).group_by(WM.workflow_type, bucket)

        rolled_trend = select(R.workflow_type, hour_bucket(R.hour, size).label("b"), R.runs, R.duration_count,
                              R.duration_sum).where(R.workflow_type.in_(names))
        t = combined(trend_split, raw_trend, WM.start_time, rolled_trend, R.hour)
        for wtype, b, n, avg in conn.execute(
            select(t.c.workflow_type, t.c.b, zsum(t.c.runs), mean(t.c.duration_sum, t.c.duration_count))
            .group_by(t.c.workflow_type, t.c.b), trend_split.params()
        ):
            i = index.get(int(b))
            if i is not None:
                trends[wtype][1][i] = n
                trends[wtype][2][i] = np.nan if avg is None else float(avg)
    f = _f
    return WorkflowPerformance(
        rows=tuple(
            WorkflowPerformanceRow(
                workflow_type=r["workflow_type"], runs=int(r["runs"]), successes=int(r["successes"]),
                success_rate=f(r["success_rate"]), avg_duration_ms=f(r["avg_duration_ms"]),
                p95_duration_ms=percentile_value(split, r["p95"]), avg_agent_count=f(r["avg_agent_count"]),
                total_tool_calls=int(r["total_tool_calls"]), total_api_calls=int(r["total_api_calls"]),
                total_tokens=int(r["total_tokens"]), avg_satisfaction=f(r["avg_satisfaction"]),
                avg_completion_rate=f(r["avg_completion_rate"]),
            )
            for r in rows
        ),
        trends=trends,
        total_rows=int(rows[0]["all_groups"]) if rows else 0,
    )


def _f(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]
