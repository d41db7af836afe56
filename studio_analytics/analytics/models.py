"""Model calls per model: calls, failures, latency and time-to-first-token percentiles,
tokens and cost, aggregated and sorted in SQL (hourly rollups plus raw edge hours).

Also the entry point for the cost figures the Models tab and the CLI show:
:func:`cost_totals`, :func:`cost_breakdown` and :func:`cost_series`.
"""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import Select, func, literal, select, true
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from studio_analytics.analytics.cost import (
    BREAKDOWNS,
    TOTAL_COLUMNS,
    cost_breakdown,
    cost_totals,
    priced_cost,
    raw_model_sums,
    rolled_model_sums,
    totals_of,
)
from studio_analytics.analytics.cost_series import OTHER, TOP_SERIES, cost_series
from studio_analytics.analytics.results import ModelUsage, ModelUsageRow, TimeRange
from studio_analytics.analytics.rollup_sources import (
    Histogram,
    by_name,
    cached_statement,
    combined,
    histogram_percentiles,
    percentile_value,
    split_range,
    within,
    zsum,
)
from studio_analytics.analytics.sql import (
    NAME_SEPARATOR,
    is_finished,
    is_success,
    joined_names,
    percentile_columns,
)
from studio_analytics.db.capabilities import has_model_calls
from studio_analytics.db.models import ModelCallMetrics as MCM
from studio_analytics.db.rollup_models import (
    ModelHourlyRollup,
    ModelLatencyDailyRollup,
    ModelLatencyRollup,
    ModelTtftDailyRollup,
    ModelTtftRollup,
)
from studio_analytics.pricing import current_prices

MODEL_SORTS = {
    "model", "calls", "failures", "failure_rate", "avg_duration_ms", "p50_duration_ms", "p95_duration_ms",
    "avg_ttft_ms", "p50_ttft_ms", "input_tokens", "output_tokens", "cached_input_tokens", "reasoning_tokens",
    "cost_usd", "cost_per_1k_calls", "unpriced_calls", "unpriced_input_tokens", "unpriced_output_tokens",
    "last_used",
}

__all__ = [
    "BREAKDOWNS", "MODEL_SORTS", "OTHER", "TOP_SERIES", "cost_breakdown", "cost_series", "cost_totals",
    "model_usage",
]


def model_usage(conn: Connection, tr: TimeRange, *, sort: str = "cost_usd", descending: bool = True,
                limit: int = 100, series: bool = True) -> ModelUsage | None:
    """One row per model of the range (at most ``limit``, sorted in SQL by ``sort``), the
    range's totals and, with ``series``, cost and tokens over time. None on a database
    without model calls (Agent Studio's, or ours before revision 0003)."""
    if sort not in MODEL_SORTS:
        raise ValueError(f"cannot sort models by {sort!r}")
    if not has_model_calls(conn):
        return None
    split = split_range(conn, tr)
    key = ("model_usage", conn.dialect.name, split.shape, sort, descending, limit)
    rows = conn.execute(cached_statement(key, lambda: _statement(conn, split, sort, descending, limit)),
                        split.params()).mappings().all()
    p = functools.partial(percentile_value, split)
    prices = current_prices()
    out = []
    for r in rows:
        providers = tuple(sorted({name for name in (r["providers"] or "").split(NAME_SEPARATOR) if name}))
        priced_calls = int(r["calls"]) - int(r["unpriced_calls"])
        cost = None if r["cost"] is None else float(r["cost"])
        out.append(ModelUsageRow(
            model=r["model"], providers=providers, calls=int(r["calls"]),
            failures=int(r["failures"]) + int(r["timeouts"]), failure_rate=_f(r["failure_rate"]),
            avg_duration_ms=_f(r["avg_duration_ms"]), p50_duration_ms=p(r["p50"]), p95_duration_ms=p(r["p95"]),
            avg_ttft_ms=_f(r["avg_ttft_ms"]), p50_ttft_ms=p(r["ttft_p50"]),
            input_tokens=int(r["input_tokens"]), output_tokens=int(r["output_tokens"]),
            cached_input_tokens=int(r["cached_input_tokens"]), reasoning_tokens=int(r["reasoning_tokens"]),
            cost_usd=cost, cost_per_1k_calls=None if cost is None else cost * 1000 / priced_calls,
            unpriced_calls=int(r["unpriced_calls"]), unpriced_input_tokens=int(r["unpriced_input_tokens"]),
            unpriced_output_tokens=int(r["unpriced_output_tokens"]),
            priced=any(prices.lookup(r["model"], provider) is not None for provider in (providers or (None,))),
            last_used=r["last_used"], approximate=split.uses_rollups,
        ))
    totals = totals_of({name: rows[0][f"all_{name}"] for name in TOTAL_COLUMNS} if rows else {})
    return ModelUsage(rows=tuple(out), totals=totals, series=cost_series(conn, tr) if series else None,
                      total_rows=int(rows[0]["all_groups"]) if rows else 0)


