"""Latency distribution and percentile series: histogram counts equal the raw rows' counts
per bucket, percentiles within the stated bound of the exact nearest-rank values, on
both dialects. Expectations are computed here from the raw durations, in Python."""

from __future__ import annotations

import math
from collections import Counter
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import select

from studio_analytics.analytics.latency import (
    APPROXIMATION,
    latency_distribution,
    latency_names,
    latency_percentile_series,
)
from studio_analytics.analytics.timerange import time_range
from studio_analytics.db.engine import create_db_engine
from studio_analytics.db.models import AgentExecutionMetrics, ModelCallMetrics, ToolUsageMetrics
from studio_analytics.db.rollups import BUCKETS_PER_OCTAVE, USE_ROLLUPS_OPTION, latency_bucket
from tests.demo_data import demo_fixtures

demo_sqlite, demo_url = demo_fixtures(executions=500, days=4, seed=16, pg_executions=200)

TABLES = {"agent": (AgentExecutionMetrics, "agent_name"), "tool": (ToolUsageMetrics, "tool_name"),
          "model": (ModelCallMetrics, "model")}


def test_the_stated_bound_is_half_a_bucket() -> None:
    # A bucket spans a factor 2**(1/8); its geometric middle is 2**(1/16) from either edge.
    assert math.isclose(APPROXIMATION, 2 ** (1 / (2 * BUCKETS_PER_OCTAVE)) - 1)
    assert round(APPROXIMATION * 100, 1) == 4.4


def _durations(conn, kind: str, tr, name: str | None = None) -> list[tuple[datetime, float]]:
    table, column = TABLES[kind]
    q = select(table.start_time, table.duration_ms).where(
        table.start_time >= tr.start, table.start_time < tr.end, table.duration_ms.isnot(None))
    if name is not None:
        q = q.where(getattr(table, column) == name)
    return [(t if t.tzinfo else t.replace(tzinfo=UTC), float(d)) for t, d in conn.execute(q)]


def _nearest_rank(values: list[float], f: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(f * len(ordered)) - 1)]


def _whole_hours(days: int):
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    return time_range(start_date=end - timedelta(days=days), end_date=end)


def test_latency_queries(demo_url: str) -> None:
    """One test per dialect: a PostgreSQL demo database costs seconds to write."""
    for kind in ("agent", "tool", "model"):
        _check_histogram(demo_url, kind)
    _check_one_name_and_the_raw_path(demo_url)
    _check_percentile_series(demo_url)


def _check_histogram(demo_url: str, kind: str) -> None:
    engine = create_db_engine(demo_url, read_only=True)
    for tr in (_whole_hours(3), time_range(days=2.6)):  # whole hours only; and raw edges too
        with engine.connect() as conn:
            raw = _durations(conn, kind, tr)
            d = latency_distribution(conn, tr, kind=kind)
        assert raw and d.percentiles.approximate and d.percentiles.error == APPROXIMATION
        expected = Counter(latency_bucket(v) for _, v in raw)
        got = {round(math.log2(lo) * BUCKETS_PER_OCTAVE): int(n) for lo, n in zip(d.lower_ms, d.counts, strict=True)}
        assert got == dict(expected) and d.total == len(raw)
        assert np.allclose(d.upper_ms / d.lower_ms, 2 ** (1 / BUCKETS_PER_OCTAVE))
        values = [v for _, v in raw]
        for f, approx in zip((0.5, 0.95, 0.99), (d.percentiles.p50_ms, d.percentiles.p95_ms, d.percentiles.p99_ms),
                             strict=True):
            exact = _nearest_rank(values, f)
            assert abs(approx - exact) <= APPROXIMATION * exact * 1.0001, (f, approx, exact)
    engine.dispose()


def _check_one_name_and_the_raw_path(demo_url: str) -> None:
    engine = create_db_engine(demo_url, read_only=True)
    tr = time_range(days=3)
    with engine.connect() as conn, engine.connect() as plain:
        plain.execution_options(**{USE_ROLLUPS_OPTION: False})
        names = latency_names(conn, tr, limit=3)
        assert 0 < len(names.agents) <= 3 and names.tools and names.models
        agent = names.agents[0]
        raw = _durations(conn, "agent", tr, agent)
        counts = Counter(latency_bucket(v) for _, v in raw)
        # The busiest first, as counted from the raw rows.
        busiest = Counter(n for n, in plain.execute(select(AgentExecutionMetrics.agent_name).where(
            AgentExecutionMetrics.start_time >= tr.start, AgentExecutionMetrics.start_time < tr.end,
            AgentExecutionMetrics.duration_ms.isnot(None))))
        assert busiest[agent] == max(busiest.values())
        rolled = latency_distribution(conn, tr, kind="agent", name=agent)
        exact = latency_distribution(plain, tr, kind="agent", name=agent)
    engine.dispose()
    assert rolled.total == exact.total == len(raw) > 0
    assert np.array_equal(rolled.counts, exact.counts) and sum(counts.values()) == rolled.total
    assert rolled.percentiles.approximate and not exact.percentiles.approximate and exact.percentiles.error == 0
    if demo_url.startswith("sqlite"):  # PostgreSQL's raw path interpolates (percentile_cont)
        assert exact.percentiles.p95_ms == _nearest_rank([v for _, v in raw], 0.95)


def _check_percentile_series(demo_url: str) -> None:
    engine = create_db_engine(demo_url, read_only=True)
    tr = time_range(days=2.5)
    for kind in ("tool", "agent"):  # all agents: read from the every-execution histogram
        with engine.connect() as conn:
            raw = _durations(conn, kind, tr)
            s = latency_percentile_series(conn, tr, kind=kind)  # type: ignore[arg-type]
        _check_series_values(s, raw)
    engine.dispose()


def _check_series_values(s, raw: list[tuple[datetime, float]]) -> None:
    assert s.approximate and len(s.bucket_starts) == len(s.p95_ms)
    per_hour: dict[int, list[float]] = {}
    for t, v in raw:
        per_hour.setdefault(int(t.timestamp()) // 3600 * 3600, []).append(v)
    for i, start in enumerate(s.bucket_starts.astype(int)):
        values = per_hour.get(int(start))
        if not values:
            assert np.isnan(s.p95_ms[i])
            continue
        for f, series in ((0.5, s.p50_ms), (0.95, s.p95_ms), (0.99, s.p99_ms)):
            exact = _nearest_rank(values, f)
            assert abs(series[i] - exact) <= APPROXIMATION * exact * 1.0001


def test_unknown_kind_is_refused(demo_sqlite: str) -> None:
    engine = create_db_engine(demo_sqlite, read_only=True)
    with engine.connect() as conn, pytest.raises(ValueError, match="unknown latency kind"):
        latency_distribution(conn, time_range(days=1), kind="workflow")  # type: ignore[arg-type]
    engine.dispose()
