"""Summary KPIs, each with the previous period of equal length."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from studio_analytics.analytics.cost import cost_kpi_value, cost_totals
from studio_analytics.analytics.figure_sources import (
    count_sessions_in_range,
    figure_rollups_available,
)
from studio_analytics.analytics.results import KpiValue, SummaryKpis, TimeRange
from studio_analytics.analytics.rollup_sources import (
    cached_statement,
    combined,
    mean,
    split_range,
    zsum,
)
from studio_analytics.analytics.sql import (
    is_failure,
    is_finished,
    is_success,
    is_timeout,
    rate,
)
from studio_analytics.analytics.timerange import previous_period
from studio_analytics.db.models import AgentExecutionMetrics as AEM
from studio_analytics.db.rollup_models import AgentHourlyRollup

#: Below this many executions in the previous period the window shows no change: against
#: an almost empty week every figure moves by "685x", which says nothing.
MIN_RUNS_TO_COMPARE = 20


def period_totals(conn: Connection, tr: TimeRange) -> tuple[int, int, int, int, int, float | None, int]:
    """Executions, successes, failures, timeouts, finished, mean duration and active
    sessions of one range."""
    split = split_range(conn, tr)

    def build() -> Any:
        R = AgentHourlyRollup

        def raw(where: ColumnElement[bool]) -> Select[Any]:
            return select(
                func.count().label("executions"), func.sum(is_success(AEM.status)).label("successes"),
                func.sum(is_failure(AEM.status)).label("failures"),
                func.sum(is_timeout(AEM.status)).label("timeouts"), func.sum(is_finished(AEM.status)).label("finished"),
                func.count(AEM.duration_ms).label("duration_count"), func.sum(AEM.duration_ms).label("duration_sum"),
            ).where(where)

        rolled = select(R.executions, R.successes, R.failures, R.timeouts, R.finished, R.duration_count,
                        R.duration_sum)
        u = combined(split, raw, AEM.start_time, rolled, R.hour)
        return select(zsum(u.c.executions), zsum(u.c.successes), zsum(u.c.failures), zsum(u.c.timeouts),
                      zsum(u.c.finished), mean(u.c.duration_sum, u.c.duration_count),
                      count_sessions_in_range(split if from_rollups else None))

    # Sessions in range: the distinct sessions with an execution in the range, from the
    # sessions rollup for whole hours (revision 0004) — a figure a prune cannot change.
    from_rollups = split.uses_rollups and figure_rollups_available(conn)
    stmt = cached_statement(("kpis", conn.dialect.name, split.shape, from_rollups), build)
    total, ok, failed, timeouts, finished, avg_ms, sessions = conn.execute(
        stmt, {**split.params(), "r_start": tr.start, "r_end": tr.end}).one()
    return int(total), int(ok), int(failed), int(timeouts), int(finished), avg_ms, int(sessions or 0)


def summary_kpis(conn: Connection, tr: TimeRange) -> SummaryKpis:
    now = period_totals(conn, tr)
    before = period_totals(conn, previous_period(tr))
    hours = (tr.end - tr.start).total_seconds() / 3600

    def kpi(index: int) -> tuple[float | None, float | None]:
        return tuple(  # type: ignore[return-value]
            (float(p[6]) if index == 0 else
             p[0] / hours if index == 1 else
             (float(p[5]) if p[5] is not None else None) if index == 2 else
             rate(p[1], p[4]))
            for p in (now, before)
        )

    cost, unpriced_calls = None, 0
    cost_now = cost_totals(conn, tr)
    if cost_now is not None:  # a database with model calls
        cost_before = cost_totals(conn, previous_period(tr))
        assert cost_before is not None
        cost = KpiValue(cost_kpi_value(cost_now), cost_kpi_value(cost_before))
        unpriced_calls = cost_now.unpriced_calls

    return SummaryKpis(
        active_sessions=KpiValue(*kpi(0)),
        queries_per_hour=KpiValue(*kpi(1)),
        avg_response_time_ms=KpiValue(*kpi(2)),
        success_rate=KpiValue(*kpi(3)),
        total_executions=now[0],
        total_failures=now[2] + now[3],
        previous_executions=before[0],
        cost_usd=cost,
        unpriced_calls=unpriced_calls,
    )
