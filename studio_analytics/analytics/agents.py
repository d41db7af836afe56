"""Agent usage: one row per agent, every figure aggregated in SQL and sorted there."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from studio_analytics.analytics.results import AgentUsage, AgentUsageRow, TimeRange
from studio_analytics.analytics.sql import (
    in_range,
    is_failure,
    is_finished,
    is_success,
    is_timeout,
    percentile_columns,
)
from studio_analytics.db.models import AgentExecutionMetrics as AEM

AGENT_SORTS = {
    "agent_name", "executions", "successes", "failures", "timeouts", "success_rate", "avg_duration_ms",
    "p50_duration_ms", "p95_duration_ms", "p99_duration_ms", "total_tool_calls", "total_tokens", "last_used",
}


def agent_usage(conn: Connection, tr: TimeRange, *, sort: str = "executions", descending: bool = True,
                limit: int = 100) -> AgentUsage:
    if sort not in AGENT_SORTS:
        raise ValueError(f"cannot sort agents by {sort!r}")
    where = in_range(AEM.start_time, tr)
    base = select(
        AEM.agent_name.label("agent_name"),
        func.count().label("executions"),
        func.coalesce(func.sum(is_success(AEM.status)), 0).label("successes"),
        func.coalesce(func.sum(is_failure(AEM.status)), 0).label("failures"),
        func.coalesce(func.sum(is_timeout(AEM.status)), 0).label("timeouts"),
        func.coalesce(func.sum(is_finished(AEM.status)), 0).label("finished"),
        func.avg(AEM.duration_ms).label("avg_duration_ms"),
        func.coalesce(func.sum(AEM.tool_count), 0).label("total_tool_calls"),
        func.coalesce(func.sum(AEM.tokens_used), 0).label("total_tokens"),
        func.max(AEM.start_time).label("last_used"),
    ).where(where).group_by(AEM.agent_name).subquery()
    pct = percentile_columns(conn, AEM.duration_ms, AEM.agent_name, where, (0.5, 0.95, 0.99))
    success_rate = (base.c.successes * 1.0 / func.nullif(base.c.finished, 0)).label("success_rate")
    query = select(base, success_rate, pct.c.p50, pct.c.p95, pct.c.p99).join(
        pct, pct.c.key == base.c.agent_name, isouter=True
    )
    sort_col = {
        "success_rate": success_rate, "p50_duration_ms": pct.c.p50, "p95_duration_ms": pct.c.p95,
        "p99_duration_ms": pct.c.p99,
    }.get(sort, base.c.get(sort, base.c.executions))
    order = sort_col.desc() if descending else sort_col.asc()
    rows = conn.execute(query.order_by(order.nulls_last(), base.c.agent_name).limit(limit)).mappings().all()
    total = conn.execute(select(func.count()).where(where)).scalar() or 0
    return AgentUsage(
        rows=tuple(
            AgentUsageRow(
                agent_name=r["agent_name"], executions=int(r["executions"]), successes=int(r["successes"]),
                failures=int(r["failures"]), timeouts=int(r["timeouts"]),
                success_rate=None if r["success_rate"] is None else float(r["success_rate"]),
                avg_duration_ms=_f(r["avg_duration_ms"]), p50_duration_ms=_f(r["p50"]),
                p95_duration_ms=_f(r["p95"]), p99_duration_ms=_f(r["p99"]),
                total_tool_calls=int(r["total_tool_calls"]), total_tokens=int(r["total_tokens"]),
                last_used=r["last_used"],
            )
            for r in rows
        ),
        total_executions=int(total),
    )


def _f(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]
