"""usage_heatmap against counts made in plain Python: the rollups path equals the raw
path, zones shift the cells (across a DST change), and the user and agent filters."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import insert

from studio_analytics.analytics import time_range
from studio_analytics.analytics.heatmap import usage_heatmap
from studio_analytics.analytics.snapshot import dashboard_snapshot
from studio_analytics.analytics.users import user_activity
from studio_analytics.db.engine import create_db_engine
from studio_analytics.db.models import AgentExecutionMetrics
from studio_analytics.db.rollups import USE_ROLLUPS_OPTION, rebuild_rollups

# New York leaves daylight saving time on 2026-11-01: the 7-day range spans it.
NOW = datetime(2026, 11, 4, 12, 0, tzinfo=UTC)
QUERY_NOW = NOW - timedelta(minutes=21, seconds=7.5)  # a partial hour at each end
NEW_YORK = ZoneInfo("America/New_York")


@pytest.fixture
def rows_url(db_url: str) -> tuple[str, list[dict]]:
    rng = random.Random(11)
    execs = [dict(
        execution_id=uuid.uuid4(), agent_name=rng.choice(["A", "B"]),
        start_time=NOW - timedelta(seconds=rng.uniform(0, 8 * 86_400)), duration_ms=5.0,
        status=rng.choice(["success", "success", "failure", "timeout", "running"]), tool_count=0, retry_count=0,
        api_calls_count=0, user_id=rng.choice(["u1", "u2", None]),
    ) for _ in range(600)]
    engine = create_db_engine(db_url)
    with engine.begin() as conn:
        conn.execute(insert(AgentExecutionMetrics), execs)
        rebuild_rollups(conn)
    engine.dispose()
    return db_url, execs


def _grids(execs: list[dict], start: datetime, end: datetime, tz: object) -> tuple[list, list]:
    executions = [[0] * 24 for _ in range(7)]
    failures = [[0] * 24 for _ in range(7)]
    for r in execs:
        if start <= r["start_time"] < end:
            local = r["start_time"].astimezone(tz)
            executions[local.weekday()][local.hour] += 1
            failures[local.weekday()][local.hour] += r["status"] in ("failure", "timeout")
    return executions, failures


def _as_lists(grid: tuple[tuple[int, ...], ...]) -> list[list[int]]:
    return [list(row) for row in grid]


def test_rollups_equal_raw_rows_python_and_zones(rows_url: tuple[str, list[dict]]) -> None:
    url, execs = rows_url
    tr = time_range(preset="7d", now=QUERY_NOW)
    engine = create_db_engine(url, read_only=True)
    with engine.connect() as conn:
        rolled = usage_heatmap(conn, tr)
        rolled_b = usage_heatmap(conn, tr, agent_name="B")
    with engine.execution_options(**{USE_ROLLUPS_OPTION: False}).connect() as conn:
        raw = usage_heatmap(conn, tr)
        raw_b = usage_heatmap(conn, tr, agent_name="B")
    engine.dispose()
    assert rolled.from_rollups and not raw.from_rollups
    assert (rolled.executions, rolled.failures) == (raw.executions, raw.failures)
    assert (rolled_b.executions, rolled_b.failures) == (raw_b.executions, raw_b.failures)
    executions, failures = _grids(execs, tr.start, tr.end, UTC)
    assert (_as_lists(rolled.executions), _as_lists(rolled.failures)) == (executions, failures)
    assert rolled.zone == "UTC" and rolled.total_executions == sum(map(sum, executions)) > 0
    b_only = [r for r in execs if r["agent_name"] == "B"]
    assert _as_lists(rolled_b.executions) == _grids(b_only, tr.start, tr.end, UTC)[0]
    _zone_shifts_cells_across_daylight_saving(url, execs)


def _zone_shifts_cells_across_daylight_saving(url: str, execs: list[dict]) -> None:
    tr = time_range(preset="7d", now=QUERY_NOW)
    with create_db_engine(url, read_only=True).connect() as conn:
        utc = usage_heatmap(conn, tr)
        ny = usage_heatmap(conn, tr, tz=NEW_YORK)
        mine = usage_heatmap(conn, tr, tz=NEW_YORK, user_id="u1")
    # EDT (UTC-4) before 1 November, EST (UTC-5) after: each row in the hour it had there
    assert (_as_lists(ny.executions), _as_lists(ny.failures)) == _grids(execs, tr.start, tr.end, NEW_YORK)
    assert ny.executions != utc.executions and ny.total_executions == utc.total_executions
    assert ny.zone == "EST"
    assert not mine.from_rollups and mine.user_id == "u1"
    u1 = [r for r in execs if r["user_id"] == "u1"]
    assert (_as_lists(mine.executions), _as_lists(mine.failures)) == _grids(u1, tr.start, tr.end, NEW_YORK)
    # the window's refresh of the Users tab: its table and all users' map, in the window's zone
    with create_db_engine(url, read_only=True).connect() as conn:
        snap = dashboard_snapshot(conn, tr, generation=1, tabs=frozenset({"users"}), heatmap_tz=NEW_YORK)
        assert snap.heatmap == ny and snap.users == user_activity(conn, tr)
        other = dashboard_snapshot(conn, tr, generation=2, tabs=frozenset({"sessions"}))
    assert other.users is None and other.heatmap is None
