"""Nothing is lost when the database is away: every row is present after recovery."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import make_url

from studio_analytics import tracker
from studio_analytics.db import engine as engine_mod
from tests.tracker.conftest import (
    AgentExecutionMetrics,
    SessionMetrics,
    ToolUsageMetrics,
    configure_fast,
    count,
    rows,
)
from tests.tracker.faults import eventually, wait_until
from tests.tracker.tcp_proxy import TcpProxy


def _run_agents(n: int, prefix: str, session: str = "s") -> None:
    for i in range(n):
        with tracker.track_agent_execution(agent_name=f"{prefix}", query=f"q{i}", session_id=session):
            with tracker.track_tool_usage(tool_name="tool"):
                pass


@pytest.fixture
def proxied_pg(pg_empty_url: str) -> Iterator[tuple[str, TcpProxy]]:
    real = make_url(pg_empty_url)
    proxy = TcpProxy(real.port or 5432, real.host or "127.0.0.1")
    proxy.start()
    yield real.set(port=proxy.port).render_as_string(hide_password=False), proxy
    proxy.stop()


@pytest.mark.postgres
def test_postgres_going_away_mid_run(proxied_pg: tuple[str, TcpProxy], spool_file: Path, pg_empty_url: str) -> None:
    url, proxy = proxied_pg
    configure_fast(url, spool_file)
    _run_agents(50, "before")
    assert tracker.flush(10)
    assert tracker.stats().written == 100
    proxy.stop()  # the server vanishes; open connections are cut
    _run_agents(70, "during")
    tracker.flush(3)
    stats = tracker.stats()
    assert stats.spooled >= 140 and stats.spool_pending >= 140
    assert stats.errors >= 1 and "reach" in (stats.last_error or "").lower()
    proxy.start()  # it comes back
    assert tracker.flush(15)
    assert tracker.stats().spool_pending == 0
    tracker.shutdown(5)
    assert count(pg_empty_url, AgentExecutionMetrics) == 120
    assert count(pg_empty_url, ToolUsageMetrics) == 120
    (session,) = rows(pg_empty_url, SessionMetrics)
    assert session["total_queries"] == 120


@pytest.mark.postgres
def test_database_missing_then_created(pg_server_url: str, spool_file: Path) -> None:
    import uuid

    from sqlalchemy import create_engine, text

    name = f"sa_late_{uuid.uuid4().hex[:8]}"
    url = make_url(pg_server_url).set(drivername="postgresql+psycopg", database=name).render_as_string(hide_password=False)
    configure_fast(url, spool_file)
    _run_agents(20, "early")
    tracker.flush(2)
    # the connect to a database that does not exist fails, then the rows go to the spool;
    # on a loaded machine that can take longer than the flush above waited
    wait_until(lambda: tracker.stats().spool_pending == 40, 20, message="the 40 rows to be spooled")
    admin = create_engine(make_url(pg_server_url).set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        assert tracker.flush(15)
        tracker.shutdown(5)
        assert count(url, AgentExecutionMetrics) == 20 and count(url, ToolUsageMetrics) == 20
    finally:
        engine_mod.dispose_engines()
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_locked_sqlite_file(sqlite_db_url: str, spool_file: Path) -> None:
    # The writer waits for the lock half its write deadline at most.
    configure_fast(sqlite_db_url, spool_file, write_timeout_s=0.4)
    _run_agents(5, "warm")
    assert tracker.flush(10)
    holder = sqlite3.connect(make_url(sqlite_db_url).database, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        _run_agents(30, "locked")
        tracker.flush(2)
        assert tracker.stats().spool_pending == 60
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert tracker.flush(15)
    tracker.shutdown(5)
    assert count(sqlite_db_url, AgentExecutionMetrics) == 35
    assert rows(sqlite_db_url, SessionMetrics)[0]["total_queries"] == 35


def test_next_process_replays_the_spool(tmp_path: Path, spool_file: Path) -> None:
    """A process that exits while the database is unusable leaves its rows in the spool;
    the next process to start replays them, exactly once."""
    db = tmp_path / "later.sqlite3"
    db.write_bytes(b"not a database yet" * 100)  # unusable until replaced
    script = textwrap.dedent(f"""
        from studio_analytics import tracker
        tracker.configure(db_url="sqlite:///{db}", spool_path="{spool_file}", flush_interval_s=0.05)
        for i in range(25):
            with tracker.track_agent_execution(agent_name="first", session_id="s"):
                pass
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "kept in the spool" in proc.stderr or "spool" in proc.stderr
    db.unlink()
    configure_fast(f"sqlite:///{db}", spool_file)
    # configure() alone starts the replay: this process has not tracked anything yet
    # (flush() with no writer started would return at once).
    assert tracker.flush(15)
    assert [r["agent_name"] for r in rows(f"sqlite:///{db}", AgentExecutionMetrics)] == ["first"] * 25
    with tracker.track_agent_execution(agent_name="second", session_id="s"):
        pass
    assert tracker.flush(15)
    tracker.shutdown(5)
    names = [r["agent_name"] for r in rows(f"sqlite:///{db}", AgentExecutionMetrics)]
    assert names.count("first") == 25 and names.count("second") == 1
    assert tracker.stats().spool_pending == 0


