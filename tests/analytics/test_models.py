"""Model calls, tokens and cost: every figure against an independent Python computation
over the raw rows, on SQLite and PostgreSQL, read from the rollups (plus raw edge hours)
and from raw rows only. Data written by the real tracker (tests/analytics/model_data.py).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from sqlalchemy import text
from sqlalchemy.engine import Connection

from studio_analytics.analytics import (
    agent_usage,
    cost_breakdown,
    cost_totals,
    execution_detail,
    list_executions,
    model_usage,
    session_activity,
    session_detail,
    summary_kpis,
    time_range,
)
from studio_analytics.analytics.cost_series import OTHER, cost_series
from studio_analytics.analytics.models import MODEL_SORTS
from studio_analytics.analytics.results import Bucket, TimeRange
from studio_analytics.analytics.sessions import list_sessions
from studio_analytics.analytics.snapshot import dashboard_snapshot
from studio_analytics.analytics.timerange import BUCKET_SECONDS, bucket_starts, previous_period
from studio_analytics.db.engine import create_db_engine
from studio_analytics.db.rollups import (
    PERCENTILE_RELATIVE_ERROR,
    USE_ROLLUPS_OPTION,
    rebuild_rollups,
)
from studio_analytics.pricing import current_prices
from tests.analytics.model_data import (
    NEVER_PRICED,
    NOW,
    START,
    model_history_fixture,
    without_revision_0003,
)

model_history = model_history_fixture()

#: Ranges that start and end inside an hour (so rollups and raw edge hours are combined),
#: one short enough for minute buckets, one long enough for day buckets, one whose whole
#: days are read from the daily histograms minus hours outside the range.
RANGES = {
    "3.5 days, partial hours": (START + timedelta(hours=5, minutes=17, seconds=13), NOW - timedelta(hours=2, minutes=41)),
    "2 hours, minute buckets": (START + timedelta(hours=30, minutes=7), START + timedelta(hours=32, minutes=1)),
    "20 days, day buckets": (NOW - timedelta(days=20), NOW - timedelta(minutes=13)),
    "partial days": (START + timedelta(days=1, hours=3, minutes=30), START + timedelta(days=2, hours=20, minutes=10)),
}
FAILED = {"failure", "error", "failed"}
TIMED_OUT = {"timeout"}


@pytest.fixture(params=["rollups", "raw"])
def mode(request: pytest.FixtureRequest) -> str:
    return request.param


def _conn(engine: Any, mode: str) -> Connection:
    conn = engine.connect()
    return conn.execution_options(**{USE_ROLLUPS_OPTION: False}) if mode == "raw" else conn


def _tr(name: str) -> TimeRange:
    start, end = RANGES[name]
    return time_range(start_date=start, end_date=end)


def _in(rows: Iterable[dict], tr: TimeRange) -> list[dict]:
    return [r for r in rows if tr.start <= r["start_time"] < tr.end]


def _nearest_rank(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[max(0, math.ceil(q * len(values)) - 1)]


def _percentile_ok(got: float | None, values: list[float], q: float, mode: str, dialect: str) -> bool:
    if not values:
        return got is None
    if mode == "rollups":  # the histogram bucket holding the nearest-rank value
        return got == pytest.approx(_nearest_rank(values, q), rel=PERCENTILE_RELATIVE_ERROR * 1.0001)
    if dialect == "postgresql":
        return got == pytest.approx(float(np.percentile(values, q * 100)))
    return got == pytest.approx(_nearest_rank(values, q))


def _sum(rows: list[dict], column: str) -> int:
    return sum(r[column] or 0 for r in rows)


def _cost(rows: list[dict]) -> float | None:
    """Cost of the priced calls; None when none is priced (never 0 for unknown)."""
    priced = [r["cost_usd"] for r in rows if r["cost_usd"] is not None]
    return sum(priced) if priced else None


def _unpriced(rows: list[dict]) -> list[dict]:
    return [r for r in rows if r["cost_usd"] is None]


def _approx(value: float | None) -> Any:
    return None if value is None else pytest.approx(value, rel=1e-9, abs=1e-12)


def _check_totals(totals: Any, calls: list[dict]) -> None:
    unpriced = _unpriced(calls)
    assert totals.calls == len(calls)
    assert totals.failures == sum(r["status"] in FAILED | TIMED_OUT for r in calls)
    for name in ("input_tokens", "output_tokens", "cached_input_tokens", "reasoning_tokens"):
        assert getattr(totals, name) == _sum(calls, name), name
    # SUM(cost_usd) over the raw rows: unpriced calls add nothing, and are counted apart
    assert totals.cost_usd == pytest.approx(sum(r["cost_usd"] for r in calls if r["cost_usd"] is not None), abs=1e-12)
    assert (totals.priced_calls, totals.unpriced_calls) == (len(calls) - len(unpriced), len(unpriced))
    assert totals.unpriced_input_tokens == _sum(unpriced, "input_tokens")
    assert totals.unpriced_output_tokens == _sum(unpriced, "output_tokens")


@pytest.mark.parametrize("range_name", list(RANGES))
def test_model_usage_matches_python(model_history: tuple, mode: str, range_name: str) -> None:
    url, rows = model_history
    tr = _tr(range_name)
    engine = create_db_engine(url, read_only=True)
    with _conn(engine, mode) as conn:
        usage = model_usage(conn, tr, series=False)
        totals = cost_totals(conn, tr)
        dialect = conn.dialect.name
    engine.dispose()
    calls = _in(rows["models"], tr)
    assert calls, "every range holds model calls"
    assert usage is not None and totals is not None
    _check_totals(usage.totals, calls)
    assert usage.totals == totals or _close_totals(usage.totals, totals)
    by_model: dict[str, list[dict]] = defaultdict(list)
    for r in calls:
        by_model[r["model"]].append(r)
    assert usage.total_rows == len(by_model)
    assert {r.model for r in usage.rows} == set(by_model)
    prices = current_prices()
    for row in usage.rows:
        mine = by_model[row.model]
        unpriced = _unpriced(mine)
        failed = sum(r["status"] in FAILED | TIMED_OUT for r in mine)
        durations = [r["duration_ms"] for r in mine if r["duration_ms"] is not None]
        ttfts = [r["time_to_first_token_ms"] for r in mine if r["time_to_first_token_ms"] is not None]
        assert (row.calls, row.failures) == (len(mine), failed)
        assert row.failure_rate == pytest.approx(failed / len(mine))
        assert row.providers == tuple(sorted({r["provider"] for r in mine if r["provider"]}))
        assert row.avg_duration_ms == pytest.approx(sum(durations) / len(durations))
        assert row.avg_ttft_ms == (pytest.approx(sum(ttfts) / len(ttfts)) if ttfts else None)
        for got, values, q in ((row.p50_duration_ms, durations, 0.5), (row.p95_duration_ms, durations, 0.95),
                               (row.p50_ttft_ms, ttfts, 0.5)):
            assert _percentile_ok(got, values, q, mode, dialect), (row.model, q, got)
        for name in ("input_tokens", "output_tokens", "cached_input_tokens", "reasoning_tokens"):
            assert getattr(row, name) == _sum(mine, name), (row.model, name)
        assert row.cost_usd == _approx(_cost(mine))
        priced_calls = len(mine) - len(unpriced)
        assert row.cost_per_1k_calls == (None if row.cost_usd is None else pytest.approx(
            _cost(mine) * 1000 / priced_calls))
        assert (row.unpriced_calls, row.unpriced_input_tokens, row.unpriced_output_tokens) == (
            len(unpriced), _sum(unpriced, "input_tokens"), _sum(unpriced, "output_tokens"))
        assert row.priced == any(prices.lookup(row.model, p) is not None for p in (row.providers or (None,)))
        assert row.last_used == max(r["start_time"] for r in mine)
    if NEVER_PRICED in by_model:  # every call unpriced: no cost at all, never $0
        llama = next(r for r in usage.rows if r.model == NEVER_PRICED)
        assert llama.cost_usd is None and llama.cost_per_1k_calls is None and not llama.priced
        assert llama.unpriced_calls == llama.calls > 0
        assert llama.unpriced_input_tokens == llama.input_tokens > 0
    # default order: cost, unpriced models last
    costs = [r.cost_usd for r in usage.rows]
    assert costs == sorted(costs, key=lambda c: (c is None, -(c or 0)))


def _close_totals(a: Any, b: Any) -> bool:
    return all(getattr(a, f) == pytest.approx(getattr(b, f)) for f in a.__dataclass_fields__)


@pytest.mark.parametrize("sort", sorted(MODEL_SORTS))
def test_model_usage_sorts_in_sql(model_history: tuple, sort: str) -> None:
    url, _ = model_history
    tr = _tr("3.5 days, partial hours")
    engine = create_db_engine(url, read_only=True)
    with engine.connect() as conn:
        up = model_usage(conn, tr, sort=sort, descending=False, series=False)
        down = model_usage(conn, tr, sort=sort, descending=True, limit=2, series=False)
    engine.dispose()
    values = [getattr(r, "failures" if sort == "failures" else sort) for r in up.rows]
    present = [v for v in values if v is not None]
    assert present == sorted(present) and values[:len(present)] == present  # NULLs last
    assert len(down.rows) == min(2, up.total_rows) and down.total_rows == up.total_rows
    assert down.totals == up.totals  # totals are of every model, whatever the limit


def _bucket(when: datetime, size: int) -> int:
    return int(when.timestamp()) // size * size


def _ranked(groups: dict[str, list[dict]], top: int) -> tuple[list[str], set[str]]:
    order = sorted(groups, key=lambda k: (-sum(r["cost_usd"] or 0 for r in groups[k]), -len(groups[k]), k))
    return order[:top], set(order[top:])


@pytest.mark.parametrize("range_name", list(RANGES))
@pytest.mark.parametrize("top", [2, 8])
def test_cost_series_matches_python(model_history: tuple, mode: str, range_name: str, top: int) -> None:
    url, rows = model_history
    tr = _tr(range_name)
    engine = create_db_engine(url, read_only=True)
    with _conn(engine, mode) as conn:
        series = cost_series(conn, tr, top=top)
    engine.dispose()
    size = BUCKET_SECONDS[tr.bucket]
    starts = bucket_starts(tr)
    assert series.bucket == tr.bucket and list(series.bucket_starts) == starts
    calls = _in(rows["models"], tr)
    index = {b: i for i, b in enumerate(starts)}
    expected = {k: np.zeros(len(starts), dtype=np.int64) for k in ("calls", "unpriced", "in", "out")}
    for r in calls:
        i = index[_bucket(r["start_time"], size)]
        expected["calls"][i] += 1
        expected["unpriced"][i] += r["cost_usd"] is None
        expected["in"][i] += r["input_tokens"] or 0
        expected["out"][i] += r["output_tokens"] or 0
    assert np.array_equal(series.calls, expected["calls"])
    assert np.array_equal(series.unpriced_calls, expected["unpriced"])
    assert np.array_equal(series.input_tokens, expected["in"])
    assert np.array_equal(series.output_tokens, expected["out"])
    for stacked, key in ((series.by_model, lambda r: r["model"]),
                         (series.by_agent, lambda r: r["agent_name"] or "(no agent)")):
        groups: dict[str, list[dict]] = defaultdict(list)
        for r in calls:
            groups[key(r)].append(r)
        kept, rest = _ranked(groups, top)
        assert list(stacked) == kept + ([OTHER] if rest else [])
        for name, values in stacked.items():
            want = np.zeros(len(starts))
            for r in (r for g in (rest if name == OTHER else [name]) for r in groups[g]):
                want[index[_bucket(r["start_time"], size)]] += r["cost_usd"] or 0.0
            assert np.allclose(values, want, rtol=1e-9, atol=1e-12), name
        # stacked cost adds up to the range's total
        total = sum(r["cost_usd"] for r in calls if r["cost_usd"] is not None)
        assert sum(v.sum() for v in stacked.values()) == pytest.approx(total)


@pytest.mark.parametrize("by", ["model", "agent", "user", "session", "day"])
@pytest.mark.parametrize("range_name", ["3.5 days, partial hours", "partial days"])
def test_cost_breakdown_matches_python(model_history: tuple, mode: str, by: str, range_name: str) -> None:
    url, rows = model_history
    tr = _tr(range_name)
    engine = create_db_engine(url, read_only=True)
    with _conn(engine, mode) as conn:
        result = cost_breakdown(conn, tr, by=by)
        limited = cost_breakdown(conn, tr, by=by, limit=3)
    engine.dispose()
    assert result is not None and limited is not None
    calls = _in(rows["models"], tr)
    _check_totals(result.totals, calls)
    column = {"model": "model", "agent": "agent_name", "user": "user_id", "session": "session_id"}.get(by)
    empty = {"agent": "(no agent)", "user": "(no user)", "session": "(no session)"}

    def key(r: dict) -> str:
        if by == "day":
            return r["start_time"].astimezone(UTC).date().isoformat()
        return r[column] or empty.get(by, "")

    groups: dict[str, list[dict]] = defaultdict(list)
    for r in calls:
        groups[key(r)].append(r)
    assert result.by == by and result.total_rows == len(groups) == len(result.rows)
    for row in result.rows:
        mine = groups[row.key]
        assert (row.calls, row.input_tokens, row.output_tokens, row.unpriced_calls) == (
            len(mine), _sum(mine, "input_tokens"), _sum(mine, "output_tokens"), len(_unpriced(mine))), row.key
        assert row.cost_usd == _approx(_cost(mine)), row.key
    if by == "day":
        assert [r.key for r in result.rows] == sorted(groups)
    else:
        assert [(r.cost_usd is None, -(r.cost_usd or 0), -r.calls) for r in result.rows] == sorted(
            (r.cost_usd is None, -(r.cost_usd or 0), -r.calls) for r in result.rows)
    assert limited.rows == result.rows[:3] and limited.total_rows == result.total_rows


def _kpi_cost(calls: list[dict]) -> float | None:
    if any(r["cost_usd"] is not None for r in calls):
        return _cost(calls)
    return None if calls else 0.0


@pytest.mark.parametrize("range_name", ["3.5 days, partial hours", "partial days", "20 days, day buckets"])
def test_kpi_cost_against_the_previous_period(model_history: tuple, mode: str, range_name: str) -> None:
    url, rows = model_history
    tr = _tr(range_name)
    engine = create_db_engine(url, read_only=True)
    with _conn(engine, mode) as conn:
        kpis = summary_kpis(conn, tr)
    engine.dispose()
    now, before = _in(rows["models"], tr), _in(rows["models"], previous_period(tr))
    assert kpis.cost_usd is not None
    assert kpis.cost_usd.value == _approx(_kpi_cost(now))
    assert kpis.cost_usd.previous == _approx(_kpi_cost(before))
    assert kpis.unpriced_calls == len(_unpriced(now))


def test_agents_sessions_and_executions_carry_cost(model_history: tuple, mode: str) -> None:
    url, rows = model_history
    tr = _tr("3.5 days, partial hours")
    wide = time_range(start_date=START - timedelta(days=1), end_date=NOW)
    engine = create_db_engine(url, read_only=True)
    with _conn(engine, mode) as conn:
        agents = agent_usage(conn, tr)
        by_cost = agent_usage(conn, tr, sort="cost_usd")
        by_input = agent_usage(conn, tr, sort="input_tokens", descending=False)
        recent = session_activity(conn, wide).recent
        paged = list_sessions(conn, wide, sort="total_queries", limit=7).rows
        page = list_executions(conn, wide, limit=500).rows
        deep = list_executions(conn, wide, after=list_executions(conn, wide, limit=40).next_cursor, limit=40).rows
        sid = next(r.session_id for r in recent if r.total_queries > 3)
        in_session = session_detail(conn, sid)
        details = [execution_detail(conn, r.execution_id) for r in page[:25]]
    engine.dispose()
    calls = _in(rows["models"], tr)
    for row in agents.rows:
        mine = [r for r in calls if r["agent_name"] == row.agent_name]
        assert (row.input_tokens, row.output_tokens, row.unpriced_calls) == (
            _sum(mine, "input_tokens"), _sum(mine, "output_tokens"), len(_unpriced(mine))), row.agent_name
        assert row.cost_usd == _approx(_cost(mine))
    assert any(r.agent_name == "SubResearcher" and r.cost_usd for r in agents.rows)
    assert [r.cost_usd for r in by_cost.rows] == sorted((r.cost_usd for r in by_cost.rows),
                                                        key=lambda c: (c is None, -(c or 0)))
    assert [r.input_tokens for r in by_input.rows] == sorted(r.input_tokens for r in by_input.rows)

    by_session: dict[str, list[dict]] = defaultdict(list)
    for r in rows["models"]:
        by_session[r["session_id"]].append(r)
    assert recent and paged
    for s in (*recent, *paged, in_session.session):
        mine = by_session.get(s.session_id, [])
        assert s.cost_usd == _approx(_cost(mine)) and s.unpriced_calls == len(_unpriced(mine)), s.session_id

    by_execution: dict[Any, list[dict]] = defaultdict(list)
    for r in rows["models"]:
        by_execution[r["execution_id"]].append(r)

    def maybe_sum(mine: list[dict], column: str) -> int | None:
        values = [r[column] for r in mine if r[column] is not None]
        return sum(values) if values else None

    assert len(page) == len([r for r in rows["executions"] if wide.start <= r["start_time"] < wide.end])
    for e in (*page, *deep, *in_session.executions):
        mine = by_execution.get(e.execution_id, [])
        assert (e.input_tokens, e.output_tokens, e.unpriced_calls) == (
            maybe_sum(mine, "input_tokens"), maybe_sum(mine, "output_tokens"), len(_unpriced(mine)))
        assert e.cost_usd == _approx(_cost(mine))
    for d in details:
        mine = by_execution.get(d.execution_id, [])
        assert d.cost_usd == _approx(_cost(mine)) and d.unpriced_calls == len(_unpriced(mine))


@pytest.mark.parametrize("range_name", list(RANGES))
def test_rollup_reads_equal_raw_reads(model_history: tuple, range_name: str) -> None:
    url, _ = model_history
    tr = _tr(range_name)
    engine = create_db_engine(url, read_only=True)
    with engine.connect() as conn, _conn(engine, "raw") as raw:
        a, b = model_usage(conn, tr, sort="model", descending=False), model_usage(raw, tr, sort="model",
                                                                                    descending=False)
        assert _close_totals(a.totals, b.totals) and a.total_rows == b.total_rows
        for x, y in zip(a.rows, b.rows, strict=True):
            assert (x.model, x.providers, x.calls, x.failures, x.input_tokens, x.output_tokens, x.cached_input_tokens,
                    x.reasoning_tokens, x.unpriced_calls, x.unpriced_input_tokens, x.unpriced_output_tokens, x.priced,
                    x.last_used) == (y.model, y.providers, y.calls, y.failures, y.input_tokens, y.output_tokens,
                                     y.cached_input_tokens, y.reasoning_tokens, y.unpriced_calls,
                                     y.unpriced_input_tokens, y.unpriced_output_tokens, y.priced, y.last_used)
            for f in ("cost_usd", "cost_per_1k_calls", "avg_duration_ms", "avg_ttft_ms", "failure_rate"):
                assert getattr(x, f) == _approx(getattr(y, f)), f
        s, t = a.series, b.series
        for f in ("calls", "unpriced_calls", "input_tokens", "output_tokens"):
            assert np.array_equal(getattr(s, f), getattr(t, f)), f
        for mine, theirs in ((s.by_model, t.by_model), (s.by_agent, t.by_agent)):
            assert list(mine) == list(theirs)
            assert all(np.allclose(mine[k], theirs[k], rtol=1e-9, atol=1e-12) for k in mine)
        for by in ("model", "agent", "day"):
            c, d = cost_breakdown(conn, tr, by=by), cost_breakdown(raw, tr, by=by)
            assert [(r.key, r.calls, r.input_tokens, r.output_tokens, r.unpriced_calls) for r in c.rows] == [
                (r.key, r.calls, r.input_tokens, r.output_tokens, r.unpriced_calls) for r in d.rows]
            assert all(x.cost_usd == _approx(y.cost_usd) for x, y in zip(c.rows, d.rows, strict=True))
        k, m = summary_kpis(conn, tr), summary_kpis(raw, tr)
        assert k.cost_usd.value == _approx(m.cost_usd.value) and k.cost_usd.previous == _approx(m.cost_usd.previous)
        assert k.unpriced_calls == m.unpriced_calls
        g, h = agent_usage(conn, tr, sort="agent_name"), agent_usage(raw, tr, sort="agent_name")
        assert [(r.agent_name, r.input_tokens, r.output_tokens, r.unpriced_calls) for r in g.rows] == [
            (r.agent_name, r.input_tokens, r.output_tokens, r.unpriced_calls) for r in h.rows]
        assert all(x.cost_usd == _approx(y.cost_usd) for x, y in zip(g.rows, h.rows, strict=True))
    engine.dispose()
    assert tr.bucket in (Bucket.MINUTE, Bucket.HOUR, Bucket.DAY)


def test_snapshot_carries_models_and_cost(model_history: tuple) -> None:
    url, rows = model_history
    tr = _tr("3.5 days, partial hours")
    engine = create_db_engine(url, read_only=True)
    with engine.connect() as conn:
        overview = dashboard_snapshot(conn, tr, generation=1)
        tab = dashboard_snapshot(conn, tr, generation=2, tabs=frozenset({"overview", "models"}),
                                 sorts={"models": ("calls", False)})
        direct = model_usage(conn, tr, sort="calls", descending=False)
        agents_tab = dashboard_snapshot(conn, tr, generation=3, tabs=frozenset({"overview", "agents"}))
        by_cost = dashboard_snapshot(conn, tr, generation=4, agent_sort=("cost_usd", True))
        agents = agent_usage(conn, tr)
    engine.dispose()
    # the agents' model figures come with the Agents tab (or a sort by them), not the overview
    assert all(r.input_tokens is None and r.cost_usd is None for r in overview.agents.rows)
    assert agents_tab.agents == agents and any(r.cost_usd for r in agents.rows)
    assert [r.agent_name for r in by_cost.agents.rows] == [
        r.agent_name for r in sorted(agents.rows, key=lambda r: (r.cost_usd is None, -(r.cost_usd or 0), r.agent_name))]
    assert overview.models is None and overview.kpis.cost_usd is not None
    assert overview.kpis.cost_usd.value == _approx(_kpi_cost(_in(rows["models"], tr)))
    assert tab.models is not None and [r.model for r in tab.models.rows] == [r.model for r in direct.rows]
    assert [r.calls for r in tab.models.rows] == sorted(r.calls for r in tab.models.rows)


@pytest.fixture
def studio_like_sqlite(sqlite_db_url: str) -> str:
    url = without_revision_0003(sqlite_db_url)
    engine = create_db_engine(url)
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO agent_execution_metrics (execution_id, agent_name, start_time, end_time, duration_ms, "
            "status, tool_count, retry_count, api_calls_count, tokens_used, session_id) VALUES "
            "('0192f0000000700080000000000000aa', 'Legacy', '2026-11-20 10:00:00.000000', "
            "'2026-11-20 10:00:01.000000', 1000.0, 'success', 1, 0, 0, 12, 'old-session')"))
        conn.execute(text(
            "INSERT INTO session_metrics (session_id, start_time, total_queries, successful_queries, "
            "failed_queries, unique_agents_count, is_active) VALUES ('old-session', '2026-11-20 10:00:00.000000', "
            "1, 1, 0, 1, 0)"))
        rebuild_rollups(conn)
    engine.dispose()
    return url


def test_without_model_tables_nothing_breaks(studio_like_sqlite: str) -> None:
    tr = time_range(start_date=NOW - timedelta(days=1), end_date=NOW)
    engine = create_db_engine(studio_like_sqlite, read_only=True)
    with engine.connect() as conn:
        assert model_usage(conn, tr) is None and cost_totals(conn, tr) is None
        assert cost_breakdown(conn, tr, by="agent") is None
        kpis = summary_kpis(conn, tr)
        assert kpis.cost_usd is None and kpis.unpriced_calls == 0 and kpis.total_executions == 1
        agent = agent_usage(conn, tr, sort="cost_usd").rows[0]
        assert (agent.agent_name, agent.input_tokens, agent.cost_usd) == ("Legacy", None, None)
        row = list_executions(conn, tr).rows[0]
        assert (row.input_tokens, row.cost_usd, row.unpriced_calls) == (None, None, 0)
        assert session_activity(conn, tr).recent[0].cost_usd is None
        snapshot = dashboard_snapshot(conn, tr, generation=1, tabs=frozenset({"overview", "models"}))
        assert snapshot.models is None and snapshot.kpis.cost_usd is None
    engine.dispose()
