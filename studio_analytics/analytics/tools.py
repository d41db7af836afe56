"""Tool usage: calls, success, latency, external APIs and the agents that use each tool."""

from __future__ import annotations

from sqlalchemy import case, func, select
from sqlalchemy.engine import Connection

from studio_analytics.analytics.results import TimeRange, ToolUsage, ToolUsageRow
from studio_analytics.analytics.sql import (
    in_range,
    is_failure,
    is_finished,
    is_success,
    percentile_columns,
)
from studio_analytics.db.models import AgentExecutionMetrics as AEM
from studio_analytics.db.models import ToolUsageMetrics as TUM

TOOL_SORTS = {"tool_name", "calls", "successes", "failures", "success_rate", "avg_duration_ms",
              "p95_duration_ms", "api_calls", "api_error_rate", "last_used"}


def tool_usage(conn: Connection, tr: TimeRange, *, sort: str = "calls", descending: bool = True,
               limit: int = 100, with_top_agents: bool = True) -> ToolUsage:
    """Per tool. ``with_top_agents=False`` skips the tool→execution join (the costliest
    part at scale) when only the counts are shown, as on the overview."""
    if sort not in TOOL_SORTS:
        raise ValueError(f"cannot sort tools by {sort!r}")
    where = in_range(TUM.start_time, tr)
    api_call = case((TUM.external_api_called.isnot(None), 1), else_=0)
    api_error = case(
        (TUM.external_api_called.isnot(None) & ((TUM.api_status_code >= 400) | (is_failure(TUM.status) == 1)), 1),
        else_=0,
    )
    base = select(
        TUM.tool_name.label("tool_name"), func.count().label("calls"),
        func.coalesce(func.sum(is_success(TUM.status)), 0).label("successes"),
        func.coalesce(func.sum(is_failure(TUM.status)), 0).label("failures"),
        func.coalesce(func.sum(is_finished(TUM.status)), 0).label("finished"),
        func.avg(TUM.duration_ms).label("avg_duration_ms"),
        func.coalesce(func.sum(api_call), 0).label("api_calls"),
        func.coalesce(func.sum(api_error), 0).label("api_errors"),
        func.max(TUM.start_time).label("last_used"),
    ).where(where).group_by(TUM.tool_name).subquery()
    pct = percentile_columns(conn, TUM.duration_ms, TUM.tool_name, where, (0.95,))
    success_rate = (base.c.successes * 1.0 / func.nullif(base.c.finished, 0)).label("success_rate")
    api_error_rate = (base.c.api_errors * 1.0 / func.nullif(base.c.api_calls, 0)).label("api_error_rate")
    query = select(base, success_rate, api_error_rate, pct.c.p95).join(pct, pct.c.key == base.c.tool_name, isouter=True)
    sort_col = {"success_rate": success_rate, "api_error_rate": api_error_rate,
                "p95_duration_ms": pct.c.p95}.get(sort, base.c.get(sort, base.c.calls))
    order = sort_col.desc() if descending else sort_col.asc()
    rows = conn.execute(query.order_by(order.nulls_last(), base.c.tool_name).limit(limit)).mappings().all()
    names = [r["tool_name"] for r in rows]
    apis: dict[str, list[str]] = {}
    top: dict[str, list[tuple[str, int]]] = {}
    if names:
        for tool, api in conn.execute(
            select(TUM.tool_name, TUM.external_api_called).distinct()
            .where(where, TUM.tool_name.in_(names), TUM.external_api_called.isnot(None))
            .order_by(TUM.tool_name, TUM.external_api_called).limit(10 * len(names))
        ):
            apis.setdefault(tool, []).append(api)
    if names and with_top_agents:
        per_agent = select(
            TUM.tool_name.label("tool"), AEM.agent_name.label("agent"), func.count().label("n"),
        ).join(AEM, AEM.execution_id == TUM.execution_id).where(where, TUM.tool_name.in_(names)).group_by(
            TUM.tool_name, AEM.agent_name
        ).subquery()
        ranked = select(
            per_agent, func.row_number().over(partition_by=per_agent.c.tool,
                                              order_by=(per_agent.c.n.desc(), per_agent.c.agent)).label("rk")
        ).subquery()
        for tool, agent, n, _ in conn.execute(select(ranked).where(ranked.c.rk <= 3).order_by(ranked.c.tool, ranked.c.rk)):
            top.setdefault(tool, []).append((agent, int(n)))
    total = conn.execute(select(func.count()).select_from(TUM).where(where)).scalar() or 0
    return ToolUsage(
        rows=tuple(
            ToolUsageRow(
                tool_name=r["tool_name"], calls=int(r["calls"]), successes=int(r["successes"]),
                failures=int(r["failures"]),
                success_rate=None if r["success_rate"] is None else float(r["success_rate"]),
                avg_duration_ms=None if r["avg_duration_ms"] is None else float(r["avg_duration_ms"]),
                p95_duration_ms=None if r["p95"] is None else float(r["p95"]),
                external_apis=tuple(apis.get(r["tool_name"], ())), api_calls=int(r["api_calls"]),
                api_error_rate=None if r["api_error_rate"] is None else float(r["api_error_rate"]),
                top_agents=tuple(top.get(r["tool_name"], ())), last_used=r["last_used"],
            )
            for r in rows
        ),
        total_calls=int(total),
    )
