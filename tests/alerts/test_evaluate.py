"""Every metric, scope and condition of alert rules against an independent computation in
Python over the raw rows, on SQLite and PostgreSQL, from rollups and from raw rows.

The data: three weeks of demo runs (executions, tool calls with external APIs, model
calls, workflows) written through the tracker, plus a few runs left in progress. The
figures are recomputed here from every raw row fetched without any aggregation, and
the baseline from the method documented in ``alerts/baseline.py``.
"""

from __future__ import annotations

import math
import statistics
import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert, select

from studio_analytics.alerts.evaluate import evaluate
from studio_analytics.alerts.results import Verdict
from studio_analytics.alerts.rules import Metric, Rule, Scope, When, parse_rules
from studio_analytics.db.engine import create_db_engine, dispose_engines
from studio_analytics.db.models import (
    FAILURE_VALUES,
    IN_PROGRESS_VALUES,
    SUCCESS_VALUES,
    TIMEOUT_VALUES,
    AgentExecutionMetrics,
    ModelCallMetrics,
    ToolUsageMetrics,
    WorkflowMetrics,
)
from studio_analytics.db.rollups import bucket_value, latency_bucket, rebuild_rollups
from studio_analytics.demo.generator import backfill
from tests.integration.test_agent_studio_compat import agent_studio_url as agent_studio_url  # noqa: F401 - a fixture
from tests.pg_databases import pg_database

DAYS = 22


def _add_stuck_runs(url: str) -> datetime:
    """Runs left in progress (their processes died) beside the demo's; the rollups are
    rebuilt so they count them as every other run. Returns the newest start."""
    engine = create_db_engine(url)
    with engine.begin() as conn:
        newest = conn.execute(select(AgentExecutionMetrics.start_time).order_by(
            AgentExecutionMetrics.start_time.desc()).limit(1)).scalar_one()
        rows = []
        for i, minutes in enumerate((35, 50, 90, 600, 3000)):
            rows.append({"execution_id": uuid.uuid4(), "agent_name": ("WebAgent", "stuck-bot")[i % 2],
                         "start_time": newest - timedelta(minutes=minutes), "status": "in_progress" if i % 2 else "running",
                         "query": "left behind", "tool_calls_count": 0, "api_calls_count": 0})
        conn.execute(insert(AgentExecutionMetrics), rows)
        conn.execute(insert(ToolUsageMetrics), [
            {"usage_id": uuid.uuid4(), "tool_name": "web_search", "start_time": newest - timedelta(minutes=45),
             "status": "in_progress"}])
        rebuild_rollups(conn)
    engine.dispose()
    return newest


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def alert_db(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, datetime]]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('alerts') / 'alerts.sqlite3'}"
        backfill(url, executions=3_000, days=DAYS, seed=17)
        yield url, _add_stuck_runs(url)
        return
    with pg_database(request.getfixturevalue("pg_server_url")) as url:
        backfill(url, executions=1_200, days=DAYS, seed=17)
        yield url, _add_stuck_runs(url)
    dispose_engines()


# -- the independent computation -----------------------------------------------------
@dataclass
class Run:
    start: datetime
    end: datetime | None
    member: str | None
    status: str
    duration: float | None
    tokens: int = 0
    cost: float = 0.0
    api: str | None = None
    api_error: bool = False


def _runs(url: str) -> dict[str, list[Run]]:
    engine = create_db_engine(url, read_only=True)
    out: dict[str, list[Run]] = {}
    with engine.connect() as conn:
        E, T, W, M = AgentExecutionMetrics, ToolUsageMetrics, WorkflowMetrics, ModelCallMetrics
        out["executions"] = [Run(r.start_time, r.end_time, r.agent_name, r.status, r.duration_ms, r.tokens_used or 0)
                             for r in conn.execute(select(E.start_time, E.end_time, E.agent_name, E.status,
                                                          E.duration_ms, E.tokens_used))]
        out["workflows"] = [Run(r.start_time, r.end_time, r.workflow_type, r.status, r.duration_ms,
                                r.total_tokens_used or 0)
                            for r in conn.execute(select(W.start_time, W.end_time, W.workflow_type, W.status,
                                                         W.duration_ms, W.total_tokens_used))]
        out["tools"] = [Run(r.start_time, r.end_time, r.tool_name, r.status, r.duration_ms, api=r.external_api_called,
                            api_error=r.external_api_called is not None and (
                                (r.api_status_code or 0) >= 400 or r.status in FAILURE_VALUES))
                        for r in conn.execute(select(T.start_time, T.end_time, T.tool_name, T.status, T.duration_ms,
                                                     T.external_api_called, T.api_status_code))]
        models = list(conn.execute(select(M.start_time, M.end_time, M.model, M.agent_name, M.status, M.duration_ms,
                                          M.input_tokens, M.output_tokens, M.cost_usd)))
        out["models"] = [Run(r.start_time, r.end_time, r.model, r.status, r.duration_ms,
                             (r.input_tokens or 0) + (r.output_tokens or 0), r.cost_usd or 0.0) for r in models]
        out["models-by-agent"] = [Run(r.start_time, r.end_time, r.agent_name or "", r.status, r.duration_ms,
                                      (r.input_tokens or 0) + (r.output_tokens or 0), r.cost_usd or 0.0) for r in models]
    engine.dispose()
    out["apis"] = [Run(r.start, r.end, r.api, r.status, r.duration, api_error=r.api_error)
                   for r in out["tools"] if r.api is not None]
    return out


