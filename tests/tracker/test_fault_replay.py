"""Replaying the spool while the agent keeps working, and rows arriving out of order.

What a user saw: with a 160,000-row backlog in the spool, no live row reached the
database for 12 s (the replay ran to the end before the queue was looked at); and a
session whose enter event had been spooled and whose exit was written live stayed
``is_active = true`` forever (the replayed enter event overwrote the exit).

What must hold: live rows are written *while* a backlog replays (they interleave);
the final state of a session or workflow does not depend on the order its rows and
events reached the database.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import make_url

from studio_analytics import tracker
from studio_analytics.db import engine as engine_mod
from studio_analytics.tracker.spool import Spool
from tests.tracker.conftest import SessionMetrics, WorkflowMetrics, rows
from tests.tracker.faults import (
    assert_no_duplicates,
    configure,
    drain,
    eventually,
    produce,
    row_counts,
    try_scalar,
    unusable_db_url,
    wait_until,
)

BACKLOG_EXECUTIONS = 50_000  # with a tool each: 100,000 rows in the spool


def test_live_rows_interleave_with_a_long_replay(tmp_path: Path, spool_file: Path) -> None:
    """A 100,000-row backlog replays; the agent's new rows appear in the database
    before the backlog is done (some live row present while the spool still holds rows)."""
    url, garbage = unusable_db_url(tmp_path)
    configure(url, spool_file, batch_size=2_000, max_queue=200_000)
    produce(BACKLOG_EXECUTIONS, "backlog")
    assert tracker.flush(60), tracker.stats()
    assert tracker.stats().spool_pending == 2 * BACKLOG_EXECUTIONS, tracker.stats()
    tracker.shutdown(5)
    garbage.unlink()  # the database becomes usable (the tracker creates the file)

    configure(url, spool_file, batch_size=2_000)  # "the next process": the replay starts now
    spool = Spool(url, spool_file)
    seen: dict[str, int] = {}
    # The replay is under way (some backlog rows are in) before the agent's live rows come.
    wait_until(lambda: try_scalar(url, "SELECT count(*) FROM agent_execution_metrics"), 30,
               message="the replay to start")

    def live_row_while_backlog_pending() -> bool:
        produce(5, "live", tools=False)
        live = try_scalar(url, "SELECT count(*) FROM agent_execution_metrics WHERE agent_name = 'live'")
        if live:
            seen["pending"] = spool.pending_rows()
            return True
        return False

    try:
        assert eventually(live_row_while_backlog_pending, 30, interval=0.05), "no live row within 30 s"
        assert seen["pending"] > 0, (
            "the first live row reached the database only after the whole 100,000-row backlog was replayed")
        drain(60)
        assert tracker.stats().spool_pending == 0
        executions, tools = row_counts(url)
        live = int(try_scalar(url, "SELECT count(*) FROM agent_execution_metrics WHERE agent_name = 'live'"))
        assert (executions - live, tools) == (BACKLOG_EXECUTIONS, BACKLOG_EXECUTIONS)
        assert live == tracker.stats().enqueued
        assert_no_duplicates(url)
    finally:
        spool.close()
        tracker.shutdown(5)


def test_session_enter_spooled_exit_written_live(tmp_path: Path, spool_file: Path) -> None:
    """The database is unusable while a session opens and its first execution runs; it
    is back before the session ends. However the spooled enter event and the live exit
    event reach the database, the session ends inactive, with its end time."""
    url, garbage = unusable_db_url(tmp_path)
    # The writer wakes only when asked: the exit event is in the queue when flush() runs.
    configure(url, spool_file, flush_interval_s=30)
    with tracker.track_session(session_id="s-order", user_id="u"):
        produce(1, "first", session="s-order", tools=False)
        tracker.flush(5)
        assert tracker.stats().spool_pending == 2, tracker.stats()  # the enter event and the execution
        garbage.unlink()
        produce(2, "second", session="s-order", tools=False)
    drain(30)
    assert tracker.stats().spool_pending == 0
    tracker.shutdown(5)
    (session,) = rows(url, SessionMetrics)
    assert session["end_time"] is not None
    assert session["is_active"] is False, "the replayed enter event re-opened a session that had ended"
    assert session["total_queries"] == 3


@pytest.mark.parametrize("spooled", ["executions", "workflow"])
def test_workflow_totals_whatever_the_order(tmp_path: Path, spool_file: Path, spooled: str,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """A workflow of three executions (two tools each): either its executions are
    spooled and replayed after the workflow row was written live, or the other way
    round. Both end with agent_count = 2 and total_tool_calls = 6."""
    monkeypatch.setattr(engine_mod, "SQLITE_BUSY_TIMEOUT_MS", 100)
    db = tmp_path / "wf.sqlite3"
    url = f"sqlite:///{db}"
    if spooled == "executions":
        db.write_bytes(b"this is not a database " * 200)  # unusable while the executions finish
    configure(url, spool_file, flush_interval_s=30, write_timeout_s=1.0)
    holder: sqlite3.Connection | None = None
    try:
        with tracker.track_workflow(workflow_type="research", agents_involved=["a", "b"]):
            for agent in ("a", "b", "a"):
                with tracker.track_agent_execution(agent_name=agent):
                    for _ in range(2):
                        with tracker.track_tool_usage(tool_name="t"):
                            pass
            tracker.flush(5)
            if spooled == "executions":
                assert tracker.stats().spool_pending == 9, tracker.stats()
                db.unlink()  # usable again before the workflow row is written
            else:
                assert tracker.stats().written == 9, tracker.stats()
                holder = sqlite3.connect(make_url(url).database, isolation_level=None)
                holder.execute("BEGIN EXCLUSIVE")  # locked while the workflow row is written
        tracker.flush(3)
        if holder is not None:
            wait_until(lambda: tracker.stats().spool_pending >= 1, 10, message="the workflow row to be spooled")
            holder.execute("ROLLBACK")
            holder.close()
            holder = None
        drain(30)
        assert tracker.stats().spool_pending == 0
    finally:
        if holder is not None:
            holder.execute("ROLLBACK")
            holder.close()
        tracker.shutdown(5)
    (workflow,) = rows(url, WorkflowMetrics)
    assert (workflow["agent_count"], workflow["total_tool_calls"]) == (2, 6)
    assert row_counts(url) == (3, 6)


@pytest.mark.parametrize("bad", ["huge-int", "surrogate"])
def test_a_bad_row_in_the_spool_does_not_strand_its_batch(sqlite_db_url: str, spool_file: Path, bad: str) -> None:
    """A spooled batch holding one row the database cannot take (left by an earlier
    version, which did not clean values: an int above 2**63, a lone surrogate) was
    retried by every later process, forever, with its 500 good rows. Replay isolates the
    bad row like a live write does: the good rows go in, the bad one is a dead letter."""
    from tests.tracker.conftest import AgentExecutionMetrics, count

    def execution(i: int, tokens: object = 1, agent: object = "good") -> dict[str, object]:
        return {"execution_id": f"0192f000-0000-7000-8000-{i:012x}", "agent_name": agent,
                "start_time": "2026-11-20T10:00:00+00:00", "end_time": "2026-11-20T10:00:01+00:00",
                "duration_ms": 1000.0, "status": "success", "tools_called": [], "tool_count": 0,
                "retry_count": 0, "session_id": "left-behind", "tokens_used": tokens, "api_calls_count": 0}

    poison = execution(500, tokens=2**70) if bad == "huge-int" else execution(500, agent="bad\ud800")
    spool = Spool(sqlite_db_url, spool_file)
    spool.put({})  # creates the tables
    # Rows as an earlier version spooled them (mappings of column values, not cleaned).
    payload = json.dumps({"execution": [*(execution(i) for i in range(500)), poison]})
    spool._conn().execute("INSERT INTO spool_batches (target, created_at, row_count, payload) VALUES (?, 0, 501, ?)",
                          (spool.target, payload))
    spool.close()
    configure(sqlite_db_url, spool_file)
    drain(30)
    s = tracker.stats()
    assert (s.spool_pending, s.rejected, s.dead_letters) == (0, 1, 1), s
    assert count(sqlite_db_url, AgentExecutionMetrics) == 500
    (session,) = rows(sqlite_db_url, SessionMetrics)
    assert session["total_queries"] == 500
