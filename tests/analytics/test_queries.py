"""Each query against an independent computation in plain Python, on SQLite and PostgreSQL."""

from __future__ import annotations

import contextlib
import math
import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import insert
from sqlalchemy.engine import Engine

from studio_analytics.analytics import (
    agent_usage,
    summary_kpis,
    time_range,
    time_series,
    tool_usage,
)
from studio_analytics.analytics.timerange import bucket_starts, previous_period
from studio_analytics.db.engine import create_db_engine
from studio_analytics.db.migrate import upgrade_database
from studio_analytics.db.models import AgentExecutionMetrics, SessionMetrics, ToolUsageMetrics
from studio_analytics.db.rollups import (
    PERCENTILE_RELATIVE_ERROR,
    USE_ROLLUPS_OPTION,
    rebuild_rollups,
)
from tests.pg_databases import pg_database

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
# Ranges end mid-hour so the rollup path also reads raw rows for the partial hours.
QUERY_NOW = NOW - timedelta(minutes=17, seconds=3.25)
STATUSES = ["success"] * 7 + ["failure", "error", "timeout", "running"]


def _make_rows(seed: int = 3) -> tuple[list[dict], list[dict]]:
    rng = random.Random(seed)
    execs, tools = [], []
    for i in range(400):
        start = NOW - timedelta(seconds=rng.uniform(0, 9 * 86_400))  # some fall before the 7-day range
        status = rng.choice(STATUSES)
        ex_id = uuid.uuid4()
        execs.append(dict(
            execution_id=ex_id, agent_name=rng.choice(["A", "B", "C"]), start_time=start,
            end_time=start + timedelta(seconds=1), duration_ms=None if status == "running" else round(rng.lognormvariate(6, 1), 3),
            status=status, tool_count=rng.randint(0, 3), retry_count=0, api_calls_count=1,
            tokens_used=rng.randint(0, 500), session_id=f"s{i % 37}",
        ))
        for _ in range(rng.randint(0, 2)):
            api = rng.choice([None, "google", "bing"])
            tools.append(dict(
                usage_id=uuid.uuid4(), tool_name=rng.choice(["search", "calc"]), execution_id=ex_id,
                start_time=start, duration_ms=round(rng.uniform(1, 100), 3), status=rng.choice(["success", "failure"]),
                external_api_called=api, api_status_code=None if api is None else rng.choice([200, 200, 429]),
            ))
    return execs, tools


class Data(tuple):  # (url, executions, tools) and how the queries read them
    mode: str


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def dataset(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Data]:
    """Rows inserted directly, rollups rebuilt from them, once per dialect for the
    module (its tests only read them)."""
    with contextlib.ExitStack() as stack:
        if request.param == "sqlite":
            url = f"sqlite:///{tmp_path_factory.mktemp('queries') / 'metrics.sqlite3'}"
        else:
            url = stack.enter_context(pg_database(request.getfixturevalue("pg_server_url")))
        execs, tools = _make_rows()
        engine = create_db_engine(url)
        upgrade_database(engine)
        with engine.begin() as conn:
            conn.execute(insert(AgentExecutionMetrics), execs)
            conn.execute(insert(ToolUsageMetrics), tools)
            conn.execute(insert(SessionMetrics), _sessions_of(execs))
            rebuild_rollups(conn)
        engine.dispose()
        yield Data((url, execs, tools))


@pytest.fixture(params=["rollups", "raw"])
def data_url(dataset: Data, request: pytest.FixtureRequest) -> Data:
    """The module's rows, read either from the rollups (plus raw rows for the partial
    hours) or from raw rows only."""
    data = Data(dataset)
    data.mode = request.param
    return data


def _sessions_of(execs: list[dict]) -> list[dict]:
    spans: dict[str, list] = {}
    for r in execs:
        span = spans.setdefault(r["session_id"], [r["start_time"], r["end_time"]])
        span[0], span[1] = min(span[0], r["start_time"]), max(span[1], r["end_time"])
    return [dict(session_id=sid, start_time=a, end_time=b, total_queries=0, successful_queries=0, failed_queries=0,
                 unique_agents_count=0, is_active=False) for sid, (a, b) in spans.items()]


def _active_sessions(execs: list[dict], start: datetime, end: datetime) -> int:
    """Sessions open at some moment of [start, end): first start before the end, last end after the start."""
    return sum(a < end and b >= start for a, b in ((s["start_time"], s["end_time"]) for s in _sessions_of(execs)))


def _reader(data: Data) -> Engine:
    engine = create_db_engine(data[0], read_only=True)
    if data.mode == "raw":
        return engine.execution_options(**{USE_ROLLUPS_OPTION: False})
    return engine