def _source(rule: Rule) -> str:
    return {"tool_error_rate": "tools", "api_error_rate": "apis"}.get(rule.metric.value) or (
        ("models-by-agent" if rule.scope.kind == "agent" else "models")
        if rule.metric.value in ("model_failure_rate", "tokens_per_hour", "cost_per_hour") else
        {"workflow": "workflows", "model": "models", "tool": "tools", "api": "apis"}.get(rule.scope.kind, "executions"))


def _p95(durations: list[float]) -> float | None:
    if not durations:
        return None
    buckets = sorted(latency_bucket(d) for d in durations)
    return bucket_value(buckets[math.ceil(0.95 * len(buckets)) - 1])


def _figure(rule: Rule, runs: list[Run], seconds: float) -> tuple[float | None, int]:
    finished = [r for r in runs if r.status in SUCCESS_VALUES + FAILURE_VALUES + TIMEOUT_VALUES]
    by_agent = _source(rule) == "models-by-agent"
    if by_agent:  # the per-agent model rollup counts every call as finished
        finished = runs
    errors = sum(r.status in (FAILURE_VALUES + TIMEOUT_VALUES) for r in runs) if by_agent else \
        sum(r.status not in SUCCESS_VALUES for r in finished)
    m = rule.metric
    if m in (Metric.FAILURE_RATE, Metric.TOOL_ERROR_RATE, Metric.MODEL_FAILURE_RATE):
        return (errors / len(finished) if finished else None), len(finished)
    if m is Metric.TIMEOUT_RATE:
        return (sum(r.status in TIMEOUT_VALUES for r in finished) / len(finished) if finished else None), len(finished)
    if m is Metric.API_ERROR_RATE:
        return (sum(r.api_error for r in runs) / len(runs) if runs else None), len(runs)
    if m is Metric.FAILURE_COUNT:
        return float(errors), len(runs)
    if m is Metric.EXECUTIONS:
        return float(len(runs)), len(runs)
    if m is Metric.TOKENS_PER_HOUR:
        return sum(r.tokens for r in runs) * 3600 / seconds, len(runs)
    if m is Metric.COST_PER_HOUR:
        return sum(r.cost for r in runs) * 3600 / seconds, len(runs)
    assert m is Metric.P95_LATENCY
    return _p95([r.duration for r in runs if r.duration is not None]), len(finished)


def _binomial_bounds(n: int, p: float, alpha: float) -> tuple[int, int]:
    """Largest k with P(X <= k) < alpha, smallest k with P(X >= k) < alpha (summed pmf)."""
    pmf = [math.comb(n, k) * p ** k * (1 - p) ** (n - k) for k in range(n + 1)]
    lows = [k for k in range(n + 1) if sum(pmf[: k + 1]) < alpha]
    highs = [k for k in range(n + 1) if sum(pmf[k:]) < alpha]
    return (max(lows) if lows else -1), (min(highs) if highs else n + 1)


def _alpha(sensitivity: float) -> float:
    return 0.5 * math.erfc(sensitivity / math.sqrt(2))


