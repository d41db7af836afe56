"""user_activity against figures computed in plain Python from the rows inserted, on
SQLite and PostgreSQL, and on a database without model calls (Agent Studio's tables)."""

from __future__ import annotations

import math
import random
import uuid
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import insert

from studio_analytics.analytics import time_range
from studio_analytics.analytics.users import USER_SORTS, user_activity
from studio_analytics.db.base import Base
from studio_analytics.db.engine import create_db_engine
from studio_analytics.db.models import METRICS_TABLES, AgentExecutionMetrics, ModelCallMetrics
from studio_analytics.db.rollups import (
    PERCENTILE_RELATIVE_ERROR,
    USE_ROLLUPS_OPTION,
    rebuild_rollups,
)

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
USERS = ("alice", "bob", "carol", "dave", "erin", None)
STATUSES = ("success", "success", "success", "failure", "error", "timeout", "running")


def _rows(seed: int = 5) -> tuple[list[dict], list[dict]]:
    rng = random.Random(seed)
    execs, calls = [], []
    for i in range(240):
        start = NOW - timedelta(seconds=rng.uniform(0, 9 * 86_400))  # some before the 7-day range
        status = rng.choice(STATUSES)
        user = rng.choice(USERS)
        execs.append(dict(
            execution_id=uuid.uuid4(), agent_name=rng.choice(["A", "B"]), start_time=start,
            duration_ms=None if status == "running" else round(rng.lognormvariate(6, 1), 3), status=status,
            tool_count=0, retry_count=0, api_calls_count=0, tokens_used=rng.choice([None, rng.randint(1, 900)]),
            session_id=rng.choice([None, f"{user}-s{i % 4}"]), user_id=user,
        ))
    for _ in range(150):
        user = rng.choice(("alice", "bob", "carol", "frank", None))  # dave, erin: no calls; frank: calls only
        # carol's calls are all unpriced: she has no cost, not $0
        cost = None if user == "carol" or rng.random() < 0.2 else round(rng.uniform(0.001, 0.05), 6)
        calls.append(dict(
            call_id=uuid.uuid4(), model="m", operation="chat", status="success", user_id=user, cost_usd=cost,
            start_time=NOW - timedelta(seconds=rng.uniform(0, 9 * 86_400)),
        ))
    return execs, calls


@pytest.fixture
def users_data(db_url: str) -> tuple[str, list[dict], list[dict]]:
    execs, calls = _rows()
    engine = create_db_engine(db_url)
    with engine.begin() as conn:
        conn.execute(insert(AgentExecutionMetrics), execs)
        conn.execute(insert(ModelCallMetrics), calls)
        rebuild_rollups(conn)  # inserted past the writer, as a bulk import then `db rebuild-rollups`
    engine.dispose()
    return db_url, execs, calls


def _expected(execs: list[dict], calls: list[dict], start: datetime, end: datetime, dialect: str,
              nearest_rank: bool = False) -> dict:
    out: dict[str, dict] = {}
    for user in {r["user_id"] for r in execs if r["user_id"] is not None}:
        mine = [r for r in execs if r["user_id"] == user and start <= r["start_time"] < end]
        if not mine:
            continue
        failed = sum(r["status"] in ("failure", "error", "timeout") for r in mine)
        finished = sum(r["status"] != "running" for r in mine)
        durations = sorted(r["duration_ms"] for r in mine if r["duration_ms"] is not None)
        if not durations:
            p95 = None
        elif dialect == "postgresql" and not nearest_rank:
            p95 = float(np.percentile(durations, 95))  # percentile_cont: linear
        else:
            p95 = durations[max(0, math.ceil(0.95 * len(durations)) - 1)]  # nearest rank
        paid = [c for c in calls if c["user_id"] == user and start <= c["start_time"] < end]
        priced = [c["cost_usd"] for c in paid if c["cost_usd"] is not None]
        out[user] = dict(
            sessions=len({r["session_id"] for r in mine if r["session_id"] is not None}), executions=len(mine),
            failures=failed, failure_rate=failed / finished if finished else None, p95=p95,
            tokens=sum(r["tokens_used"] or 0 for r in mine), last_seen=max(r["start_time"] for r in mine),
            cost=sum(priced) if priced else None, unpriced=len(paid) - len(priced),
        )
    return out


