"""Cost and tokens over time: per bucket, stacked by model or by agent (the largest
spenders of the range, the rest as "other"), with tokens in and out, calls and unpriced
calls. Hour and day buckets read the hourly rollups plus raw edge hours; minute buckets
(ranges up to three hours) read raw rows.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sqlalchemy import Select, case, func, literal, select
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from studio_analytics.analytics.cost import NO_AGENT, unpriced
from studio_analytics.analytics.results import CostSeries, TimeRange
from studio_analytics.analytics.rollup_sources import (
    RangeSplit,
    cached_statement,
    combined,
    hour_bucket,
    raw_only,
    split_range,
    zsum,
)
from studio_analytics.analytics.sql import bucket_epoch
from studio_analytics.analytics.timerange import BUCKET_SECONDS, bucket_starts
from studio_analytics.db.models import ModelCallMetrics as MCM
from studio_analytics.db.rollup_models import ModelAgentHourlyRollup, ModelHourlyRollup
from studio_analytics.db.rollups import HOUR_S

#: How many models (or agents) get their own series; the rest are summed as :data:`OTHER`.
TOP_SERIES = 8
OTHER = "other"


def cost_series(conn: Connection, tr: TimeRange, *, top: int = TOP_SERIES) -> CostSeries:
    """The range's cost per bucket by model and by agent, and its calls and tokens per
    bucket (call only when :func:`~studio_analytics.db.capabilities.has_model_calls`)."""
    size = BUCKET_SECONDS[tr.bucket]
    split = split_range(conn, tr) if size >= HOUR_S else raw_only(tr)
    params = split.params()
    shape = (conn.dialect.name, split.shape, size)
    starts = bucket_starts(tr)
    index = {b: i for i, b in enumerate(starts)}
    n = len(starts)

    calls = np.zeros(n, dtype=np.int64)
    unpriced_calls = np.zeros(n, dtype=np.int64)
    tokens_in = np.zeros(n, dtype=np.int64)
    tokens_out = np.zeros(n, dtype=np.int64)
    stmt = cached_statement(("cost_series_totals", *shape), lambda: _totals_statement(conn, split, size))
    for b, n_calls, n_unpriced, n_in, n_out in conn.execute(stmt, params):
        i = index.get(int(b))
        if i is not None:
            calls[i], unpriced_calls[i], tokens_in[i], tokens_out[i] = n_calls, n_unpriced, n_in, n_out

    def stacked(by: str) -> dict[str, Any]:
        stmt = cached_statement(("cost_series_by", by, top, *shape),
                                lambda: _stacked_statement(conn, split, size, by, top))
        out: dict[str, Any] = {}
        for b, key, cost in conn.execute(stmt, params):  # ordered by rank: largest first, "other" last
            name = OTHER if key is None else key if by == "model" else key or NO_AGENT
            series = out.get(name)
            if series is None:
                series = out[name] = np.zeros(n, dtype=np.float64)
            i = index.get(int(b))
            if i is not None:
                series[i] = float(cost or 0.0)
        return out

    return CostSeries(bucket=tr.bucket, bucket_starts=np.asarray(starts, dtype=np.float64),
                      by_model=stacked("model"), by_agent=stacked("agent"), input_tokens=tokens_in,
                      output_tokens=tokens_out, calls=calls, unpriced_calls=unpriced_calls)


def _totals_statement(conn: Connection, split: RangeSplit, size: int) -> Any:
    R = ModelHourlyRollup
    bucket = bucket_epoch(conn, MCM.start_time, size).label("b")

    def raw(where: ColumnElement[bool]) -> Select[Any]:
        return select(bucket, func.count().label("calls"), func.sum(unpriced(MCM.cost_usd)).label("unpriced_calls"),
                      func.sum(MCM.input_tokens).label("input_tokens"),
                      func.sum(MCM.output_tokens).label("output_tokens")).where(where).group_by(bucket)

    b = hour_bucket(R.hour, size)
    # summed per bucket before the union with the edges (see cost.rolled_model_sums)
    rolled = select(b.label("b"), *(func.sum(getattr(R, c)).label(c) for c in (
        "calls", "unpriced_calls", "input_tokens", "output_tokens"))).group_by(b)
    u = combined(split, raw, MCM.start_time, rolled, R.hour)
    return select(u.c.b, zsum(u.c.calls), zsum(u.c.unpriced_calls), zsum(u.c.input_tokens),
                  zsum(u.c.output_tokens)).group_by(u.c.b)


def _stacked_statement(conn: Connection, split: RangeSplit, size: int, by: str, top: int) -> Any:
    """Rows ``(bucket, key, cost)``: ``key`` is one of the ``top`` largest spenders of
    the range (by cost, then calls, then name), or NULL for the rest together; ordered
    by that rank, the rest last."""
    if by == "model":
        R: Any = ModelHourlyRollup
        raw_key: Any = MCM.model
        rolled_key: Any = R.model
    else:
        R = ModelAgentHourlyRollup
        raw_key, rolled_key = func.coalesce(MCM.agent_name, literal("")), R.agent_name
    bucket = bucket_epoch(conn, MCM.start_time, size).label("b")

    def raw(where: ColumnElement[bool]) -> Select[Any]:
        return select(bucket, raw_key.label("key"), func.sum(MCM.cost_usd).label("cost"),
                      func.count().label("calls")).where(where).group_by(bucket, raw_key)

    b = hour_bucket(R.hour, size)
    rolled = select(b.label("b"), rolled_key.label("key"), func.sum(R.cost_usd).label("cost"),
                    func.sum(R.calls).label("calls")).group_by(b, rolled_key)
    u = combined(split, raw, MCM.start_time, rolled, R.hour)
    per_bucket = select(u.c.b, u.c.key, zsum(u.c.cost).label("cost"), zsum(u.c.calls).label("calls")).group_by(
        u.c.b, u.c.key).cte("per_bucket")
    ranked = select(
        per_bucket.c.key,
        func.row_number().over(order_by=(func.sum(per_bucket.c.cost).desc(), func.sum(per_bucket.c.calls).desc(),
                                          per_bucket.c.key)).label("rank"),
    ).group_by(per_bucket.c.key).subquery()
    kept = ranked.c.rank <= top
    key = case((kept, per_bucket.c.key), else_=None).label("key")
    position = func.min(ranked.c.rank).label("position")
    return (select(per_bucket.c.b, key, func.sum(per_bucket.c.cost).label("cost"))
            .select_from(per_bucket.join(ranked, ranked.c.key == per_bucket.c.key))
            .group_by(per_bucket.c.b, key).order_by(position, per_bucket.c.b))
