"""What model calls cost: totals of a range, and the breakdown by model, agent, user,
session or day. Every sum is SQL (hourly rollups plus raw edge hours, or raw rows).

Unpriced calls (``cost_usd`` NULL: no price for the model, or no token count) are never
counted as $0: their number and tokens are reported beside the cost, and a group whose
calls are all unpriced has no cost (None), not 0.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, case, func, literal, select
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from studio_analytics.analytics.results import (
    CostBreakdown,
    CostBreakdownRow,
    CostTotals,
    TimeRange,
)
from studio_analytics.analytics.rollup_sources import (
    cached_statement,
    combined,
    hour_bucket,
    raw_only,
    split_range,
    zsum,
)
from studio_analytics.analytics.sql import bucket_epoch, is_failure, is_timeout
from studio_analytics.db.capabilities import has_model_calls
from studio_analytics.db.models import ModelCallMetrics as MCM
from studio_analytics.db.rollup_models import ModelAgentHourlyRollup, ModelHourlyRollup
from studio_analytics.db.rollups import DAY_S

BREAKDOWNS = ("model", "agent", "user", "session", "day")
#: Keys of groups without a name: calls outside any execution, without a user or session.
NO_AGENT, NO_USER, NO_SESSION = "(no agent)", "(no user)", "(no session)"


def unpriced(cost: Any) -> ColumnElement[int]:
    """1 for a raw call whose cost is unknown."""
    return case((cost.is_(None), 1), else_=0)


def unpriced_tokens(cost: Any, tokens: Any) -> ColumnElement[Any]:
    return case((cost.is_(None), func.coalesce(tokens, 0)), else_=0)


def priced_cost(cost: Any, calls: Any, unpriced_calls: Any) -> ColumnElement[Any]:
    """The summed cost, or NULL when none of the group's calls is priced: a group of
    unpriced calls has no cost, it does not cost $0."""
    return case((func.coalesce(calls, 0) - func.coalesce(unpriced_calls, 0) > 0, cost), else_=None)


def raw_model_sums(where: ColumnElement[bool], *keys: Any) -> Select[Any]:
    """Raw model calls grouped by ``keys``, with the columns of ``rollup_model_hourly``."""
    m = MCM
    return select(
        *keys, func.count().label("calls"), func.sum(is_failure(m.status)).label("failures"),
        func.sum(is_timeout(m.status)).label("timeouts"), func.sum(m.input_tokens).label("input_tokens"),
        func.sum(m.output_tokens).label("output_tokens"), func.sum(m.cached_input_tokens).label("cached_input_tokens"),
        func.sum(m.reasoning_tokens).label("reasoning_tokens"), func.sum(m.cost_usd).label("cost_usd"),
        func.sum(unpriced(m.cost_usd)).label("unpriced_calls"),
        func.sum(unpriced_tokens(m.cost_usd, m.input_tokens)).label("unpriced_input_tokens"),
        func.sum(unpriced_tokens(m.cost_usd, m.output_tokens)).label("unpriced_output_tokens"),
    ).where(where)


def rolled_model_sums(*keys: Any, extra: tuple[Any, ...] = ()) -> Select[Any]:
    """``rollup_model_hourly`` summed per ``keys`` (labelled), then ``extra`` aggregates,
    then the columns of :func:`raw_model_sums` — in the order a union with
    ``raw_model_sums(where, *keys, *extra)`` needs (UNION ALL matches by position).
    Summed here, before the union with the raw edges: SQLite groups a table's rows
    faster than a union's (~2x on the thousands of rollup rows of a week)."""
    R = ModelHourlyRollup
    query = select(*keys, *extra, *(func.sum(getattr(R, name)).label(name) for name in TOTAL_COLUMNS))
    return query.group_by(*keys) if keys else query


TOTAL_COLUMNS = ("calls", "failures", "timeouts", "input_tokens", "output_tokens", "cached_input_tokens",
                 "reasoning_tokens", "cost_usd", "unpriced_calls", "unpriced_input_tokens", "unpriced_output_tokens")


def totals_of(values: dict[str, Any]) -> CostTotals:
    """A :class:`CostTotals` from summed :data:`TOTAL_COLUMNS` (None counts as 0)."""
    v = {k: values.get(k) or 0 for k in TOTAL_COLUMNS}
    return CostTotals(
        calls=int(v["calls"]), failures=int(v["failures"]) + int(v["timeouts"]),
        input_tokens=int(v["input_tokens"]), output_tokens=int(v["output_tokens"]),
        cached_input_tokens=int(v["cached_input_tokens"]), reasoning_tokens=int(v["reasoning_tokens"]),
        cost_usd=float(v["cost_usd"]), priced_calls=int(v["calls"]) - int(v["unpriced_calls"]),
        unpriced_calls=int(v["unpriced_calls"]), unpriced_input_tokens=int(v["unpriced_input_tokens"]),
        unpriced_output_tokens=int(v["unpriced_output_tokens"]),
    )