@pytest.mark.parametrize("mode", ["rollups", "raw"])
def test_user_activity_matches_python(users_data: tuple[str, list[dict], list[dict]], mode: str) -> None:
    """Whole hours from the rollups (p95 from the per-user histograms: the bucket of the
    nearest-rank value, within 4.4 %), or everything from raw rows (p95 exact)."""
    url, execs, calls = users_data
    tr = time_range(preset="7d", now=NOW - timedelta(minutes=13))
    engine = create_db_engine(url, read_only=True)
    if mode == "raw":
        engine = engine.execution_options(**{USE_ROLLUPS_OPTION: False})
    with engine.connect() as conn:
        got = user_activity(conn, tr)
        expected = _expected(execs, calls, tr.start, tr.end, conn.dialect.name, nearest_rank=mode == "rollups")
        assert {r.user_id for r in got.rows} == set(expected)
        assert got.total_rows == len(expected)
        assert got.total_executions == sum(e["executions"] for e in expected.values())
        assert got.no_user_executions == sum(r["user_id"] is None and tr.start <= r["start_time"] < tr.end
                                             for r in execs)
        assert got.has_cost
        for row in got.rows:
            e = expected[row.user_id]
            assert (row.sessions, row.executions, row.failures, row.tokens, row.unpriced_calls) == (
                e["sessions"], e["executions"], e["failures"], e["tokens"], e["unpriced"])
            assert row.failure_rate == pytest.approx(e["failure_rate"])
            assert row.p95_duration_ms == pytest.approx(
                e["p95"], rel=PERCENTILE_RELATIVE_ERROR if mode == "rollups" else 1e-6)
            assert row.last_seen == e["last_seen"]
            assert row.cost_usd == pytest.approx(e["cost"])
        assert next(r for r in got.rows if r.user_id == "carol").cost_usd is None  # all unpriced: unknown
        assert next(r for r in got.rows if r.user_id == "dave").cost_usd is None  # no calls
        # executions order by default; ties by user id
        assert [r.user_id for r in got.rows] == sorted(expected, key=lambda u: (-expected[u]["executions"], u))
        # every sort: the order of the figures, NULLs last, and the limit with the full count
        for i, sort in enumerate(USER_SORTS):
            for descending in (i % 2 == 0, sort == "p95_duration_ms"):  # both ways for the two paths
                page = user_activity(conn, tr, sort=sort, descending=descending, limit=3)
                assert page.total_rows == len(expected) and len(page.rows) == 3
                full = user_activity(conn, tr, sort=sort, descending=descending)
                assert [r.user_id for r in page.rows] == [r.user_id for r in full.rows][:3]
                assert page.rows == full.rows[:3]  # p95 of a page's users equals the full list's
                field = {"p95_duration_ms": "p95_duration_ms"}.get(sort, sort)
                values = [getattr(r, field) for r in full.rows]
                present = [v for v in values if v is not None]
                assert values[:len(present)] == present, "NULLs last"
                assert present == sorted(present, reverse=descending)
        with pytest.raises(ValueError):
            user_activity(conn, tr, sort="drop table")
    engine.dispose()


def test_database_without_model_calls(tmp_path) -> None:
    """Agent Studio's four tables only: users and their figures, cost unknown (None), never $0."""
    url = f"sqlite:///{tmp_path / 'studio.sqlite3'}"
    engine = create_db_engine(url)
    Base.metadata.create_all(engine, tables=[Base.metadata.tables[t] for t in METRICS_TABLES])
    execs, _ = _rows(seed=9)
    with engine.begin() as conn:
        conn.execute(insert(AgentExecutionMetrics), execs)
    engine.dispose()
    tr = time_range(preset="7d", now=NOW)
    with create_db_engine(url, read_only=True).connect() as conn:
        got = user_activity(conn, tr, sort="cost_usd")
        expected = _expected(execs, [], tr.start, tr.end, "sqlite")
    assert not got.has_cost
    assert {r.user_id: r.executions for r in got.rows} == {u: e["executions"] for u, e in expected.items()}
    assert all(r.cost_usd is None and r.unpriced_calls == 0 for r in got.rows)
    # no cost to sort by: the executions order
    assert [r.executions for r in got.rows] == sorted((r.executions for r in got.rows), reverse=True)
    with create_db_engine(url, read_only=True).connect() as conn:
        empty = user_activity(conn, time_range(preset="24h", now=NOW + timedelta(days=30)))
    assert (empty.rows, empty.total_rows, empty.total_executions, empty.no_user_executions) == ((), 0, 0, 0)