def _statement(conn: Connection, split: Any, sort: str, descending: bool, limit: int) -> Any:
    R = ModelHourlyRollup
    provider = func.coalesce(MCM.provider, literal(""))

    def raw(where: ColumnElement[bool]) -> Select[Any]:
        return raw_model_sums(
            where, MCM.model.label("model"), provider.label("provider"),
            func.sum(is_success(MCM.status)).label("successes"), func.sum(is_finished(MCM.status)).label("finished"),
            func.count(MCM.duration_ms).label("duration_count"), func.sum(MCM.duration_ms).label("duration_sum"),
            func.count(MCM.time_to_first_token_ms).label("ttft_count"),
            func.sum(MCM.time_to_first_token_ms).label("ttft_sum"), func.max(MCM.start_time).label("last_start"),
        ).group_by(MCM.model, provider)

    rolled = rolled_model_sums(R.model, R.provider, extra=(
        *(func.sum(getattr(R, c)).label(c) for c in ("successes", "finished", "duration_count", "duration_sum",
                                                     "ttft_count", "ttft_sum")),
        func.max(R.last_start).label("last_start")))
    u = combined(split, raw, MCM.start_time, rolled, R.hour)
    summed = ("successes", "finished", "duration_count", "duration_sum", "ttft_count", "ttft_sum", *TOTAL_COLUMNS)
    # Per (model, provider) first: the providers of a model are then its distinct rows.
    by_provider = select(u.c.model, u.c.provider, *(zsum(u.c[c]).label(c) for c in summed),
                         func.max(u.c.last_start).label("last_start")).group_by(u.c.model, u.c.provider).subquery()
    pv = by_provider.c
    base = select(
        pv.model, joined_names(conn, func.nullif(pv.provider, literal(""))).label("providers"),
        *(func.sum(pv[c]).label(c) for c in summed), func.max(pv.last_start).label("last_used"),
    ).group_by(pv.model).subquery()
    b = base.c
    if split.uses_rollups:
        lat = histogram_percentiles(
            conn, split, (0.5, 0.95), raw_key=MCM.model, raw_value=MCM.duration_ms, raw_time=MCM.start_time,
            raw_filter=true(), histogram=Histogram(ModelLatencyRollup, ModelLatencyDailyRollup, by_name("model")))
        ttft = histogram_percentiles(
            conn, split, (0.5,), raw_key=MCM.model, raw_value=MCM.time_to_first_token_ms, raw_time=MCM.start_time,
            raw_filter=true(), histogram=Histogram(ModelTtftRollup, ModelTtftDailyRollup, by_name("model")))
    else:
        lat = percentile_columns(conn, MCM.duration_ms, MCM.model, within(MCM.start_time, 0), (0.5, 0.95))
        ttft = percentile_columns(conn, MCM.time_to_first_token_ms, MCM.model, within(MCM.start_time, 0), (0.5,))
    failure_rate = ((b.failures + b.timeouts) * 1.0 / func.nullif(b.finished, 0)).label("failure_rate")
    avg_duration = (b.duration_sum * 1.0 / func.nullif(b.duration_count, 0)).label("avg_duration_ms")
    avg_ttft = (b.ttft_sum * 1.0 / func.nullif(b.ttft_count, 0)).label("avg_ttft_ms")
    cost = priced_cost(b.cost_usd, b.calls, b.unpriced_calls).label("cost")
    per_1k = (cost * 1000.0 / func.nullif(b.calls - b.unpriced_calls, 0)).label("per_1k")
    # Totals of every model, before LIMIT cuts the rows.
    everything = [func.sum(b[c]).over().label(f"all_{c}") for c in TOTAL_COLUMNS]
    query = select(
        b.model, b.providers, b.last_used, *(b[c] for c in TOTAL_COLUMNS), failure_rate, avg_duration, avg_ttft,
        cost, per_1k, lat.c.p50, lat.c.p95, ttft.c.p50.label("ttft_p50"), *everything,
        func.count().over().label("all_groups"),
    ).select_from(base.outerjoin(lat, lat.c.key == b.model).outerjoin(ttft, ttft.c.key == b.model))
    sort_col = {
        "model": b.model, "failures": b.failures + b.timeouts, "failure_rate": failure_rate,
        "avg_duration_ms": avg_duration, "p50_duration_ms": lat.c.p50, "p95_duration_ms": lat.c.p95,
        "avg_ttft_ms": avg_ttft, "p50_ttft_ms": ttft.c.p50, "cost_usd": cost, "cost_per_1k_calls": per_1k,
        "last_used": b.last_used,
    }.get(sort, b.get(sort, b.calls))
    order = sort_col.desc() if descending else sort_col.asc()
    return query.order_by(order.nulls_last(), b.model).limit(limit)


def _f(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]

