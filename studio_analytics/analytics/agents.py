"""Agent usage: one row per agent, every figure aggregated in SQL and sorted there."""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import Select, func, select, true
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from studio_analytics.analytics.cost import priced_cost, unpriced
from studio_analytics.analytics.results import AgentUsage, AgentUsageRow, TimeRange
from studio_analytics.analytics.rollup_sources import (
    Histogram,
    RangeSplit,
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
    is_failure,
    is_finished,
    is_success,
    is_timeout,
    percentile_columns,
)
from studio_analytics.db.capabilities import has_model_calls
from studio_analytics.db.models import AgentExecutionMetrics as AEM
from studio_analytics.db.models import ModelCallMetrics as MCM
from studio_analytics.db.rollup_models import (
    AgentHourlyRollup,
    AgentLatencyDailyRollup,
    AgentLatencyRollup,
    ModelAgentHourlyRollup,
)

AGENT_SORTS = {
    "agent_name", "executions", "successes", "failures", "timeouts", "success_rate", "avg_duration_ms",
    "p50_duration_ms", "p95_duration_ms", "p99_duration_ms", "total_tool_calls", "total_tokens", "last_used",
    # from the agents' model calls (executions order on a database without them)
    "input_tokens", "output_tokens", "cost_usd", "unpriced_calls",
}
#: The sorts that need the agents' model calls (see ``with_models``).
AGENT_MODEL_SORTS = frozenset({"input_tokens", "output_tokens", "cost_usd", "unpriced_calls"})


def agent_usage(conn: Connection, tr: TimeRange, *, sort: str = "executions", descending: bool = True,
                limit: int = 100, with_models: bool = True) -> AgentUsage:
    """Per agent of the range; with ``with_models`` (and a database with model calls)
    also the tokens in/out and cost of the agents' model calls (the overview, which
    shows none of them, leaves them out: they are most of the query's work)."""
    if sort not in AGENT_SORTS:
        raise ValueError(f"cannot sort agents by {sort!r}")
    split = split_range(conn, tr)
    models = with_models and has_model_calls(conn)

    def build() -> Any:
        R = AgentHourlyRollup

        def raw(where: ColumnElement[bool]) -> Select[Any]:
            return select(
                AEM.agent_name.label("agent_name"), func.count().label("executions"),
                func.sum(is_success(AEM.status)).label("successes"), func.sum(is_failure(AEM.status)).label("failures"),
                func.sum(is_timeout(AEM.status)).label("timeouts"), func.sum(is_finished(AEM.status)).label("finished"),
                func.count(AEM.duration_ms).label("duration_count"), func.sum(AEM.duration_ms).label("duration_sum"),
                func.sum(AEM.tool_count).label("tool_calls"), func.sum(AEM.tokens_used).label("tokens"),
                func.max(AEM.start_time).label("last_start"),
            ).where(where).group_by(AEM.agent_name)

        rolled = select(R.agent_name, R.executions, R.successes, R.failures, R.timeouts, R.finished, R.duration_count,
                        R.duration_sum, R.tool_calls, R.tokens, R.last_start)
        u = combined(split, raw, AEM.start_time, rolled, R.hour)
        base = select(
            u.c.agent_name, zsum(u.c.executions).label("executions"), zsum(u.c.successes).label("successes"),
            zsum(u.c.failures).label("failures"), zsum(u.c.timeouts).label("timeouts"),
            zsum(u.c.finished).label("finished"), mean(u.c.duration_sum, u.c.duration_count).label("avg_duration_ms"),
            zsum(u.c.tool_calls).label("total_tool_calls"), zsum(u.c.tokens).label("total_tokens"),
            func.max(u.c.last_start).label("last_used"),
        ).group_by(u.c.agent_name).subquery()
        fractions = (0.5, 0.95, 0.99)
        if split.uses_rollups:
            pct = histogram_percentiles(
                conn, split, fractions, raw_key=AEM.agent_name, raw_value=AEM.duration_ms, raw_time=AEM.start_time,
                raw_filter=true(),
                histogram=Histogram(AgentLatencyRollup, AgentLatencyDailyRollup, by_name("agent_name")),
            )
        else:
            pct = percentile_columns(conn, AEM.duration_ms, AEM.agent_name, within(AEM.start_time, 0), fractions)
        success_rate = (base.c.successes * 1.0 / func.nullif(base.c.finished, 0)).label("success_rate")
        everything = func.sum(base.c.executions).over().label("all_executions")  # before LIMIT
        groups = func.count().over().label("all_groups")
        query = select(base, success_rate, pct.c.p50, pct.c.p95, pct.c.p99, everything, groups).join(
            pct, pct.c.key == base.c.agent_name, isouter=True
        )
        sorts: dict[str, Any] = {
            "success_rate": success_rate, "p50_duration_ms": pct.c.p50, "p95_duration_ms": pct.c.p95,
            "p99_duration_ms": pct.c.p99,
        }
        if models:
            m = model_sums_by_agent(split)
            model_columns = {
                "input_tokens": func.coalesce(m.c.input_tokens, 0), "output_tokens": func.coalesce(m.c.output_tokens, 0),
                "cost_usd": priced_cost(m.c.cost_usd, m.c.calls, m.c.unpriced_calls),
                "unpriced_calls": func.coalesce(m.c.unpriced_calls, 0),
            }
            query = query.add_columns(*(c.label(f"m_{name}") for name, c in model_columns.items())).join(
                m, m.c.agent_name == base.c.agent_name, isouter=True)
            sorts.update(model_columns)
        sort_col = sorts.get(sort, base.c.get(sort, base.c.executions))
        order = sort_col.desc() if descending else sort_col.asc()
        return query.order_by(order.nulls_last(), base.c.agent_name).limit(limit)

    key = ("agent_usage", conn.dialect.name, split.shape, sort, descending, limit, models)  # models: the join
    rows = conn.execute(cached_statement(key, build), split.params()).mappings().all()
    p = functools.partial(percentile_value, split)
    return AgentUsage(
        rows=tuple(
            AgentUsageRow(
                agent_name=r["agent_name"], executions=int(r["executions"]), successes=int(r["successes"]),
                failures=int(r["failures"]), timeouts=int(r["timeouts"]),
                success_rate=None if r["success_rate"] is None else float(r["success_rate"]),
                avg_duration_ms=_f(r["avg_duration_ms"]), p50_duration_ms=p(r["p50"]),
                p95_duration_ms=p(r["p95"]), p99_duration_ms=p(r["p99"]),
                total_tool_calls=int(r["total_tool_calls"]), total_tokens=int(r["total_tokens"]),
                last_used=r["last_used"], approximate=split.uses_rollups,
                **(_model_fields(r) if models else {}),
            )
            for r in rows
        ),
        total_executions=int(rows[0]["all_executions"]) if rows else 0,
        total_rows=int(rows[0]["all_groups"]) if rows else 0,
    )


