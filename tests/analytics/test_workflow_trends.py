"""Per workflow type and bucket: runs, average and p95 duration, success rate — against
the same figures computed in Python from the rows the test inserts (SQLite, PostgreSQL;
from the rollups and from raw rows; minute, hour and day buckets)."""

from __future__ import annotations

import math
import random
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import numpy as np
from sqlalchemy import insert

from studio_analytics.analytics import time_range, workflow_performance
from studio_analytics.analytics.timerange import BUCKET_SECONDS, bucket_starts
from studio_analytics.analytics.workflows import WorkflowTrend
from studio_analytics.db.engine import create_db_engine
from studio_analytics.db.models import (
    FAILURE_VALUES,
    SUCCESS_VALUES,
    TIMEOUT_VALUES,
    WorkflowMetrics,
)
from studio_analytics.db.rollups import (
    PERCENTILE_RELATIVE_ERROR,
    USE_ROLLUPS_OPTION,
    rebuild_rollups,
)

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
QUERY_NOW = NOW - timedelta(minutes=17, seconds=3.25)  # mid-hour: partial hours come from raw rows
#: the p95 query keys on type + separator + bucket: a "|" or an accent must not split a series
TYPES = ("research", "support|triage", "planificación")
STATUSES = ["success"] * 6 + ["failure", "timeout", "running"]


def _rows() -> list[dict]:
    rng = random.Random(16)
    rows = []
    for i in range(320):
        # most in the last 2.5 days (hour buckets with several runs), the rest over 20 days
        back = rng.uniform(0, 2.5 * 86_400) if i < 220 else rng.uniform(0, 20 * 86_400)
        status = rng.choice(STATUSES)
        rows.append(dict(
            workflow_id=uuid.uuid4(), workflow_type=rng.choice(TYPES), start_time=NOW - timedelta(seconds=back),
            duration_ms=None if status == "running" else round(rng.lognormvariate(9, 0.8), 3), status=status,
            agent_count=rng.randint(1, 4), total_tool_calls=rng.randint(0, 5), total_api_calls=rng.randint(0, 5),
            total_tokens_used=rng.randint(0, 900),
            user_satisfaction_score=None if i % 3 == 0 else round(rng.uniform(1, 5), 1),
            task_completion_rate=None if i % 4 == 0 else round(rng.uniform(0, 1), 2),
        ))
    return rows


def _expected(rows: list[dict], tr, name: str) -> dict[str, np.ndarray]:
    size = BUCKET_SECONDS[tr.bucket]
    starts = bucket_starts(tr)
    index = {b: i for i, b in enumerate(starts)}
    durations: dict[int, list[float]] = defaultdict(list)
    runs = np.zeros(len(starts), dtype=np.int64)
    ok = np.zeros(len(starts))
    finished = np.zeros(len(starts))
    for r in rows:
        if r["workflow_type"] != name or not tr.start <= r["start_time"] < tr.end:
            continue
        i = index[int(r["start_time"].timestamp()) // size * size]
        runs[i] += 1
        ok[i] += r["status"] in SUCCESS_VALUES
        finished[i] += r["status"] in SUCCESS_VALUES + FAILURE_VALUES + TIMEOUT_VALUES
        if r["duration_ms"] is not None:
            durations[i].append(r["duration_ms"])
    avg = np.full(len(starts), np.nan)
    nearest_rank = np.full(len(starts), np.nan)
    interpolated = np.full(len(starts), np.nan)
    for i, values in durations.items():
        values.sort()
        avg[i] = sum(values) / len(values)
        nearest_rank[i] = values[math.ceil(0.95 * len(values)) - 1]
        interpolated[i] = np.percentile(values, 95)
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(finished > 0, ok / finished, np.nan)
    return {"runs": runs, "avg": avg, "rank": nearest_rank, "interp": interpolated, "rate": rate,
            "x": np.asarray(starts, dtype=float)}


def test_workflow_trends_equal_python(db_url: str) -> None:
    rows = _rows()
    engine = create_db_engine(db_url)
    with engine.connect() as conn:
        empty = workflow_performance(conn, time_range(days=2, now=QUERY_NOW))
        assert empty.rows == () and empty.trends == {}
    with engine.begin() as conn:
        conn.execute(insert(WorkflowMetrics), rows)
        rebuild_rollups(conn)
    checked_buckets = 0
    # execution_options() changes a connection in place: raw reads get their own.
    with engine.connect() as conn, engine.connect() as plain:
        raw = plain.execution_options(**{USE_ROLLUPS_OPTION: False})
        for days in (0.1, 2.3, 19.5):  # minute, hour and day buckets
            tr = time_range(days=days, now=QUERY_NOW)
            for rolled in (True, False):
                reader = conn if rolled else raw
                perf = workflow_performance(reader, tr, sort="workflow_type", descending=False)
                uses_rollups = rolled and tr.bucket != "minute"
                for row in perf.rows:
                    if not rolled or days > 1:  # p95 from raw rows is exact; whole days of histograms are not
                        assert row.approximate is rolled, (days, rolled)
                    trend = perf.trends[row.workflow_type]
                    assert isinstance(trend, WorkflowTrend)
                    want = _expected(rows, tr, row.workflow_type)
                    assert np.array_equal(trend.bucket_starts, want["x"])
                    assert np.array_equal(trend.runs, want["runs"]) and trend.runs.sum() == row.runs
                    np.testing.assert_allclose(trend.avg_duration_ms, want["avg"], rtol=1e-9)
                    np.testing.assert_allclose(trend.success_rate, want["rate"], rtol=1e-12)
                    assert np.array_equal(np.isnan(trend.p95_duration_ms), np.isnan(want["rank"]))
                    if uses_rollups:  # the histogram bucket holding the nearest-rank value
                        np.testing.assert_allclose(trend.p95_duration_ms, want["rank"],
                                                   rtol=PERCENTILE_RELATIVE_ERROR * 1.0001)
                    elif conn.dialect.name == "postgresql":  # percentile_cont
                        np.testing.assert_allclose(trend.p95_duration_ms, want["interp"], rtol=1e-9)
                    else:
                        np.testing.assert_allclose(trend.p95_duration_ms, want["rank"], rtol=1e-12)
                    checked_buckets += int((want["runs"] > 0).sum())
                scored = {t: sum(1 for r in rows if r["workflow_type"] == t and tr.start <= r["start_time"] < tr.end
                                 and r["user_satisfaction_score"] is not None) for t in TYPES}
                completed = {t: sum(1 for r in rows if r["workflow_type"] == t and tr.start <= r["start_time"] < tr.end
                                    and r["task_completion_rate"] is not None) for t in TYPES}
                assert {r.workflow_type: r.satisfaction_count for r in perf.rows} == {
                    t: n for t, n in scored.items() if t in perf.trends}
                assert {r.workflow_type: r.completion_count for r in perf.rows} == {
                    t: n for t, n in completed.items() if t in perf.trends}
    engine.dispose()
    assert checked_buckets > 100  # the figures above were compared, not just empty arrays
