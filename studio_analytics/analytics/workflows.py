"""Workflow performance per type, and each type's runs and duration over time."""

from __future__ import annotations

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from studio_analytics.analytics.results import (
    TimeRange,
    WorkflowPerformance,
    WorkflowPerformanceRow,
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

WORKFLOW_SORTS = {"workflow_type", "runs", "successes", "success_rate", "avg_duration_ms", "p95_duration_ms",
                  "avg_agent_count", "total_tool_calls", "total_api_calls", "total_tokens", "avg_satisfaction",
                  "avg_completion_rate"}


def workflow_performance(conn: Connection, tr: TimeRange, *, sort: str = "runs", descending: bool = True,
                         limit: int = 100) -> WorkflowPerformance:
    if sort not in WORKFLOW_SORTS:
        raise ValueError(f"cannot sort workflows by {sort!r}")
    where = in_range(WM.start_time, tr)
    base = select(
        WM.workflow_type.label("workflow_type"), func.count().label("runs"),
        func.coalesce(func.sum(is_success(WM.status)), 0).label("successes"),
        func.coalesce(func.sum(is_finished(WM.status)), 0).label("finished"),
        func.avg(WM.duration_ms).label("avg_duration_ms"), func.avg(WM.agent_count).label("avg_agent_count"),
        func.coalesce(func.sum(WM.total_tool_calls), 0).label("total_tool_calls"),
        func.coalesce(func.sum(WM.total_api_calls), 0).label("total_api_calls"),
        func.coalesce(func.sum(WM.total_tokens_used), 0).label("total_tokens"),
        func.avg(WM.user_satisfaction_score).label("avg_satisfaction"),
        func.avg(WM.task_completion_rate).label("avg_completion_rate"),
    ).where(where).group_by(WM.workflow_type).subquery()
    pct = percentile_columns(conn, WM.duration_ms, WM.workflow_type, where, (0.95,))
    success_rate = (base.c.successes * 1.0 / func.nullif(base.c.finished, 0)).label("success_rate")
    sort_col = {"success_rate": success_rate, "p95_duration_ms": pct.c.p95}.get(sort, base.c.get(sort, base.c.runs))
    order = sort_col.desc() if descending else sort_col.asc()
    rows = conn.execute(
        select(base, success_rate, pct.c.p95).join(pct, pct.c.key == base.c.workflow_type, isouter=True)
        .order_by(order.nulls_last(), base.c.workflow_type).limit(limit)
    ).mappings().all()
    size = BUCKET_SECONDS[tr.bucket]
    starts = bucket_starts(tr)
    index = {b: i for i, b in enumerate(starts)}
    bucket = bucket_epoch(conn, WM.start_time, size).label("b")
    trends: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    names = [r["workflow_type"] for r in rows]
    if names:
        for name in names:
            trends[name] = (np.asarray(starts, dtype=np.float64), np.zeros(len(starts), dtype=np.int64),
                            np.full(len(starts), np.nan))
        for wtype, b, n, avg in conn.execute(
            select(WM.workflow_type, bucket, func.count(), func.avg(WM.duration_ms))
            .where(where, WM.workflow_type.in_(names)).group_by(WM.workflow_type, bucket)
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
                p95_duration_ms=f(r["p95"]), avg_agent_count=f(r["avg_agent_count"]),
                total_tool_calls=int(r["total_tool_calls"]), total_api_calls=int(r["total_api_calls"]),
                total_tokens=int(r["total_tokens"]), avg_satisfaction=f(r["avg_satisfaction"]),
                avg_completion_rate=f(r["avg_completion_rate"]),
            )
            for r in rows
        ),
        trends=trends,
    )


def _f(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]