def test_spool_of_an_earlier_version_is_replayed(tmp_path: Path, spool_file: Path) -> None:
    """Batches spooled by the previous release (rows as JSON objects of column values)
    are still read and written once the database is back."""
    from studio_analytics.tracker.spool import Spool

    db = f"sqlite:///{tmp_path / 'old-spool.sqlite3'}"
    spool = Spool(db, spool_file)
    spool.put({})  # creates the table
    legacy = {
        "execution": [{"execution_id": "0192f000-0000-7000-8000-000000000001", "agent_id": None, "agent_name": "Old",
                       "start_time": "2026-11-20T10:00:00.250000+00:00", "end_time": "2026-11-20T10:00:01+00:00",
                       "duration_ms": 750.0, "status": "success", "query": "q", "response": None,
                       "error_message": None, "tools_called": ["search"], "tool_count": 1, "retry_count": 0,
                       "session_id": "old-s", "user_id": "u", "correlation_id": None, "tokens_used": 3,
                       "api_calls_count": 0}],
        "tool": [{"usage_id": "0192f000-0000-7000-8000-000000000002", "tool_name": "search",
                  "execution_id": "0192f000-0000-7000-8000-000000000001",
                  "start_time": "2026-11-20T10:00:00.500000+00:00", "end_time": "2026-11-20T10:00:00.600000+00:00",
                  "duration_ms": 100.0, "status": "success", "input_data": {"q": "x"}, "output_data": "plain text",
                  "error_message": None, "external_api_called": None, "api_response_time_ms": None,
                  "api_status_code": None, "agent_name": "Old"}],
    }
    spool._conn().execute(
        "INSERT INTO spool_batches (target, created_at, row_count, payload) VALUES (?, 0, 2, ?)",
        (spool.target, json.dumps(legacy)),
    )
    spool.close()
    configure_fast(db, spool_file)
    with tracker.track_agent_execution(agent_name="New"):  # the writer starts with the first row
        pass
    assert tracker.flush(15)
    tracker.shutdown(5)
    execution, _new = sorted(rows(db, AgentExecutionMetrics), key=lambda r: r["agent_name"] != "Old")
    (tool,) = rows(db, ToolUsageMetrics)
    (session,) = rows(db, SessionMetrics)
    assert (execution["agent_name"], execution["tools_called"], execution["start_time"].microsecond) == (
        "Old", ["search"], 250000)
    assert (tool["input_data"], tool["output_data"], tool["execution_id"]) == (
        {"q": "x"}, "plain text", execution["execution_id"])
    assert (session["session_id"], session["total_queries"], session["total_tokens_used"]) == ("old-s", 1, 3)


def test_exit_flush_writes_without_explicit_flush(tmp_path: Path, spool_file: Path) -> None:
    db = tmp_path / "exit.sqlite3"
    script = textwrap.dedent(f"""
        from studio_analytics import tracker
        # exit_timeout_s: time enough on a busy machine to start the writer and create the schema
        tracker.configure(db_url="sqlite:///{db}", spool_path="{spool_file}", flush_interval_s=30,
                          exit_timeout_s=30)
        for i in range(500):
            with tracker.track_agent_execution(agent_name="bye"):
                pass
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert count(f"sqlite:///{db}", AgentExecutionMetrics) == 500


def test_full_queue_drops_newest_and_counts(sqlite_file_url: str, spool_file: Path) -> None:
    configure_fast(sqlite_file_url, spool_file, max_queue=10, flush_interval_s=60, batch_size=1000)
    for _ in range(25):
        with tracker.track_agent_execution(agent_name="burst"):
            pass
    s = tracker.stats()
    assert s.enqueued == 10 and s.dropped == 15
    assert tracker.flush(10)
    tracker.shutdown(5)
    assert count(sqlite_file_url, AgentExecutionMetrics) == 10


def test_tracker_errors_never_reach_the_agent(tmp_path: Path, spool_file: Path) -> None:
    (tmp_path / "foreign.sqlite3").write_bytes(b"")
    with sqlite3.connect(tmp_path / "foreign.sqlite3") as c:
        c.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY)")
    configure_fast(f"sqlite:///{tmp_path / 'foreign.sqlite3'}", spool_file)
    with tracker.track_agent_execution(agent_name="A") as run:
        run.record_tokens("not a number")  # type: ignore[arg-type]

    def settled() -> bool:
        tracker.flush(2)
        s = tracker.stats()
        return s.errors >= 1 and s.spool_pending == 1

    assert eventually(settled, 30, interval=0.05), tracker.stats()
    tracker.shutdown(2)