def _percentile_ok(got: float | None, values: list[float], q: float, data: Data, dialect: str) -> bool:
    if data.mode == "rollups":  # histogram bucket of the nearest-rank value
        return got == pytest.approx(_nearest_rank(values, q), rel=PERCENTILE_RELATIVE_ERROR)
    if dialect == "postgresql":
        return got == pytest.approx(float(np.percentile(values, q * 100)))
    return got == pytest.approx(_nearest_rank(values, q))


def _in(rows: list[dict], start: datetime, end: datetime) -> list[dict]:
    return [r for r in rows if start <= r["start_time"] < end]


def _nearest_rank(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[max(0, math.ceil(q * len(values)) - 1)]


def test_agent_usage_matches_python(data_url: Data) -> None:
    url, execs, _ = data_url
    tr = time_range(preset="7d", now=QUERY_NOW)
    engine = _reader(data_url)
    with engine.connect() as conn:
        usage = agent_usage(conn, tr)
        by_fail = agent_usage(conn, tr, sort="failures", descending=False)
    rows = _in(execs, tr.start, tr.end)
    assert usage.total_executions == len(rows)
    for row in usage.rows:
        mine = [r for r in rows if r["agent_name"] == row.agent_name]
        durations = [r["duration_ms"] for r in mine if r["duration_ms"] is not None]
        ok = sum(r["status"] == "success" for r in mine)
        failed = sum(r["status"] in ("failure", "error") for r in mine)
        timeouts = sum(r["status"] == "timeout" for r in mine)
        assert (row.executions, row.successes, row.failures, row.timeouts) == (len(mine), ok, failed, timeouts)
        assert row.success_rate == pytest.approx(ok / (ok + failed + timeouts))
        assert row.avg_duration_ms == pytest.approx(sum(durations) / len(durations))
        assert row.total_tokens == sum(r["tokens_used"] for r in mine)
        assert row.total_tool_calls == sum(r["tool_count"] for r in mine)
        for q, got in ((0.5, row.p50_duration_ms), (0.95, row.p95_duration_ms), (0.99, row.p99_duration_ms)):
            assert _percentile_ok(got, durations, q, data_url, engine.dialect.name), (q, got)
        assert row.last_used == max(r["start_time"] for r in mine)
    assert [r.executions for r in usage.rows] == sorted((r.executions for r in usage.rows), reverse=True)
    assert [r.failures for r in by_fail.rows] == sorted(r.failures for r in by_fail.rows)
    engine.dispose()


def test_tool_usage_matches_python(data_url: Data) -> None:
    url, execs, tools = data_url
    tr = time_range(preset="7d", now=QUERY_NOW)
    engine = _reader(data_url)
    with engine.connect() as conn:
        usage = tool_usage(conn, tr)
    rows = _in(tools, tr.start, tr.end)
    agent_of = {e["execution_id"]: e["agent_name"] for e in execs}
    assert usage.total_calls == len(rows)
    for row in usage.rows:
        mine = [r for r in rows if r["tool_name"] == row.tool_name]
        api = [r for r in mine if r["external_api_called"]]
        api_err = [r for r in api if r["api_status_code"] >= 400 or r["status"] == "failure"]
        assert row.calls == len(mine) and row.api_calls == len(api)
        assert row.api_error_rate == pytest.approx(len(api_err) / len(api))
        assert set(row.external_apis) == {r["external_api_called"] for r in api}
        counts: dict[str, int] = {}
        for r in mine:
            counts[agent_of[r["execution_id"]]] = counts.get(agent_of[r["execution_id"]], 0) + 1
        assert row.top_agents[0][1] == max(counts.values())
    engine.dispose()


def test_kpis_and_series_match_python(data_url: Data) -> None:
    url, execs, _ = data_url
    tr = time_range(preset="7d", now=QUERY_NOW)
    engine = _reader(data_url)
    with engine.connect() as conn:
        kpis = summary_kpis(conn, tr)
        series = time_series(conn, tr)
    rows, prev = _in(execs, tr.start, tr.end), _in(execs, previous_period(tr).start, tr.start)
    assert kpis.total_executions == len(rows)
    assert kpis.queries_per_hour.value == pytest.approx(len(rows) / 168)
    assert kpis.queries_per_hour.previous == pytest.approx(len(prev) / 168)
    assert kpis.active_sessions.value == _active_sessions(execs, tr.start, tr.end)
    assert kpis.active_sessions.previous == _active_sessions(execs, previous_period(tr).start, tr.start)
    finished = [r for r in rows if r["status"] != "running"]
    assert kpis.success_rate.value == pytest.approx(sum(r["status"] == "success" for r in finished) / len(finished))
    assert series.executions.sum() == len(rows)
    assert series.failures.sum() == sum(r["status"] in ("failure", "error", "timeout") for r in rows)
    starts = bucket_starts(tr)
    assert len(series.bucket_starts) == len(starts)
    durations = [r["duration_ms"] for r in rows if r["duration_ms"] is not None]
    assert kpis.avg_response_time_ms.value == pytest.approx(sum(durations) / len(durations))
    for i, b in enumerate(starts):
        mine = [r for r in rows if b <= r["start_time"].timestamp() < b + 3600]
        assert series.executions[i] == len(mine)
        values = [r["duration_ms"] for r in mine if r["duration_ms"] is not None]
        if values:
            assert _percentile_ok(float(series.p95_duration_ms[i]), values, 0.95, data_url, engine.dialect.name)
        else:
            assert np.isnan(series.p95_duration_ms[i])
    engine.dispose()


def test_empty_database(db_url: str) -> None:
    tr = time_range(days=1, now=NOW)
    engine = create_db_engine(db_url, read_only=True)
    with engine.connect() as conn:
        assert agent_usage(conn, tr).rows == () and tool_usage(conn, tr).rows == ()
        kpis = summary_kpis(conn, tr)
        series = time_series(conn, tr)
    assert kpis.total_executions == 0 and kpis.success_rate.value is None and kpis.queries_per_hour.change is None
    assert series.executions.sum() == 0 and np.isnan(series.p95_duration_ms).all()
    engine.dispose()


def test_time_range_edges_and_timezones() -> None:
    tr = time_range(start_date="2026-11-01T00:00:00+02:00", end_date="2026-11-02", now=NOW)
    assert tr.start == datetime(2026, 10, 31, 22, tzinfo=UTC) and tr.end == datetime(2026, 11, 2, tzinfo=UTC)
    assert tr.bucket.value == "hour"
    assert time_range(preset="30d", now=NOW).bucket.value == "day"
    assert time_range(days=0.1, now=NOW).bucket.value == "minute"
    assert previous_period(tr).end == tr.start
    with pytest.raises(ValueError):
        time_range(start_date="2026-11-02", end_date="2026-11-01")
    with pytest.raises(ValueError):
        time_range(preset="2w")


def test_error_signatures_fold_the_details() -> None:
    from studio_analytics.analytics import error_signature

    a = error_signature("HTTPError: 404 Client Error: Not Found for url https://api.github.com/page/17")
    b = error_signature("HTTPError: 404 Client Error: Not Found for url https://news.ycombinator.com/page/3")
    assert a == b == "HTTPError: <n> Client Error: Not Found for url <url>"
    assert error_signature("KeyError: 'account_991'") == error_signature("KeyError: 'x'") == "KeyError: '<v>'"
    assert error_signature("no id 0a1b2c3d-0000-4000-8000-00000000abcd here") == "no id <id> here"
    assert error_signature(None) == "(no message)"


def test_error_sessions_workflows_match_python(db_url: str) -> None:
    from studio_analytics import tracker
    from studio_analytics.analytics import error_analysis, session_activity, workflow_performance

    tracker.configure(db_url=db_url)
    for i in range(30):
        with tracker.track_session(session_id=f"s{i % 4}", user_id=f"u{i % 3}"), \
                tracker.track_workflow(workflow_type="wf" if i % 2 else "other", agents_involved=["A", "B"]):
            try:
                with tracker.track_agent_execution(agent_name="A" if i % 3 else "B"):
                    if i % 5 == 0:
                        raise KeyError(f"account_{i}")
            except KeyError:
                pass
    assert tracker.flush(20)
    tracker.shutdown(5)
    tr = time_range(days=1)
    engine = create_db_engine(db_url, read_only=True)
    with engine.connect() as conn:
        errors = error_analysis(conn, tr)
        sessions = session_activity(conn, tr)
        workflows = workflow_performance(conn, tr)
    engine.dispose()
    (group,) = errors.groups
    assert group.signature == "KeyError: '<v>'" and group.count == 6 and group.share == 1.0
    assert group.top_agent == "A" and errors.total_failures == 6  # i = 5, 10, 20, 25 ran agent A
    assert errors.error_rate == pytest.approx(6 / 30)
    assert sessions.total_sessions == 4 and sessions.sessions_started.sum() == 4
    assert sum(r.total_queries for r in sessions.recent) == 30
    assert sessions.success_rate == pytest.approx(24 / 30)
    assert dict(sessions.top_users)["u0"] >= 1
    assert {r.workflow_type: r.runs for r in workflows.rows} == {"wf": 15, "other": 15}
    assert workflows.trends["wf"][1].sum() == 15


@pytest.mark.parametrize("sort", ["start_time", "duration_ms"])
@pytest.mark.parametrize("descending", [True, False])
def test_keyset_pages_walk_every_row_once(data_url: Data, sort: str,
                                          descending: bool) -> None:
    from studio_analytics.analytics import list_executions

    url, execs, _ = data_url
    tr = time_range(preset="7d", now=QUERY_NOW)
    engine = _reader(data_url)
    seen: list = []
    cursor = None
    with engine.connect() as conn:
        while True:
            page = list_executions(conn, tr, sort=sort, descending=descending, after=cursor, limit=37)
            seen += page.rows
            cursor = page.next_cursor
            if cursor is None:
                break
    engine.dispose()
    expected = _in(execs, tr.start, tr.end)
    assert sorted(r.execution_id for r in seen) == sorted(r["execution_id"] for r in expected)
    keys = [(r.start_time if sort == "start_time" else (r.duration_ms if r.duration_ms is not None else -1.0))
            for r in seen]
    assert keys == sorted(keys, reverse=descending)


def test_filters_and_details(data_url: Data) -> None:
    from studio_analytics.analytics import execution_detail, list_executions
    from studio_analytics.analytics.results import ExecutionFilter

    url, execs, tools = data_url
    tr = time_range(preset="7d", now=QUERY_NOW)
    rows = _in(execs, tr.start, tr.end)
    engine = _reader(data_url)
    with engine.connect() as conn:
        failed = list_executions(conn, tr, filters=ExecutionFilter(status="failure", agent_name="A"), limit=1000)
        with_calc = list_executions(conn, tr, filters=ExecutionFilter(tool_name="calc"), limit=1000)
        sess = list_executions(conn, tr, filters=ExecutionFilter(session_id="s3"), limit=1000)
        target = max(rows, key=lambda r: r["tool_count"])
        detail = execution_detail(conn, target["execution_id"])
        missing = execution_detail(conn, uuid.uuid4())
    engine.dispose()
    assert len(failed.rows) == sum(r["agent_name"] == "A" and r["status"] in ("failure", "error") for r in rows)
    calc_ids = {t["execution_id"] for t in tools if t["tool_name"] == "calc"}
    assert {r.execution_id for r in with_calc.rows} == {r["execution_id"] for r in rows if r["execution_id"] in calc_ids}
    assert len(sess.rows) == sum(r["session_id"] == "s3" for r in rows)
    assert detail is not None and missing is None
    mine = sorted((t for t in tools if t["execution_id"] == target["execution_id"]), key=lambda t: t["start_time"])
    assert [c.usage_id for c in detail.tool_calls] == [t["usage_id"] for t in mine]


@pytest.mark.parametrize(("end_offset_h", "days"), [(-0.3, 7), (-15.6, 7), (-3.2, 2), (-20.9, 1.6), (-0.01, 8.5),
                                                      (-5.5, 20)])
def test_percentiles_over_ranges_cut_anywhere(data_url: Data, end_offset_h: float, days: float) -> None:
    """Partial days at either end (read as whole days minus hours), partial hours (raw
    rows), day buckets: every figure still matches the rows."""
    _, execs, _ = data_url
    tr = time_range(days=days, now=NOW + timedelta(hours=end_offset_h))
    engine = _reader(data_url)
    with engine.connect() as conn:
        usage = agent_usage(conn, tr)
        series = time_series(conn, tr)
    engine.dispose()
    rows = _in(execs, tr.start, tr.end)
    assert usage.total_executions == len(rows)
    for row in usage.rows:
        durations = [r["duration_ms"] for r in rows if r["agent_name"] == row.agent_name and r["duration_ms"]]
        for q, got in ((0.5, row.p50_duration_ms), (0.99, row.p99_duration_ms)):
            assert _percentile_ok(got, durations, q, data_url, engine.dialect.name), (q, got)
    size = 86_400 if days > 14 else 3600
    assert series.executions.sum() == len(rows)
    for i, b in enumerate(series.bucket_starts):
        values = [r["duration_ms"] for r in rows if b <= r["start_time"].timestamp() < b + size and r["duration_ms"]]
        if values:
            assert _percentile_ok(float(series.p95_duration_ms[i]), values, 0.95, data_url, engine.dialect.name)


def test_limited_tables_know_how_many_rows_the_range_has(data_url: Data) -> None:
    """The agents, tools and workflows tables stop at a limit; they carry the full count
    so the window can say "showing 2 of 7" instead of stopping silently."""
    from studio_analytics.analytics import tool_usage

    url, execs, _ = data_url
    tr = time_range(preset="7d", now=QUERY_NOW)
    in_range = _in(execs, tr.start, tr.end)
    engine = _reader(data_url)
    with engine.connect() as conn:
        agents = agent_usage(conn, tr, limit=2)
        all_tools = tool_usage(conn, tr)
        one_tool = tool_usage(conn, tr, limit=1)
    assert len(agents.rows) == 2 and agents.total_rows == len({r["agent_name"] for r in in_range}) > 2
    assert len(one_tool.rows) == 1 and one_tool.total_rows == len(all_tools.rows) > 1