def cost_totals(conn: Connection, tr: TimeRange) -> CostTotals | None:
    """The model calls of ``tr``: calls, tokens, the cost of the priced ones and what is
    unpriced. None on a database without model calls."""
    if not has_model_calls(conn):
        return None
    split = split_range(conn, tr)

    def build() -> Any:
        u = combined(split, lambda where: raw_model_sums(where), MCM.start_time, rolled_model_sums(),
                     ModelHourlyRollup.hour)
        return select(*(zsum(u.c[name]).label(name) for name in TOTAL_COLUMNS))

    stmt = cached_statement(("cost_totals", conn.dialect.name, split.shape), build)
    return totals_of(dict(conn.execute(stmt, split.params()).mappings().one()))


def cost_kpi_value(totals: CostTotals) -> float | None:
    """The cost a KPI shows: of the priced calls; None when every call is unpriced (an
    unknown cost is not $0); 0.0 only when there were no calls at all."""
    if totals.priced_calls:
        return totals.cost_usd
    return None if totals.unpriced_calls else 0.0


def cost_breakdown(conn: Connection, tr: TimeRange, *, by: str, limit: int = 100) -> CostBreakdown | None:
    """Cost, calls and tokens per model, agent, user, session or UTC day of ``tr``:
    days in time order, the others by cost (unpriced groups last), then calls. None on a
    database without model calls."""
    if by not in BREAKDOWNS:
        raise ValueError(f"cannot break cost down by {by!r}; use one of {', '.join(BREAKDOWNS)}")
    if not has_model_calls(conn):
        return None
    # Users and sessions have no rollup: their calls are grouped from raw rows (indexed).
    split = split_range(conn, tr) if by in ("model", "agent", "day") else raw_only(tr)
    dialect = conn.dialect.name

    def build() -> Any:
        if by == "agent":
            R: Any = ModelAgentHourlyRollup
            raw_key, rolled_key = func.coalesce(MCM.agent_name, literal("")), R.agent_name
        elif by == "model":
            R, raw_key, rolled_key = ModelHourlyRollup, MCM.model, ModelHourlyRollup.model
        elif by == "day":
            R = ModelHourlyRollup
            raw_key, rolled_key = bucket_epoch(conn, MCM.start_time, DAY_S), hour_bucket(R.hour, DAY_S)
        else:
            R, raw_key, rolled_key = None, MCM.user_id if by == "user" else MCM.session_id, None

        def raw(where: ColumnElement[bool]) -> Select[Any]:
            return select(
                raw_key.label("key"), func.count().label("calls"), func.sum(MCM.input_tokens).label("input_tokens"),
                func.sum(MCM.output_tokens).label("output_tokens"), func.sum(MCM.cost_usd).label("cost_usd"),
                func.sum(unpriced(MCM.cost_usd)).label("unpriced_calls"),
            ).where(where).group_by(raw_key)

        rolled = None if R is None else select(
            rolled_key.label("key"), *(func.sum(getattr(R, c)).label(c) for c in (
                "calls", "input_tokens", "output_tokens", "cost_usd", "unpriced_calls"))).group_by(rolled_key)
        u = combined(split, raw, MCM.start_time, rolled, None if R is None else R.hour)
        g = select(u.c.key, zsum(u.c.calls).label("calls"), zsum(u.c.input_tokens).label("input_tokens"),
                   zsum(u.c.output_tokens).label("output_tokens"), zsum(u.c.cost_usd).label("cost_usd"),
                   zsum(u.c.unpriced_calls).label("unpriced_calls")).group_by(u.c.key).subquery()
        cost = priced_cost(g.c.cost_usd, g.c.calls, g.c.unpriced_calls)
        query = select(g.c.key, g.c.calls, g.c.input_tokens, g.c.output_tokens, cost.label("cost"),
                       g.c.unpriced_calls, func.count().over().label("all_groups"))
        if by == "day":
            return query.order_by(g.c.key).limit(limit)
        # A NULL key (no user, no session) sorts as '' among equals: deterministic order.
        return query.order_by(cost.desc().nulls_last(), g.c.calls.desc(),
                              func.coalesce(g.c.key, literal("")).asc()).limit(limit)

    stmt = cached_statement(("cost_breakdown", dialect, split.shape, by, limit), build)
    rows = conn.execute(stmt, split.params()).all()
    totals = cost_totals(conn, tr)
    assert totals is not None
    return CostBreakdown(
        by=by,
        rows=tuple(
            CostBreakdownRow(key=_key(by, r.key), calls=int(r.calls), input_tokens=int(r.input_tokens),
                             output_tokens=int(r.output_tokens), cost_usd=None if r.cost is None else float(r.cost),
                             unpriced_calls=int(r.unpriced_calls))
            for r in rows
        ),
        totals=totals,
        total_rows=int(rows[0].all_groups) if rows else 0,
    )


def _key(by: str, value: Any) -> str:
    if by == "day":
        return datetime.fromtimestamp(int(value), UTC).date().isoformat()
    if value is None or value == "":
        return {"agent": NO_AGENT, "user": NO_USER, "session": NO_SESSION}.get(by, "")
    return str(value)

