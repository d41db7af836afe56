"""Several processes writing the same database: no failure, no lost row, and session
aggregates that equal what the rows say."""

from __future__ import annotations

import multiprocessing as mp
import os
from pathlib import Path

import pytest
from sqlalchemy import select

from studio_analytics import tracker
from studio_analytics.db.engine import create_db_engine
from studio_analytics.db.rollup_models import (
    AgentHourlyRollup,
    AgentLatencyRollup,
    ToolAgentHourlyRollup,
)
from studio_analytics.db.rollups import rebuild_rollups, rollup_drift
from tests.tracker.conftest import AgentExecutionMetrics, ToolUsageMetrics, count, raw

PROCESSES = 4
EXECUTIONS = 2_000
SESSIONS = 7


def _worker(url: str, spool: str, seed: int) -> None:
    tracker.configure(db_url=url, spool_path=spool, flush_interval_s=0.05, batch_size=500)
    for i in range(EXECUTIONS):
        session = f"shared-{(seed + i) % SESSIONS}"
        fail = (seed * 31 + i) % 9 == 0
        try:
            with tracker.track_agent_execution(agent_name=f"agent-{i % 3}", session_id=session) as run:
                run.record_tokens(i % 50)
                if i % 4 == 0:
                    with tracker.track_tool_usage(tool_name="t"):
                        pass
                if fail:
                    raise RuntimeError("boom")
        except RuntimeError:
            pass
    assert tracker.flush(60)
    stats = tracker.stats()
    tracker.shutdown(10)
    if stats.dropped or stats.queued:
        os._exit(3)


def _check(url: str) -> None:
    assert count(url, AgentExecutionMetrics) == PROCESSES * EXECUTIONS
    assert count(url, ToolUsageMetrics) == PROCESSES * EXECUTIONS // 4
    expected = {
        sid: (n, ok, failed, agents, tokens)
        for sid, n, ok, failed, agents, tokens in raw(url, """
            SELECT session_id, count(*), sum(CASE WHEN status = 'success' THEN 1 ELSE 0 END),
                   sum(CASE WHEN status <> 'success' THEN 1 ELSE 0 END),
                   count(DISTINCT agent_name), sum(tokens_used)
            FROM agent_execution_metrics GROUP BY session_id""")
    }
    stored = {
        sid: (n, ok, failed, agents, tokens)
        for sid, n, ok, failed, agents, tokens in raw(url, """
            SELECT session_id, total_queries, successful_queries, failed_queries,
                   unique_agents_count, total_tokens_used FROM session_metrics""")
    }
    assert len(stored) == SESSIONS
    assert stored == expected
    assert sum(v[0] for v in stored.values()) == PROCESSES * EXECUTIONS
    # Concurrent writers kept the hourly rollups in step with the rows, and equal to a rebuild.
    engine = create_db_engine(url)
    with engine.begin() as conn:
        assert set(rollup_drift(conn).values()) == {0}
        before = {m.__tablename__: conn.execute(select(m).order_by(*m.__table__.primary_key.columns)).all()
                  for m in (AgentHourlyRollup, AgentLatencyRollup, ToolAgentHourlyRollup)}
        rebuild_rollups(conn)
        after = {m.__tablename__: conn.execute(select(m).order_by(*m.__table__.primary_key.columns)).all()
                 for m in (AgentHourlyRollup, AgentLatencyRollup, ToolAgentHourlyRollup)}
    engine.dispose()
    for table, rows in before.items():
        assert [tuple(round(v, 6) if isinstance(v, float) else v for v in r) for r in rows] == \
               [tuple(round(v, 6) if isinstance(v, float) else v for v in r) for r in after[table]], table


def _run(url: str, spool: Path) -> None:
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_worker, args=(url, str(spool), seed)) for seed in range(PROCESSES)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(180)
    assert [p.exitcode for p in procs] == [0] * PROCESSES
    _check(url)


@pytest.mark.slow
def test_processes_share_a_sqlite_file(sqlite_db_url: str, spool_file: Path) -> None:
    _run(sqlite_db_url, spool_file)


@pytest.mark.slow
@pytest.mark.postgres
def test_processes_share_a_postgres_database(pg_db_url: str, spool_file: Path) -> None:
    _run(pg_db_url, spool_file)


def test_fork_restarts_the_writer(sqlite_db_url: str, spool_file: Path) -> None:
    tracker.configure(db_url=sqlite_db_url, spool_path=str(spool_file), flush_interval_s=0.05)
    with tracker.track_agent_execution(agent_name="parent-before"):
        pass
    pid = os.fork()
    if pid == 0:  # child: its own writer, none of the parent's queue
        code = 1
        try:
            with tracker.track_agent_execution(agent_name="child"):
                pass
            code = 0 if tracker.flush(20) else 2
        finally:
            os._exit(code)
    with tracker.track_agent_execution(agent_name="parent-after"):
        pass
    assert tracker.flush(20)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    tracker.shutdown(5)
    names = sorted(r[0] for r in raw(sqlite_db_url, "SELECT agent_name FROM agent_execution_metrics"))
    assert names == ["child", "parent-after", "parent-before"]
