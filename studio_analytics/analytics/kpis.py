"""Summary KPIs, each with the previous period of equal length."""

from __future__ import annotations

from sqlalchemy import distinct, func, select
from sqlalchemy.engine import Connection

from studio_analytics.analytics.results import KpiValue, SummaryKpis, TimeRange
from studio_analytics.analytics.sql import (
    in_range,
    is_failure,
    is_finished,
    is_success,
    is_timeout,
    rate,
)
from studio_analytics.analytics.timerange import previous_period
from studio_analytics.db.models import AgentExecutionMetrics as AEM


def _period(conn: Connection, tr: TimeRange) -> tuple[int, int, int, int, int, float | None, int]:
    row = conn.execute(
        select(
            func.count(), func.coalesce(func.sum(is_success(AEM.status)), 0),
            func.coalesce(func.sum(is_failure(AEM.status)), 0), func.coalesce(func.sum(is_timeout(AEM.status)), 0),
            func.coalesce(func.sum(is_finished(AEM.status)), 0), func.avg(AEM.duration_ms),
            func.count(distinct(AEM.session_id)),
        ).where(in_range(AEM.start_time, tr))
    ).one()
    total, ok, failed, timeouts, finished, avg_ms, sessions = row
    return int(total), int(ok), int(failed), int(timeouts), int(finished), avg_ms, int(sessions)


def summary_kpis(conn: Connection, tr: TimeRange) -> SummaryKpis:
    now = _period(conn, tr)
    before = _period(conn, previous_period(tr))
    hours = (tr.end - tr.start).total_seconds() / 3600

    def kpi(index: int) -> tuple[float | None, float | None]:
        return tuple(  # type: ignore[return-value]
            (float(p[6]) if index == 0 else
             p[0] / hours if index == 1 else
             (float(p[5]) if p[5] is not None else None) if index == 2 else
             rate(p[1], p[4]))
            for p in (now, before)
        )

    return SummaryKpis(
        active_sessions=KpiValue(*kpi(0)),
        queries_per_hour=KpiValue(*kpi(1)),
        avg_response_time_ms=KpiValue(*kpi(2)),
        success_rate=KpiValue(*kpi(3)),
        total_executions=now[0],
        total_failures=now[2] + now[3],
    )
