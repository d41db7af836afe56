"""Backtests: replaying a rule over past days finds the times it would have fired, with
cooldown applied, against the failure times written into the database; the book logic
also with stand-in evaluations."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

import pytest

from studio_analytics.alerts.backtest import backtest, step_times
from studio_analytics.alerts.results import Verdict
from studio_analytics.alerts.rules import parse_rules
from studio_analytics.alerts.transitions import TransitionKind
from studio_analytics.db.engine import create_db_engine
from tests.alerts.alert_data import (
    BURST_RULES,
    T0,
    burst_failure_times,
    evaluation,
    minutes,
    obs,
    spike_rule,
)

STEP = 900


def _expected_firing(times: list[datetime], failures: list[datetime]) -> list[bool]:
    """Independently: more than 2 failures of "flaky" in [t - 1h, t)."""
    return [sum(t - timedelta(hours=1) <= f < t for f in failures) > 2 for t in times]


def test_backtest_fires_when_the_failures_say_so(burst_db: tuple[str, datetime]) -> None:
    url, base = burst_db
    rule = parse_rules(BURST_RULES).rules[0]
    engine = create_db_engine(url, read_only=True)
    done: list[tuple[int, int]] = []
    with engine.connect() as conn:
        result = backtest(conn, [rule], start=base - timedelta(hours=2), end=base + timedelta(hours=6),
                          step_s=STEP, progress=lambda i, n: done.append((i, n)))
    engine.dispose()
    assert len(result.times) == 8 * 4 + 1 and done[-1] == (33, 33) and not result.stopped
    firing = _expected_firing(list(result.times), burst_failure_times(base))
    starts = [t for i, t in enumerate(result.times) if firing[i] and (i == 0 or not firing[i - 1])]
    ends = [t for i, t in enumerate(result.times) if not firing[i] and i > 0 and firing[i - 1]]
    assert len(starts) == 2 and len(ends) == 2  # the data does what the test means
    assert [t.at for t in result.fired_all(rule.id)] == starts
    # The second burst fires inside the 3h cooldown of the first: told once.
    assert [t.at for t in result.fired(rule.id)] == starts[:1]
    assert [t.at for t in result.transitions if t.kind is TransitionKind.RESOLVED] == ends
    assert all(t.member == "flaky" for t in result.transitions)
    assert result.members(rule.id) == ["steady", "flaky"]  # in the order they were first measured

    times, values, lows, highs = result.series(rule.id, "flaky")
    assert list(times) == [t.timestamp() for t in result.times]
    counts = [sum(t - timedelta(hours=1) <= f < t for f in burst_failure_times(base)) for t in result.times]
    assert [None if math.isnan(v) else int(v) for v in values] == [c or None for c in counts]
    assert all(math.isnan(v) for v in lows) and all(math.isnan(v) for v in highs)  # a threshold rule has no band
    assert result.problems() == []


def _stand_in(verdicts: dict[datetime, Verdict]) -> Any:
    rule = spike_rule(cooldown_s=3600)

    def evaluator(conn: object, rules: Any, *, now: datetime) -> Any:
        verdict = verdicts.get(now, Verdict.OK)
        return evaluation(now, list(rules), [obs(rule.id, "A", verdict, now, value=0.5 if verdict is Verdict.FIRING else 0.05)])

    return rule, evaluator


def test_book_logic_with_stand_in_evaluations() -> None:
    verdicts = {T0 + minutes(15): Verdict.FIRING, T0 + minutes(30): Verdict.FIRING, T0 + minutes(60): Verdict.FIRING}
    rule, evaluator = _stand_in(verdicts)
    result = backtest(None, [rule], start=T0, end=T0 + minutes(90), step_s=STEP, evaluator=evaluator)  # type: ignore[arg-type]
    assert [(t.kind.value, t.at, t.notified) for t in result.transitions] == [
        ("fired", T0 + minutes(15), True), ("resolved", T0 + minutes(45), True),
        ("fired", T0 + minutes(60), False), ("resolved", T0 + minutes(75), False)]
    assert [t.at for t in result.fired(rule.id)] == [T0 + minutes(15)]
    _, values, lows, highs = result.series(rule.id, "A")
    assert list(values) == [0.05, 0.5, 0.5, 0.05, 0.5, 0.05, 0.05] and list(lows) == [0.03] * 7
    nobody = result.series(rule.id, "nobody").values
    assert len(nobody) == 7 and all(math.isnan(v) for v in nobody)


def test_stopping_early() -> None:
    rule, evaluator = _stand_in({})
    calls = []
    result = backtest(None, [rule], start=T0, end=T0 + minutes(600), step_s=STEP, evaluator=evaluator,  # type: ignore[arg-type]
                      should_stop=lambda: len(calls) >= 3, progress=lambda i, n: calls.append(i))
    assert result.stopped and len(result.times) == len(result.evaluations) == 3


def test_bad_ranges_are_value_errors() -> None:
    with pytest.raises(ValueError, match="before the start"):
        step_times(T0, T0 - minutes(1), STEP)
    with pytest.raises(ValueError, match="take a longer step"):
        step_times(T0, T0 + timedelta(days=365), 60)
    with pytest.raises(ValueError, match="positive"):
        step_times(T0, T0, 0)
    assert step_times(T0, T0, STEP) == [T0]
