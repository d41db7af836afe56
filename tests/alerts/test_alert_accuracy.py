"""The default rules catch each kind of incident the demo injects, and stay quiet when
nothing happens: a small, fast version of benchmarks/bench_alert_accuracy.py.

Three Wednesdays of demo traffic (07:00-19:00 UTC, ~250 runs an hour), written through
the tracker: the first two are history for the anomaly baselines; on the third, a quiet
morning, then one incident of each kind, an hour apart. The rules are replayed every 5
minutes over the third day (``alerts.backtest``) and scored as the benchmark scores them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from benchmarks.bench_alert_accuracy import (
    DAY_NS,
    HOUR_NS,
    WEEK_NS,
    explains,
    score,
    watches,
    week_start,
)
from studio_analytics.alerts.backtest import backtest
from studio_analytics.alerts.rules import default_rules
from studio_analytics.alerts.transitions import TransitionKind
from studio_analytics.db.engine import create_db_engine
from studio_analytics.demo.generator import backfill, demo_rhythm
from studio_analytics.demo.scenario import (
    FAILING_AGENT,
    OUTAGE_TOOL,
    STORM_PROVIDER,
    STUCK_AGENT,
    Incident,
    IncidentKind,
)

STEP_S = 300
MINUTE_NS = 60_000_000_000
#: Wednesday of the last week: the day the incidents happen (and, a week and two earlier, history).
WEDNESDAY = 2
OPEN_HOURS = (7, 19)
QUIET = (8 * 60 + 30, 10 * 60 + 10)  # minutes of the day: a morning with nothing wrong
#: (kind, target, minutes after midnight, minutes long)
SCHEDULE = (
    (IncidentKind.AGENT_FAILURES, FAILING_AGENT, 10 * 60 + 10, 60),
    (IncidentKind.TOOL_OUTAGE, OUTAGE_TOOL, 11 * 60 + 40, 60),
    (IncidentKind.RATE_LIMIT_STORM, STORM_PROVIDER, 13 * 60 + 10, 60),
    (IncidentKind.LATENCY_SPIKE, None, 14 * 60 + 40, 60),
    (IncidentKind.TRAFFIC_DROP, None, 16 * 60 + 10, 60),
    (IncidentKind.STUCK_RUNS, STUCK_AGENT, 17 * 60 + 40, 30),
)


def _open_wednesdays(ns: int) -> float:
    """Traffic on Wednesdays from 07:00 to 19:00 UTC only (the rest of the week is not needed)."""
    day, hour = ns // DAY_NS, ns % DAY_NS / HOUR_NS
    if (day + 3) % 7 != WEDNESDAY or not OPEN_HOURS[0] <= hour < OPEN_HOURS[1]:
        return 0.0
    return demo_rhythm(ns)


def _at(ns: int) -> datetime:
    return datetime.fromtimestamp(ns / 1e9, UTC)


@pytest.fixture(scope="module")
def replayed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Callable[..., object], tuple[Incident, ...], int]:
    end_ns = int(week_start(datetime.now(UTC)).timestamp()) * 10**9  # this week's Monday 00:00 UTC
    day_ns = end_ns - WEEK_NS + WEDNESDAY * DAY_NS
    incidents = tuple(Incident(kind, target, day_ns + start * MINUTE_NS, day_ns + (start + length) * MINUTE_NS)
                      for kind, target, start, length in SCHEDULE)
    path: Path = tmp_path_factory.mktemp("accuracy") / "accuracy.sqlite3"
    url = f"sqlite:///{path}"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("STUDIO_ANALYTICS_HOME", str(tmp_path_factory.mktemp("accuracy-home")))
        backfill(url, executions=9_000, days=21, seed=5, incidents=incidents, end_ns=end_ns, rhythm=_open_wednesdays)
    engine = create_db_engine(url, read_only=True)
    with engine.connect() as conn:
        result = backtest(conn, default_rules().enabled, start=_at(day_ns + QUIET[0] * MINUTE_NS),
                          end=_at(day_ns + OPEN_HOURS[1] * HOUR_NS), step_s=STEP_S)
    engine.dispose()
    return result, incidents, day_ns  # type: ignore[return-value]


@pytest.mark.parametrize("kind", list(IncidentKind))
def test_each_kind_of_incident_is_detected(replayed: tuple, kind: IncidentKind) -> None:
    result, incidents, _ = replayed
    rules = default_rules().enabled
    found = score(rules, result.transitions, incidents, step_s=STEP_S)
    (hit,) = found.of_kind(kind)
    assert hit.alert is not None, f"{kind} at {_at(hit.incident.start_ns):%H:%M} was not detected; " + "; ".join(
        f"{t.at:%H:%M} {t.rule_id} {t.member or ''}" for t in result.transitions if t.kind is TransitionKind.FIRED)
    rule = next(r for r in rules if r.id == hit.alert.rule_id)
    assert watches(rule, hit.incident, hit.alert.member) and explains(hit.incident, rule, hit.alert.at, STEP_S)
    # found while it lasts (stuck runs: once they are stuck)
    assert hit.minutes is not None and hit.minutes <= (hit.incident.end_ns - hit.incident.start_ns) / MINUTE_NS


def test_the_quiet_morning_is_judged(replayed: tuple) -> None:
    """Quiet, not blind: the rules had runs enough and history enough to judge it."""
    result, _, day_ns = replayed
    quiet_end = _at(day_ns + QUIET[1] * MINUTE_NS)
    seen = [o for e in result.evaluations if e.at < quiet_end for o in e.observations]
    assert not [o for o in seen if o.verdict.value == "learning"]
    # every rule judged its figure (for the busier members; the quiet ones have too few runs)
    assert {o.rule_id for o in seen if o.verdict.value == "ok"} == {r.id for r in default_rules().enabled}


def test_no_alert_on_a_quiet_morning(replayed: tuple) -> None:
    result, _, day_ns = replayed
    quiet_end = _at(day_ns + QUIET[1] * MINUTE_NS)
    early = [t for t in result.transitions if t.at < quiet_end]
    assert not early, [f"{t.at:%H:%M} {t.rule_id} {t.member or ''}: {t.reason}" for t in early]


def test_every_alert_of_the_day_is_explained_by_an_incident(replayed: tuple) -> None:
    result, incidents, _ = replayed
    found = score(default_rules().enabled, result.transitions, incidents, step_s=STEP_S)
    assert found.alerts >= len(incidents)
    assert not found.false_alerts, [f"{t.at:%H:%M} {t.rule_id} {t.member or ''}: {t.reason}"
                                    for t in found.false_alerts]