def model_sums_by_agent(split: RangeSplit) -> Any:
    """Subquery per agent of the range's model calls: ``agent_name, calls, input_tokens,
    output_tokens, cost_usd`` (priced calls), ``unpriced_calls`` (rollups + raw edges)."""
    R = ModelAgentHourlyRollup

    def raw(where: ColumnElement[bool]) -> Select[Any]:
        return select(
            MCM.agent_name.label("agent_name"), func.count().label("calls"),
            func.sum(MCM.input_tokens).label("input_tokens"), func.sum(MCM.output_tokens).label("output_tokens"),
            func.sum(MCM.cost_usd).label("cost_usd"), func.sum(unpriced(MCM.cost_usd)).label("unpriced_calls"),
        ).where(where, MCM.agent_name.isnot(None)).group_by(MCM.agent_name)

    # summed per agent before the union with the edges (see cost.rolled_model_sums)
    rolled = select(R.agent_name, *(func.sum(getattr(R, c)).label(c) for c in (
        "calls", "input_tokens", "output_tokens", "cost_usd", "unpriced_calls"))).where(
        R.agent_name != "").group_by(R.agent_name)
    u = combined(split, raw, MCM.start_time, rolled, R.hour)
    return select(u.c.agent_name, zsum(u.c.calls).label("calls"), zsum(u.c.input_tokens).label("input_tokens"),
                  zsum(u.c.output_tokens).label("output_tokens"), zsum(u.c.cost_usd).label("cost_usd"),
                  zsum(u.c.unpriced_calls).label("unpriced_calls")).group_by(u.c.agent_name).subquery()


def _model_fields(r: Any) -> dict[str, Any]:
    return {"input_tokens": int(r["m_input_tokens"]), "output_tokens": int(r["m_output_tokens"]),
            "cost_usd": _f(r["m_cost_usd"]), "unpriced_calls": int(r["m_unpriced_calls"])}


def _f(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]
