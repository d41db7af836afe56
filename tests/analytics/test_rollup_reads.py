"""Every dashboard query gives the same figures from rollups as from raw rows alone,
on demo data written through the tracker (hours, days, partial hours, both dialects)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from studio_analytics.analytics import (
    agent_usage,
    error_analysis,
    summary_kpis,
    time_range,
    time_series,
    tool_usage,
    workflow_performance,
)
from studio_analytics.db.engine import create_db_engine
from studio_analytics.db.rollups import PERCENTILE_RELATIVE_ERROR, USE_ROLLUPS_OPTION
from tests.demo_data import demo_fixtures

demo_sqlite, demo_url = demo_fixtures(executions=1_500, days=20, seed=5, pg_executions=800)


def _close(a: float | None, b: float | None, rel: float = 1e-9) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=rel, abs_tol=1e-9)


@pytest.mark.parametrize("days", [0.75, 2.37, 7, 19.5])
def test_rollup_reads_equal_raw_reads(demo_url: str, days: float) -> None:
    engine = create_db_engine(demo_url, read_only=True)
    tr = time_range(days=days)
    with engine.connect() as conn, engine.connect() as plain:
        raw = plain.execution_options(**{USE_ROLLUPS_OPTION: False})
        exact_percentiles = conn.dialect.name == "sqlite"  # PostgreSQL's raw path interpolates
        pct = PERCENTILE_RELATIVE_ERROR * 1.0001

        a, b = agent_usage(conn, tr, sort="agent_name", descending=False), agent_usage(raw, tr, sort="agent_name",
                                                                                         descending=False)
        assert a.total_executions == b.total_executions > 0
        for x, y in zip(a.rows, b.rows, strict=True):
            assert (x.agent_name, x.executions, x.successes, x.failures, x.timeouts, x.total_tool_calls,
                    x.total_tokens, x.last_used) == (y.agent_name, y.executions, y.successes, y.failures, y.timeouts,
                                                     y.total_tool_calls, y.total_tokens, y.last_used)
            assert _close(x.avg_duration_ms, y.avg_duration_ms) and _close(x.success_rate, y.success_rate)
            if exact_percentiles:
                for p, q in ((x.p50_duration_ms, y.p50_duration_ms), (x.p99_duration_ms, y.p99_duration_ms)):
                    assert _close(p, q, pct)

        t, u = tool_usage(conn, tr, sort="tool_name", descending=False), tool_usage(raw, tr, sort="tool_name",
                                                                                      descending=False)
        assert t.total_calls == u.total_calls
        for x, y in zip(t.rows, u.rows, strict=True):
            assert (x.tool_name, x.calls, x.successes, x.failures, x.api_calls, x.external_apis, x.top_agents,
                    x.last_used) == (y.tool_name, y.calls, y.successes, y.failures, y.api_calls, y.external_apis,
                                     y.top_agents, y.last_used)
            assert _close(x.api_error_rate, y.api_error_rate) and _close(x.avg_duration_ms, y.avg_duration_ms)
            if exact_percentiles:
                assert _close(x.p95_duration_ms, y.p95_duration_ms, pct)

        w, v = workflow_performance(conn, tr, sort="workflow_type", descending=False), workflow_performance(
            raw, tr, sort="workflow_type", descending=False)
        assert [r.workflow_type for r in w.rows] == [r.workflow_type for r in v.rows]
        assert w.rows or days < 7
        for x, y in zip(w.rows, v.rows, strict=True):
            assert (x.runs, x.successes, x.total_tool_calls, x.total_api_calls, x.total_tokens) == (
                y.runs, y.successes, y.total_tool_calls, y.total_api_calls, y.total_tokens)
            for p, q in ((x.avg_agent_count, y.avg_agent_count), (x.avg_duration_ms, y.avg_duration_ms),
                         (x.avg_satisfaction, y.avg_satisfaction), (x.avg_completion_rate, y.avg_completion_rate)):
                assert _close(p, q)
            if exact_percentiles:
                assert _close(x.p95_duration_ms, y.p95_duration_ms, pct)
            assert np.array_equal(w.trends[x.workflow_type][1], v.trends[x.workflow_type][1])

        k, m = summary_kpis(conn, tr), summary_kpis(raw, tr)
        assert k == m or (k.total_executions == m.total_executions and _close(k.avg_response_time_ms.value,
                                                                               m.avg_response_time_ms.value))
        s, r = time_series(conn, tr), time_series(raw, tr)
        assert np.array_equal(s.executions, r.executions) and np.array_equal(s.failures, r.failures)
        assert np.allclose(s.avg_duration_ms, r.avg_duration_ms, equal_nan=True)
        if exact_percentiles:
            assert np.allclose(s.p95_duration_ms, r.p95_duration_ms, rtol=pct, equal_nan=True)
        e, f = error_analysis(conn, tr), error_analysis(raw, tr)
        assert (e.total_failures, [g.count for g in e.groups]) == (f.total_failures, [g.count for g in f.groups])
    engine.dispose()