def _band(rule: Rule, samples: list[tuple[float, int]], n: int) -> tuple[float, float, float] | None:
    """The documented method (alerts/baseline.py), written out again; samples are
    (value, runs)."""
    if len(samples) < 3:
        return None
    values = [v for v, _ in samples]
    med = statistics.median(values)
    spread = rule.sensitivity * 1.4826 * statistics.median([abs(v - med) for v in values])
    if rule.metric.value.endswith("rate"):
        kept = sorted(samples)[:-1] if len(samples) >= 6 else samples
        usual = (sum(round(v * r) for v, r in kept) + 0.5) / (sum(r for _, r in kept) + 1)
        n = max(n, 1)
        low_k, high_k = _binomial_bounds(n, usual, _alpha(rule.sensitivity))
        high = min(1.0, max((high_k - 0.5) / n, usual + spread, usual + 0.02))
        low = max(0.0, min((low_k + 0.5) / n, usual - spread, usual - 0.02))
        return usual, low, high
    if rule.metric in (Metric.EXECUTIONS, Metric.FAILURE_COUNT):
        half = max(spread, rule.sensitivity * math.sqrt(max(med, 1.0)) + 0.5)
    else:
        half = max(spread, 0.5 * med, 1e-9)
    return med, max(0.0, med - half), med + half


def _slow_runs_beyond_chance(rule: Rule, durations: list[float], usual_p95: float) -> bool:
    slower = sum(latency_bucket(d) > latency_bucket(usual_p95) for d in durations)
    return bool(durations) and slower >= _binomial_bounds(len(durations), 0.05, _alpha(rule.sensitivity))[1]


