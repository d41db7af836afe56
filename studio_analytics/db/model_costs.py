"""Recomputing stored model-call costs after a price change (``db reprice``).

The caller passes the prices in (the db layer knows no price table). Only costs that came
from the price table are touched: rows whose ``cost_source`` is ``price_table`` or NULL;
a cost the agent recorded (``recorded``) stays. The arithmetic is
:meth:`studio_analytics.pricing.ModelPrice.cost` in SQL, in the same order of operations:
input tokens include the cached ones, which cost the cached price; a row with neither an
input nor an output count gets NULL (unpriced), never 0.

Functions take a connection and never commit; the caller runs them, and the rollup
rebuild after them, in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Float, case, func, literal, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from studio_analytics.db.models import FAILURE_VALUES, ModelCallMetrics

PRICE_TABLE_SOURCE = "price_table"
RECORDED_SOURCE = "recorded"


@dataclass(frozen=True, slots=True)
class PricedCallGroup:
    """The repriceable calls of one model and provider."""

    model: str
    provider: str | None
    calls: int
    #: calls with an input or an output count (the ones a price can cost)
    with_tokens: int
    #: calls with a cost now
    priced: int
    #: calls with a cost now and a token count
    priced_with_tokens: int
    #: sum of their costs now (USD; 0.0 when none is priced)
    cost_usd: float


@dataclass(frozen=True, slots=True)
class CostTotals:
    """The repriceable calls altogether: how many, how many priced, their cost."""

    calls: int
    priced: int
    cost_usd: float


def _repriceable(since: datetime | None) -> list[ColumnElement[bool]]:
    mc = ModelCallMetrics
    where: list[ColumnElement[bool]] = [or_(mc.cost_source.is_(None), mc.cost_source == PRICE_TABLE_SOURCE)]
    if since is not None:
        where.append(mc.start_time >= since)
    return where


def _has_tokens() -> ColumnElement[bool]:
    mc = ModelCallMetrics
    return or_(mc.input_tokens.isnot(None), mc.output_tokens.isnot(None))


def list_priced_call_groups(conn: Connection, *, since: datetime | None = None) -> list[PricedCallGroup]:
    """Every (model, provider) with calls whose cost comes from the price table, with
    what they cost now; grouped in SQL."""
    mc = ModelCallMetrics

    def count_if(condition: Any) -> ColumnElement[Any]:
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    query = (
        select(mc.model, mc.provider, func.count(), count_if(_has_tokens()), func.count(mc.cost_usd),
               count_if(_has_tokens() & mc.cost_usd.isnot(None)), func.coalesce(func.sum(mc.cost_usd), 0.0))
        .where(*_repriceable(since))
        .group_by(mc.model, mc.provider)
        .order_by(mc.model, mc.provider)
    )
    return [PricedCallGroup(model, provider, int(n), int(tokens), int(priced), int(priced_tokens), float(cost))
            for model, provider, n, tokens, priced, priced_tokens, cost in conn.execute(query)]


def sum_model_call_costs(conn: Connection, *, since: datetime | None = None) -> CostTotals:
    """The repriceable calls' count, priced count and cost sum."""
    mc = ModelCallMetrics
    n, priced, cost = conn.execute(
        select(func.count(), func.count(mc.cost_usd), func.coalesce(func.sum(mc.cost_usd), 0.0))
        .where(*_repriceable(since))
    ).one()
    return CostTotals(int(n), int(priced), float(cost))


def update_model_call_costs(conn: Connection, *, model: str, provider: str | None, input_per_mtok: float,
                            output_per_mtok: float, cached_input_per_mtok: float | None,
                            since: datetime | None = None) -> int:
    """Set the cost of one model's repriceable calls through ``provider`` (None: calls
    recorded without one) from these prices, in one UPDATE. Returns the rows updated."""
    mc = ModelCallMetrics
    n_in = func.coalesce(mc.input_tokens, 0)
    n_out = func.coalesce(mc.output_tokens, 0)
    n_cached = func.coalesce(mc.cached_input_tokens, 0)
    cached = case((n_cached < n_in, n_cached), else_=n_in)  # never more cached than input
    p_in = literal(float(input_per_mtok), Float)
    p_out = literal(float(output_per_mtok), Float)
    p_cached = literal(float(input_per_mtok if cached_input_per_mtok is None else cached_input_per_mtok), Float)
    cost = ((n_in - cached) * p_in + cached * p_cached + n_out * p_out) / literal(1e6, Float)
    no_tokens = mc.input_tokens.is_(None) & mc.output_tokens.is_(None)
    # As the writer prices them (tracker.records.price_call): no usage is unknown, except
    # a failed call, which the provider rejected and did not bill.
    unknown = no_tokens & mc.status.not_in(FAILURE_VALUES)
    statement = (
        update(mc)
        .where(*_repriceable(since), mc.model == model, _same_provider(provider))
        .values(cost_usd=case((unknown, None), else_=cost),
                cost_source=case((unknown, None), else_=literal(PRICE_TABLE_SOURCE)))
    )
    return int(conn.execute(statement).rowcount or 0)


def clear_model_call_costs(conn: Connection, *, model: str, provider: str | None,
                           since: datetime | None = None) -> int:
    """The model lost its price: its repriceable calls become unpriced (cost NULL)."""
    mc = ModelCallMetrics
    statement = (
        update(mc)
        .where(*_repriceable(since), mc.model == model, _same_provider(provider))
        .values(cost_usd=None, cost_source=None)
    )
    return int(conn.execute(statement).rowcount or 0)


def _same_provider(provider: str | None) -> ColumnElement[bool]:
    mc = ModelCallMetrics
    return mc.provider.is_(None) if provider is None else mc.provider == provider


__all__ = [
    "PRICE_TABLE_SOURCE", "RECORDED_SOURCE", "CostTotals", "PricedCallGroup", "clear_model_call_costs",
    "list_priced_call_groups", "sum_model_call_costs", "update_model_call_costs",
]
