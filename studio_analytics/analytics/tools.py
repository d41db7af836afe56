"""Tool usage: calls, success, latency, external APIs and the agents that use each tool."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, case, func, literal, select, true
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from studio_analytics.analytics.results import TimeRange, ToolUsage, ToolUsageRow
from studio_analytics.analytics.rollup_sources import (
    Histogram,
    by_name,
    cached_statement,
    combined,
    histogram_percentiles,
    mean,
    percentile_value,
    split_range,
    within,
    zsum,
)
from studio_analytics.analytics.sql import (
    NAME_SEPARATOR,
    is_failure,
    is_finished,
    is_success,
    joined_names,
    percentile_columns,
)
from studio_analytics.db.models import AgentExecutionMetrics as AEM
from studio_analytics.db.models import ToolUsageMetrics as TUM
from studio_analytics.db.rollup_models import (
    ToolAgentHourlyRollup,
    ToolHourlyRollup,
    ToolLatencyDailyRollup,
    ToolLatencyRollup,
)

TOOL_SORTS = {"tool_name", "calls", "successes", "failures", "success_rate", "avg_duration_ms",
              "p95_duration_ms", "api_calls", "api_error_rate", "last_used"}


def tool_usage(conn: Connection, tr: TimeRange, *, sort: str = "calls", descending: bool = True,
               limit: int = 100, with_top_agents: bool = True) -> ToolUsage:
    """Per tool. ``with_top_agents=False`` skips the tool→execution join (the costliest
    part at scale) when only the counts are shown, as on the overview."""
    if sort not in TOOL_SORTS:
        raise ValueError(f"cannot sort tools by {sort!r}")
    split = split_range(conn, tr)

    def build() -> Any:
        R = ToolHourlyRollup
        api = func.coalesce(TUM.external_api_called, literal(""))
        api_error = case(
            (TUM.external_api_called.isnot(None) & ((TUM.api_status_code >= 400) | (is_failure(TUM.status) == 1)), 1),
            else_=0,
        )

        def raw(w: ColumnElement[bool]) -> Select[Any]:
            return select(
                TUM.tool_name.label("tool_name"), api.label("api"), func.count().label("calls"),
                func.sum(is_success(TUM.status)).label("successes"), func.sum(is_failure(TUM.status)).label("failures"),
                func.sum(is_finished(TUM.status)).label("finished"), func.count(TUM.duration_ms).label("duration_count"),
                func.sum(TUM.duration_ms).label("duration_sum"), func.sum(api_error).label("api_errors"),
                func.max(TUM.start_time).label("last_start"),
            ).where(w).group_by(TUM.tool_name, api)

        rolled = select(R.tool_name, R.api, R.calls, R.successes, R.failures, R.finished, R.duration_count,
                        R.duration_sum, R.api_errors, R.last_start)
        u = combined(split, raw, TUM.start_time, rolled, R.hour)
        # Two levels: per (tool, API) first, so the second can list each tool's APIs.
        per_api = select(
            u.c.tool_name, u.c.api, zsum(u.c.calls).label("calls"), zsum(u.c.successes).label("successes"),
            zsum(u.c.failures).label("failures"), zsum(u.c.finished).label("finished"),
            zsum(u.c.duration_sum).label("duration_sum"), zsum(u.c.duration_count).label("duration_count"),
            zsum(u.c.api_errors).label("api_errors"), func.max(u.c.last_start).label("last_start"),
        ).group_by(u.c.tool_name, u.c.api).subquery()
        p = per_api.c
        base = select(
            p.tool_name, func.sum(p.calls).label("calls"), func.sum(p.successes).label("successes"),
            func.sum(p.failures).label("failures"), func.sum(p.finished).label("finished"),
            mean(p.duration_sum, p.duration_count).label("avg_duration_ms"),
            zsum(case((p.api != "", p.calls), else_=0)).label("api_calls"), func.sum(p.api_errors).label("api_errors"),
            func.max(p.last_start).label("last_used"),
            joined_names(conn, case((p.api != "", p.api))).label("apis"),
        ).group_by(p.tool_name).subquery()
        if split.uses_rollups:
            pct = histogram_percentiles(
                conn, split, (0.95,), raw_key=TUM.tool_name, raw_value=TUM.duration_ms, raw_time=TUM.start_time,
                raw_filter=true(),
                histogram=Histogram(ToolLatencyRollup, ToolLatencyDailyRollup, by_name("tool_name")),
            )
        else:
            pct = percentile_columns(conn, TUM.duration_ms, TUM.tool_name, within(TUM.start_time, 0), (0.95,))
        success_rate = (base.c.successes * 1.0 / func.nullif(base.c.finished, 0)).label("success_rate")
        api_error_rate = (base.c.api_errors * 1.0 / func.nullif(base.c.api_calls, 0)).label("api_error_rate")
        everything = func.sum(base.c.calls).over().label("all_calls")  # before LIMIT
        groups = func.count().over().label("all_groups")
        query = select(base, success_rate, api_error_rate, pct.c.p95, everything, groups).join(
            pct, pct.c.key == base.c.tool_name, isouter=True)
        sort_col = {"success_rate": success_rate, "api_error_rate": api_error_rate,
                    "p95_duration_ms": pct.c.p95}.get(sort, base.c.get(sort, base.c.calls))
        order = sort_col.desc() if descending else sort_col.asc()
        return query.order_by(order.nulls_last(), base.c.tool_name).limit(limit)

    key = ("tool_usage", conn.dialect.name, split.shape, sort, descending, limit)
    rows = conn.execute(cached_statement(key, build), split.params()).mappings().all()
    names = [r["tool_name"] for r in rows]
    apis: dict[str, list[str]] = {}
    top: dict[str, list[tuple[str, int]]] = {}
    for r in rows:
        apis[r["tool_name"]] = sorted(set(r["apis"].split(NAME_SEPARATOR)))[:10] if r["apis"] else []
    if names and with_top_agents:
        R = ToolAgentHourlyRollup

        def raw(w: ColumnElement[bool]) -> Select[Any]:
            return (select(TUM.tool_name.label("tool"), AEM.agent_name.label("agent"), func.count().label("n"))
                    .join(AEM, AEM.execution_id == TUM.execution_id).where(w, TUM.tool_name.in_(names))
                    .group_by(TUM.tool_name, AEM.agent_name))

        rolled = select(R.tool_name.label("tool"), R.agent_name.label("agent"), R.calls.label("n")).where(
            R.tool_name.in_(names), R.agent_name != "")
        u = combined(split, raw, TUM.start_time, rolled, R.hour)
        per_agent = select(u.c.tool, u.c.agent, func.sum(u.c.n).label("n")).group_by(u.c.tool, u.c.agent).subquery()
        ranked = select(
            per_agent, func.row_number().over(partition_by=per_agent.c.tool,
                                              order_by=(per_agent.c.n.desc(), per_agent.c.agent)).label("rk")
        ).subquery()
        for tool, agent, n, _ in conn.execute(
            select(ranked).where(ranked.c.rk <= 3).order_by(ranked.c.tool, ranked.c.rk), split.params()
        ):
            top.setdefault(tool, []).append((agent, int(n)))
    return ToolUsage(
        rows=tuple(
            ToolUsageRow(
                tool_name=r["tool_name"], calls=int(r["calls"]), successes=int(r["successes"]),
                failures=int(r["failures"]),
                success_rate=None if r["success_rate"] is None else float(r["success_rate"]),
                avg_duration_ms=None if r["avg_duration_ms"] is None else float(r["avg_duration_ms"]),
                p95_duration_ms=percentile_value(split, r["p95"]),
                external_apis=tuple(apis.get(r["tool_name"], ())), api_calls=int(r["api_calls"]),
                api_error_rate=None if r["api_error_rate"] is None else float(r["api_error_rate"]),
                top_agents=tuple(top.get(r["tool_name"], ())), last_used=r["last_used"],
                approximate=split.uses_rollups,
            )
            for r in rows
        ),
        total_calls=int(rows[0]["all_calls"]) if rows else 0,
        total_rows=int(rows[0]["all_groups"]) if rows else 0,
    )