def expected(rule: Rule, data: dict[str, list[Run]], now: datetime) -> dict[str | None, tuple[Any, ...]]:
    """member -> (value, sample, baseline (median, low, high) or None, verdict)."""
    runs = data[_source(rule)]
    if rule.metric is Metric.STUCK_RUNS:
        lo, hi = now - timedelta(seconds=rule.stuck_lookback_s), now - timedelta(seconds=rule.stuck_after_s)
        stuck = [r for r in (data["tools"] if rule.scope.kind == "tool" else data["executions"])
                 if lo <= r.start < hi and (r.status in IN_PROGRESS_VALUES or (r.end is not None and r.end > now))]
        members = [None] if rule.scope.kind == "all" else (
            sorted({r.member for r in stuck}) if rule.scope.each else [rule.scope.name])
        out = {}
        for member in members:
            n = len([r for r in stuck if member is None or r.member == member])
            out[member] = (float(n), n, None, Verdict.FIRING if n > (rule.threshold or 0) else Verdict.OK)
        return out
    start = now - timedelta(seconds=rule.window_s)
    current = [r for r in runs if start <= r.start < now]
    first = min((r.start for r in runs), default=None)
    first_hour = None if first is None else int(first.timestamp()) // 3600 * 3600
    length = max(1, -(-rule.window_s // 3600)) * 3600
    end0 = (int(now.timestamp()) // 3600 + 1) * 3600
    spans = [(e - length, e) for week in range(1, rule.baseline_weeks + 1) for shift in (-1, 0, 1)
             for e in [end0 - week * 604_800 + shift * 3600]]
    spans = [s for s in spans if first_hour is not None and s[0] >= first_hour]
    if rule.scope.kind == "all":
        members: list[str | None] = [None]
    elif not rule.scope.each:
        members = [rule.scope.name]
    else:
        seen = {r.member for r in current}
        if rule.when is When.ANOMALOUS:
            seen |= {r.member for r in runs if any(a <= r.start.timestamp() < b for a, b in spans)}
        members = sorted(m for m in seen if m is not None)
    out = {}
    for member in members:
        mine = [r for r in current if member is None or r.member == member]
        value, sample = _figure(rule, mine, rule.window_s)
        band = None
        if rule.when is When.ANOMALOUS:
            values: list[tuple[float, int]] = []
            for a, b in spans:
                part = [r for r in runs if a <= r.start.timestamp() < b and (member is None or r.member == member)]
                v, n = _figure(rule, part, b - a)
                if v is None:
                    continue
                if rule.metric is Metric.P95_LATENCY:
                    n = len([r for r in part if r.duration is not None])
                    if n < 5:
                        continue
                elif rule.metric not in (Metric.EXECUTIONS, Metric.FAILURE_COUNT) and n < 5:
                    continue
                if rule.metric in (Metric.EXECUTIONS, Metric.FAILURE_COUNT):
                    v *= rule.window_s / (b - a)
                values.append((v, n))
            band = _band(rule, values, sample)
        slow_ok = None
        if rule.metric is Metric.P95_LATENCY and band is not None:
            slow_ok = _slow_runs_beyond_chance(rule, [r.duration for r in mine if r.duration is not None], band[0])
        out[member] = (value, sample, band, _verdict(rule, value, sample, band, slow_ok))
    return out


def _verdict(rule: Rule, value: float | None, sample: int, band: tuple[float, float, float] | None,
             slow_ok: bool | None = None) -> Verdict:
    if value is None:
        return Verdict.INSUFFICIENT
    falling = rule.when is When.BELOW or (rule.when is When.ANOMALOUS and rule.direction.value == "down")
    counted = rule.metric in (Metric.EXECUTIONS, Metric.FAILURE_COUNT)
    needed = band[0] if (falling and band is not None and counted) else sample
    if rule.when is not When.BELOW and needed < rule.min_sample:
        return Verdict.INSUFFICIENT
    if rule.when is When.ABOVE:
        return Verdict.FIRING if value > rule.threshold else Verdict.OK
    if rule.when is When.BELOW:
        return Verdict.FIRING if value < rule.threshold else Verdict.OK
    if band is None:
        return Verdict.LEARNING
    med, low, high = band
    up = rule.direction.value in ("up", "both") and value > high and slow_ok is not False
    down = rule.direction.value in ("down", "both") and value < low
    return Verdict.FIRING if up or down else Verdict.OK


# -- the rules -----------------------------------------------------------------------
RULES_TOML = """
[[rule]]
id = "fr-each-agent"
metric = "failure_rate"
scope = "each agent"
window = "1h"
when = "anomalous"
direction = "both"
min_sample = 1
sensitivity = 1

[[rule]]
id = "fr-all-above"
metric = "failure_rate"
window = "2h30m"
threshold = 0.05
min_sample = 3

[[rule]]
id = "fc-workflows"
metric = "failure_count"
scope = "each workflow"
window = "1d"
when = "anomalous"
direction = "up"
min_sample = 0
sensitivity = 0.5

[[rule]]
id = "timeouts-model"
metric = "timeout_rate"
scope = "each model"
window = "6h"
threshold = 0.01
min_sample = 2

[[rule]]
id = "p95-each-agent"
metric = "p95_latency"
scope = "each agent"
window = "3h"
when = "anomalous"
direction = "both"
min_sample = 3
sensitivity = 1

[[rule]]
id = "p95-all"
metric = "p95_latency"
window = "90m"
when = "anomalous"
min_sample = 2

[[rule]]
id = "p95-tools"
metric = "p95_latency"
scope = "each tool"
window = "1d"
threshold = 2000
min_sample = 1

[[rule]]
id = "runs-all"
metric = "executions"
window = "30m"
when = "anomalous"
direction = "down"
min_sample = 1

[[rule]]
id = "runs-below"
metric = "executions"
scope = "agent:WebAgent"
window = "2h"
when = "below"
threshold = 50

[[rule]]
id = "runs-each-api"
metric = "executions"
scope = "each api"
window = "12h"
when = "anomalous"
direction = "both"
min_sample = 1

[[rule]]
id = "tool-errors"
metric = "tool_error_rate"
scope = "each tool"
window = "4h"
when = "anomalous"
min_sample = 2
sensitivity = 1

[[rule]]
id = "api-errors"
metric = "api_error_rate"
scope = "each api"
window = "1d"
threshold = 0.02
min_sample = 3

[[rule]]
id = "model-failures"
metric = "model_failure_rate"
scope = "each model"
window = "8h"
when = "anomalous"
min_sample = 2
sensitivity = 1

[[rule]]
id = "model-failures-by-agent"
metric = "model_failure_rate"
scope = "each agent"
window = "1d"
threshold = 0.03
min_sample = 5

[[rule]]
id = "tokens-all"
metric = "tokens_per_hour"
window = "2h"
when = "anomalous"
direction = "both"
min_sample = 1
sensitivity = 1

[[rule]]
id = "tokens-agent"
metric = "tokens_per_hour"
scope = "agent:WebAgent"
window = "1d"
threshold = 1000
min_sample = 1

[[rule]]
id = "cost-each-model"
metric = "cost_per_hour"
scope = "each model"
window = "5h"
when = "anomalous"
min_sample = 1
sensitivity = 1

[[rule]]
id = "stuck-all"
metric = "stuck_runs"
stuck_after = "30m"
threshold = 0

[[rule]]
id = "stuck-each-agent"
metric = "stuck_runs"
scope = "each agent"
stuck_after = "40m"
stuck_lookback = "12h"
threshold = 1

[[rule]]
id = "stuck-tools"
metric = "stuck_runs"
scope = "tool:web_search"
stuck_after = "30m"
threshold = 0
"""


@pytest.fixture(scope="module")
def rules() -> tuple[Rule, ...]:
    parsed = parse_rules(RULES_TOML, "test")
    assert not parsed.problems, parsed.problems
    return parsed.rules


@pytest.fixture(scope="module")
def raw_rows(alert_db: tuple[str, datetime]) -> dict[str, list[Run]]:
    return _runs(alert_db[0])


def _times(newest: datetime) -> list[datetime]:
    """The newest run's time (a few seconds on), and two earlier moments off the hour."""
    return [newest + timedelta(seconds=3), newest - timedelta(days=2, minutes=17),
            newest - timedelta(days=6, hours=5, minutes=41)]


@pytest.mark.parametrize("raw_only", [False, True], ids=["rollups", "raw"])
def test_every_metric_matches_a_python_computation(alert_db: tuple[str, datetime], raw_rows: dict[str, list[Run]],
                                                   rules: tuple[Rule, ...], raw_only: bool) -> None:
    url, newest = alert_db
    engine = create_db_engine(url, read_only=True)
    verdicts: set[Verdict] = set()
    with engine.connect() as conn:
        if raw_only:
            conn.execution_options(studio_analytics_rollups=False)
        for now in _times(newest):
            evaluation = evaluate(conn, rules, now=now)
            assert not evaluation.problems
            got: dict[str, dict[str | None, Any]] = defaultdict(dict)
            for o in evaluation.observations:
                got[o.rule_id][o.member] = o
            for rule in rules:
                want = expected(rule, raw_rows, now)
                assert set(got[rule.id]) == set(want), (rule.id, now)
                for member, (value, sample, band, verdict) in want.items():
                    o = got[rule.id][member]
                    where = (rule.id, member, now.isoformat())
                    assert o.sample == sample, where
                    if value is None:
                        assert o.value is None, where
                    else:
                        assert o.value == pytest.approx(value, rel=1e-9, abs=1e-12), where
                    if band is None:
                        assert o.baseline is None, where
                    else:
                        assert o.baseline is not None, where
                        assert (o.baseline.median, o.baseline.low, o.baseline.high) == pytest.approx(
                            band, rel=1e-9, abs=1e-12), where
                    assert o.verdict is verdict, (where, o.reason)
                    verdicts.add(o.verdict)
    engine.dispose()
    # the rules above were chosen so that every verdict occurs
    assert verdicts == set(Verdict)


@pytest.mark.postgres
def test_an_agent_studio_database(agent_studio_url: str) -> None:
    """No rollups and no model calls: model-call rules are problems naming why, the
    others read the raw rows (``running`` is in progress there)."""
    engine = create_db_engine(agent_studio_url, read_only=True)
    rules = parse_rules(RULES_TOML).rules
    now = datetime(2026, 11, 20, 13, 0, 5, tzinfo=UTC)
    with engine.connect() as conn:
        evaluation = evaluate(conn, rules, now=now)
    engine.dispose()
    assert {p.rule_id for p in evaluation.problems} == {
        "timeouts-model", "model-failures", "model-failures-by-agent", "tokens-all", "tokens-agent", "cost-each-model"}
    assert all("no model calls" in p.message for p in evaluation.problems)
    by_id = {(o.rule_id, o.member): o for o in evaluation.observations}
    assert by_id["stuck-all", None].value == 1 and by_id["stuck-all", None].verdict is Verdict.FIRING
    failures = by_id["fr-all-above", None]  # 10:30-13:00: the failed run at 11:00 and the running one
    assert (failures.value, failures.sample, failures.verdict) == (1.0, 1, Verdict.INSUFFICIENT)


def test_a_named_member_without_runs_is_zero_or_unmeasured(alert_db: tuple[str, datetime]) -> None:
    url, newest = alert_db
    rules = [Rule("nobody-runs", Metric.EXECUTIONS, Scope("agent", "NoSuchAgent"), when=When.BELOW, threshold=1),
             Rule("nobody-fails", Metric.FAILURE_RATE, Scope("agent", "NoSuchAgent"), threshold=0.5)]
    engine = create_db_engine(url, read_only=True)
    with engine.connect() as conn:
        runs, fails = evaluate(conn, rules, now=newest).observations
    engine.dispose()
    assert (runs.value, runs.verdict) == (0.0, Verdict.FIRING)
    assert (fails.value, fails.verdict) == (None, Verdict.INSUFFICIENT)
