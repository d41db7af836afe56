"""Small hand-made evaluations for the alert book's tests: what ``evaluate`` returns,
built directly, so the book's logic is tested apart from the SQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from studio_analytics.alerts.results import Baseline, Evaluation, Observation, Verdict
from studio_analytics.alerts.rules import Metric, Rule, RuleProblem, Scope, Severity, When

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
BASELINE = Baseline(median=0.06, low=0.03, high=0.12, mad=0.02, samples=12)


def spike_rule(**changes: object) -> Rule:
    base = {"id": "agent-failure-spike", "metric": Metric.FAILURE_RATE, "scope": Scope("agent", None, True),
            "window_s": 1800, "when": When.ANOMALOUS, "cooldown_s": 7200, "severity": Severity.CRITICAL,
            "name": "An agent fails far more often than usual"}
    base.update(changes)
    return Rule(**base)  # type: ignore[arg-type]


def stuck_rule(**changes: object) -> Rule:
    base = {"id": "stuck-runs", "metric": Metric.STUCK_RUNS, "when": When.ABOVE, "threshold": 0.0,
            "min_sample": 0, "cooldown_s": 21_600}
    base.update(changes)
    return Rule(**base)  # type: ignore[arg-type]


def obs(rule_id: str, member: str | None, verdict: Verdict, at: datetime, value: float | None = 0.42,
        window_s: int = 1800) -> Observation:
    reason = {Verdict.FIRING: f"failure rate {value} above the usual 0.03–0.12 (median 0.06)",
              Verdict.OK: f"failure rate {value}, within the usual 0.03–0.12 (median 0.06)",
              Verdict.INSUFFICIENT: "failure rate from 2 runs, fewer than 10",
              Verdict.LEARNING: "too little history"}[verdict]
    return Observation(rule_id, member, value, 40, verdict, BASELINE, at - timedelta(seconds=window_s), at, reason)


def evaluation(at: datetime, rules: list[Rule], observations: list[Observation],
               problems: list[RuleProblem] | None = None) -> Evaluation:
    return Evaluation(at, tuple(observations), tuple(problems or ()), tuple(rules), 0.001)


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


# -- a small database with failures at known times ---------------------------------------

#: The failure bursts of :func:`write_bursts`, minutes after its ``base`` hour: the first
#: burst fires a "more than 2 failures in 1h" rule, the second fires it again 2 hours
#: later (inside a 3-hour cooldown).
FIRST_BURST = (3, 8, 13, 18, 23, 28)
SECOND_BURST = (123, 126, 129, 132)

BURST_RULES = '''\
# rules for the tests
[[rule]]
id = "flaky-failures"
metric = "failure_count"
scope = "each agent"
window = "1h"
when = "above"
threshold = 2
min_sample = 0
cooldown = "3h"
severity = "critical"
'''


def burst_failure_times(base: datetime) -> list[datetime]:
    return [base + timedelta(minutes=m) for m in FIRST_BURST + SECOND_BURST]


def write_bursts(url: str, base: datetime) -> None:
    """A steady agent that succeeds every 20 minutes from 2 days before ``base`` to 8 hours
    after it, and an agent "flaky" that fails at :func:`burst_failure_times`; the
    rollups rebuilt from the raw rows."""
    import uuid

    from sqlalchemy import insert

    from studio_analytics.db.engine import create_db_engine
    from studio_analytics.db.migrate import upgrade_database
    from studio_analytics.db.models import AgentExecutionMetrics
    from studio_analytics.db.rollups import rebuild_rollups

    def run(agent: str, start: datetime, status: str) -> dict[str, object]:
        return {"execution_id": uuid.uuid4(), "agent_name": agent, "start_time": start,
                "end_time": start + timedelta(seconds=1), "duration_ms": 1000.0, "status": status,
                "tool_count": 0, "retry_count": 0, "api_calls_count": 0}

    rows = [run("steady", base - timedelta(days=2) + timedelta(minutes=20 * i + 1), "success")
            for i in range(3 * 24 * 2 + 3 * 8)]
    rows += [run("flaky", at, "failed") for at in burst_failure_times(base)]
    engine = create_db_engine(url)
    upgrade_database(engine)
    with engine.begin() as conn:
        conn.execute(insert(AgentExecutionMetrics), rows)
        rebuild_rollups(conn)
    engine.dispose()


def burst_base() -> datetime:
    """An hour 30 hours ago: the bursts are in the past, the steady runs go on to now."""
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    return now - timedelta(hours=30)
