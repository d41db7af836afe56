"""One refresh, one read: every figure of a snapshot agrees while trackers write."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert

from studio_analytics import tracker
from studio_analytics.analytics import time_range
from studio_analytics.analytics.snapshot import read_dashboard
from studio_analytics.db.engine import create_db_engine, read_transaction
from studio_analytics.db.models import AgentExecutionMetrics

EXECUTIONS = AgentExecutionMetrics.__tablename__


def _old_rows(url: str, n: int) -> None:
    """Rows before the 7-day range: a whole-table count would include them."""
    engine = create_db_engine(url)
    with engine.begin() as conn:
        conn.execute(insert(AgentExecutionMetrics), [
            dict(execution_id=uuid.uuid4(), agent_name="Old", start_time=datetime.now(UTC) - timedelta(days=8),
                 status="success", tool_count=0, retry_count=0, api_calls_count=0) for _ in range(n)])
    engine.dispose()


@pytest.mark.slow
def test_every_figure_of_a_snapshot_comes_from_one_read(db_url: str) -> None:
    _old_rows(db_url, 7)
    tracker.configure(db_url=db_url, flush_interval_s=0.01, batch_size=20)
    stop = threading.Event()

    def write() -> None:
        i = 0
        while not stop.is_set():
            with tracker.track_agent_execution(agent_name=f"Agent{i % 3}"):
                pass
            i += 1

    writer = threading.Thread(target=write, name="test-writer")
    writer.start()
    engine = create_db_engine(db_url, read_only=True)
    seen: set[int] = set()
    try:
        for generation in range(40):
            with engine.connect() as conn, read_transaction(conn):
                health, snap = read_dashboard(conn, db_url, time_range(preset="7d"), generation=generation)
            assert health.ok and snap is not None
            total = snap.kpis.total_executions
            assert int(snap.series.executions.sum()) == total
            assert snap.agents.total_executions == total == sum(r.executions for r in snap.agents.rows)
            assert health.row_counts[EXECUTIONS] == total  # the status bar's figure: the range's
            assert snap.health is health
            seen.add(total)
            if len(seen) >= 4 and generation >= 10:
                break
    finally:
        stop.set()
        writer.join(10)
        tracker.shutdown(10)
        engine.dispose()
    assert len(seen) >= 2, "the writer never committed while refreshes ran"


def test_read_transaction_holds_one_snapshot(db_url: str) -> None:
    """A commit by another connection in the middle of the read is not seen by it."""
    now = datetime.now(UTC)
    tr = time_range(start_date=now - timedelta(days=7), end_date=now + timedelta(seconds=1))
    # The row lands in the range's raw edge hour (a plain insert updates no rollups).
    reader = create_db_engine(db_url, read_only=True)
    writer = create_db_engine(db_url)
    row = dict(agent_name="A", start_time=now, status="success", tool_count=0, retry_count=0,
               api_calls_count=0)
    try:
        with reader.connect() as conn, read_transaction(conn):
            before, _ = read_dashboard(conn, db_url, tr, generation=1)
            with writer.begin() as w:
                w.execute(insert(AgentExecutionMetrics), [dict(row, execution_id=uuid.uuid4())])
            after, _ = read_dashboard(conn, db_url, tr, generation=2)
        assert after.row_counts[EXECUTIONS] == before.row_counts[EXECUTIONS] == 0
        with reader.connect() as conn, read_transaction(conn):
            fresh, _ = read_dashboard(conn, db_url, tr, generation=3)
        assert fresh.row_counts[EXECUTIONS] == 1
    finally:
        reader.dispose()
        writer.dispose()
