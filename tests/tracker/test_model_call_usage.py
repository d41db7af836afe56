"""A model call's usage as the agent reports it, through the fast path for plain ints and
the general one for anything else, and a span's layout that does not depend on which
recording methods the agent called (the hot path's cost depended on it)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from studio_analytics import tracker
from studio_analytics.db.engine import create_db_engine
from studio_analytics.db.models import AgentExecutionMetrics, ModelCallMetrics

_USAGE = (ModelCallMetrics.input_tokens, ModelCallMetrics.output_tokens, ModelCallMetrics.cached_input_tokens,
          ModelCallMetrics.reasoning_tokens)


def _usage_by_model(url: str) -> dict[str, tuple[Any, ...]]:
    engine = create_db_engine(url)
    with engine.connect() as conn:
        out = {r[0]: tuple(r[1:]) for r in conn.execute(select(ModelCallMetrics.model, *_USAGE))}
    engine.dispose()
    return out


@pytest.mark.parametrize(("reports", "expected"), [
    # one report of plain ints, None where the provider says nothing
    ([(812, 96, 512, None)], (812, 96, 512, None)),
    ([(None, None, None, None)], (None, None, None, None)),
    # values that are not plain ints: converted as everywhere in the tracker
    ([("812", 96.9, True, Decimal("7"))], (812, 96, 1, 7)),
    ([("lots", float("nan"), None, -3)], (None, None, None, None)),  # a negative count is no count
    # reports add up, whichever came first
    ([(100, 10, None, None), (50, None, 20, 5)], (150, 10, 20, 5)),
    ([("100", None, None, None), (50, 5, None, None)], (150, 5, None, None)),
    ([(None, None, None, None), (None, 7, None, None)], (None, 7, None, None)),
])
def test_usage_reports_are_converted_and_added(tracked_db: str, reports: list[tuple[Any, ...]],
                                               expected: tuple[Any, ...]) -> None:
    with tracker.track_agent_execution(agent_name="A"):
        with tracker.track_model_call(model="m", provider="openai") as call:
            for i, o, c, r in reports:
                call.record_usage(input_tokens=i, output_tokens=o, cached_input_tokens=c, reasoning_tokens=r)
    assert tracker.flush(10)
    assert _usage_by_model(tracked_db)["m"] == expected
    engine = create_db_engine(tracked_db)
    with engine.connect() as conn:
        tokens = conn.execute(select(AgentExecutionMetrics.tokens_used)).scalar()
    engine.dispose()
    counted = expected[0] is not None or expected[1] is not None
    assert tokens == ((expected[0] or 0) + (expected[1] or 0) if counted else None)


def test_a_span_keeps_one_attribute_order_whatever_the_agent_records(tracked_db: str) -> None:
    def layout(record: Any) -> list[str]:
        with tracker.track_agent_execution(agent_name="A"):
            with tracker.track_model_call(model="m") as call:
                record(call)
        return list(vars(call.span))

    plain = layout(lambda call: None)
    streamed = layout(lambda call: (call.first_token(), call.record_usage(input_tokens=1, output_tokens=2)))
    billed = layout(lambda call: (call.set_cost(0.1), call.set_response("ok"), call.first_token()))
    assert plain == streamed == billed
    assert tracker.flush(10)
