"""What rules would have said: evaluations replayed at past times ("this rule would have
fired 3 times over the last 7 days").

Each step evaluates the rules as of that time (``evaluate(..., now=t)`` reads only rows
that started before ``t``) and feeds a fresh :class:`AlertBook`, so cooldowns apply as
they would have, and nothing is silenced. Reads only: the same connection, no state file.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy.engine import Connection

from studio_analytics.alerts.results import Evaluation
from studio_analytics.alerts.rules import Rule, RuleProblem
from studio_analytics.alerts.transitions import AlertBook, Transition, TransitionKind, utc

DEFAULT_STEP_S = 900
#: More steps than this is a mistake (a step of seconds over months), not a backtest.
MAX_STEPS = 20_000


@dataclass(frozen=True, slots=True)
class RuleSeries:
    """A rule's figure for one member at each step, with its baseline band, ready for a
    chart: ``times`` are POSIX seconds (float64, UTC) like ``analytics.TimeSeries``;
    NaN where the step measured nothing (or learned no band)."""

    times: Any  # np.ndarray[float64]
    values: Any  # np.ndarray[float64]
    lows: Any  # np.ndarray[float64]
    highs: Any  # np.ndarray[float64]

    def __iter__(self) -> Any:  # (times, values, lows, highs) = backtest.series(...)
        return iter((self.times, self.values, self.lows, self.highs))


@dataclass(frozen=True, slots=True)
class Backtest:
    times: tuple[datetime, ...]
    evaluations: tuple[Evaluation, ...]
    transitions: tuple[Transition, ...]
    #: True when it was stopped before the last step
    stopped: bool = False

    def fired(self, rule_id: str) -> list[Transition]:
        """The rule's notified FIRED transitions: the times it would have told someone."""
        return [t for t in self.transitions
                if t.rule_id == rule_id and t.kind is TransitionKind.FIRED and t.notified]

    def fired_all(self, rule_id: str) -> list[Transition]:
        """Every FIRED of the rule, also those inside its cooldown."""
        return [t for t in self.transitions if t.rule_id == rule_id and t.kind is TransitionKind.FIRED]

    def members(self, rule_id: str) -> list[str | None]:
        """The members the rule measured, in the order they first appeared."""
        seen: dict[str | None, None] = {}
        for evaluation in self.evaluations:
            for obs in evaluation.observations:
                if obs.rule_id == rule_id:
                    seen.setdefault(obs.member, None)
        return list(seen)

    def problems(self, rule_id: str | None = None) -> list[RuleProblem]:
        """Distinct problems met on the way (of one rule, or all)."""
        found: dict[str, RuleProblem] = {}
        for evaluation in self.evaluations:
            for p in evaluation.problems:
                if rule_id is None or p.rule_id == rule_id:
                    found.setdefault(str(p), p)
        return list(found.values())

    def series(self, rule_id: str, member: str | None = None) -> RuleSeries:
        nan = float("nan")
        n = len(self.evaluations)
        times = np.array([t.timestamp() for t in self.times], dtype=np.float64)
        values = np.full(n, nan)
        lows = np.full(n, nan)
        highs = np.full(n, nan)
        for i, evaluation in enumerate(self.evaluations):
            for obs in evaluation.observations:
                if obs.rule_id != rule_id or obs.member != member:
                    continue
                if obs.value is not None:
                    values[i] = obs.value
                if obs.baseline is not None:
                    lows[i], highs[i] = obs.baseline.low, obs.baseline.high
                break
        return RuleSeries(times, values, lows, highs)


def step_times(start: datetime, end: datetime, step_s: int) -> list[datetime]:
    """``start``, ``start + step`` ... up to and including ``end``."""
    if step_s <= 0:
        raise ValueError(f"the step must be positive, not {step_s}s")
    start, end = utc(start), utc(end)
    if end < start:
        raise ValueError(f"the end {end:%Y-%m-%d %H:%M} is before the start {start:%Y-%m-%d %H:%M}")
    count = int((end - start).total_seconds() // step_s) + 1
    if count > MAX_STEPS:
        raise ValueError(f"{count:,} steps of {step_s}s is more than {MAX_STEPS:,}; take a longer step")
    return [start + timedelta(seconds=i * step_s) for i in range(count)]


def backtest(conn: Connection, rules: Sequence[Rule], *, start: datetime, end: datetime,
             step_s: int = DEFAULT_STEP_S, progress: Callable[[int, int], None] | None = None,
             should_stop: Callable[[], bool] | None = None,
             evaluator: Callable[..., Evaluation] | None = None) -> Backtest:
    """Evaluate ``rules`` every ``step_s`` seconds over [``start``, ``end``] as they
    would have been then. ``progress(done, total)`` after each step; ``should_stop()``
    ends it early (the result says ``stopped``). ValueError for a bad range or step.
    ``evaluator`` stands in for :func:`~studio_analytics.alerts.evaluate.evaluate`
    (same signature)."""
    if evaluator is None:
        from studio_analytics.alerts.evaluate import evaluate as evaluator
    times = step_times(start, end, step_s)
    book = AlertBook(history_limit=0)  # the transitions are collected here
    evaluations: list[Evaluation] = []
    transitions: list[Transition] = []
    rules = tuple(rules)
    stopped = False
    for i, at in enumerate(times):
        if should_stop is not None and should_stop():
            stopped = True
            break
        evaluation = evaluator(conn, rules, now=at)
        evaluations.append(evaluation)
        transitions.extend(book.apply(evaluation))
        if progress is not None:
            progress(i + 1, len(times))
    return Backtest(tuple(times[: len(evaluations)]), tuple(evaluations), tuple(transitions), stopped)
