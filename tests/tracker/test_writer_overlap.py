"""The SQLite writer prepares its next batch while the child process writes the last one.

What must hold: the writer thread takes and prepares rows while a write is under way (the
two processes work at the same time); the next batch reaches the child only once the last
one's outcome is known and dealt with, so a batch that fails (here: a row the database
refuses, set aside by isolation) is fully written before what was queued after it, and a
session's exit event never lands before its enter event. A child that stops answering
is replaced once the write deadline passes, its batch spooled and nothing lost. A call
to the child while an answer is outstanding never reads that stale answer as its own.

The child is kept busy for real: a trigger makes inserting an execution of the agent
named ``slow`` run a cross join in SQLite (sized here to take about half a second), and
another refuses executions of the agent ``poison``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import make_url

from studio_analytics import tracker
from studio_analytics.db.rows import EXECUTION_COLUMNS
from studio_analytics.tracker.sink_process import ProcessSink
from tests.tracker.conftest import SessionMetrics, rows
from tests.tracker.faults import (
    assert_no_duplicates,
    configure,
    drain,
    produce,
    row_counts,
    scalar,
    wait_until,
)

_BURN_ROWS = 2_500  # the cross join counts (at least) 2,500^2 pairs per slow insert
_SLOW_S = 0.5  # what a slow insert should take: far longer than the writer needs to take rows


def _slow_seconds(path: str) -> float:
    conn = sqlite3.connect(path)
    try:
        started = time.perf_counter()
        conn.execute("SELECT count(*) FROM sa_burn a, sa_burn b").fetchone()
        return time.perf_counter() - started
    finally:
        conn.close()


@pytest.fixture
def guarded_url(sqlite_db_url: str) -> Iterator[str]:
    """A SQLite file whose inserts of ``slow`` executions take about a second and whose
    inserts of ``poison`` executions fail."""
    path = make_url(sqlite_db_url).database
    assert path is not None
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE sa_burn (x INTEGER)")
        conn.executemany("INSERT INTO sa_burn VALUES (?)", [(i,) for i in range(_BURN_ROWS)])
    conn.close()
    # Sized to this machine: the join's time grows with the square of the table.
    more = int(_BURN_ROWS * (min(_SLOW_S / max(_slow_seconds(path), 1e-3), 400.0) ** 0.5 - 1))
    with sqlite3.connect(path) as conn:
        conn.executemany("INSERT INTO sa_burn VALUES (?)", [(i,) for i in range(max(0, more))])
        conn.execute("CREATE TRIGGER sa_slow BEFORE INSERT ON agent_execution_metrics "
                     "WHEN NEW.agent_name = 'slow' BEGIN SELECT count(*) FROM sa_burn a, sa_burn b; END")
        conn.execute("CREATE TRIGGER sa_no_poison BEFORE INSERT ON agent_execution_metrics "
                     "WHEN NEW.agent_name = 'poison' BEGIN SELECT RAISE(ABORT, 'no poison'); END")
    conn.close()
    assert _slow_seconds(path) > _SLOW_S / 3, "the slow insert is too fast to show anything"
    yield sqlite_db_url
    tracker.shutdown(5)


def _wake_writer() -> None:
    """Make the writer take what is queued now (it sleeps for the long flush interval
    the tests set, so what is queued next goes into the next batch)."""
    tracker.flush(0.01)
    wait_until(lambda: tracker.stats().queued == 0, 10, message="the writer to take the queued rows")


def test_the_next_batch_is_prepared_while_the_child_writes(guarded_url: str, tmp_path: Path) -> None:
    configure(guarded_url, tmp_path / "spool.sqlite3", write_timeout_s=30, flush_interval_s=30)
    produce(3, "warm", tools=False)
    assert tracker.flush(30), tracker.stats()

    produce(1, "slow", tools=False)
    _wake_writer()
    made = produce(200, "after")
    # The child is inside the slow insert; the writer takes what came after meanwhile.
    wait_until(lambda: tracker.stats().queued == 0, 10, message="the rows made meanwhile to be taken")
    slow_written = scalar(guarded_url, "SELECT count(*) FROM agent_execution_metrics WHERE agent_name = 'slow'")
    assert slow_written == 0, "the writer took the next rows only after the slow batch was written"

    assert tracker.flush(60), tracker.stats()
    s = tracker.stats()
    assert (s.written, s.spooled, s.dropped, s.rejected) == (3 + 1 + made, 0, 0, 0), s
    assert int(scalar(guarded_url, "SELECT count(*) FROM tool_usage_metrics")) == made // 2
    assert_no_duplicates(guarded_url)


def test_what_follows_a_failed_batch_waits_for_its_outcome(guarded_url: str, tmp_path: Path) -> None:
    """Batch 1 opens a session, runs a slow execution and one the database refuses: its
    write fails after about a second and it is written again row by row, the refused row
    set aside. The session's exit event, queued while batch 1 was being written, must
    reach the database after batch 1's enter event: the session ends inactive."""
    configure(guarded_url, tmp_path / "spool.sqlite3", write_timeout_s=30, flush_interval_s=30)
    produce(3, "warm", tools=False)
    assert tracker.flush(30), tracker.stats()

    with tracker.track_session(session_id="s-overlap", user_id="u"):
        produce(1, "slow", session="s-overlap", tools=False)
        produce(1, "poison", session="s-overlap", tools=False)
        _wake_writer()  # batch 1: the enter event, slow, poison
        produce(1, "after", session="s-overlap", tools=False)
    # the exit event and the last execution are queued while batch 1 is being written
    assert scalar(guarded_url, "SELECT count(*) FROM agent_execution_metrics WHERE agent_name = 'slow'") == 0

    drain(60)
    s = tracker.stats()
    assert (s.rejected, s.dropped) == (1, 0), s
    (session,) = rows(guarded_url, SessionMetrics)
    assert session["is_active"] is False, "the exit event was applied before the session's enter event"
    assert session["end_time"] is not None
    assert session["total_queries"] == 2  # slow and after; poison was set aside


def test_a_call_while_an_answer_is_outstanding_gets_its_own_answer(sqlite_db_url: str) -> None:
    """A batch sent and never collected: the next write must not read that batch's
    answer as its own (the child is replaced), and it is written."""
    sink = ProcessSink(sqlite_db_url, timeout_s=30)
    try:
        assert sink.write({}) == 0  # the child is up, the schema checked

        def execution(n: int) -> tuple[object, ...]:
            row = dict.fromkeys(EXECUTION_COLUMNS)
            row.update(execution_id=f"{n:032x}", agent_name="a", start_time="2026-01-01 00:00:00.000000",
                       status="success", tool_count=0, retry_count=0, api_calls_count=0)
            return tuple(row[c] for c in EXECUTION_COLUMNS)

        sink.send({"execution": [execution(1), execution(2), execution(3)]})
        assert sink.write({"execution": [execution(4)]}) == 1
        assert sink.answered(0.0)  # nothing outstanding any more
        assert int(scalar(sqlite_db_url, "SELECT count(*) FROM agent_execution_metrics "
                                             f"WHERE execution_id = '{4:032x}'")) == 1
    finally:
        sink.close()


def _sink_children() -> list[int]:
    """Pids of this process's SQLite writer children (from /proc)."""
    found = []
    for task in Path(f"/proc/{os.getpid()}/task").glob("*"):
        with contextlib.suppress(OSError):
            for pid in (task / "children").read_text().split():
                with contextlib.suppress(OSError):
                    if b"studio_analytics.tracker.sink_process" in Path(f"/proc/{pid}/cmdline").read_bytes():
                        found.append(int(pid))
    return found


def test_a_child_that_stops_answering_is_replaced(sqlite_db_url: str, tmp_path: Path) -> None:
    """The child is stopped (SIGSTOP) with a batch in hand and more rows come meanwhile:
    once the write deadline passes it is killed, both batches are spooled, a new child
    writes them; every row once."""
    configure(sqlite_db_url, tmp_path / "spool.sqlite3", write_timeout_s=0.5, flush_interval_s=30)
    produce(3, "warm", tools=False)
    assert tracker.flush(30), tracker.stats()
    (child,) = _sink_children()
    os.kill(child, signal.SIGSTOP)
    try:
        produce(50, "stuck")
        _wake_writer()  # sent to the stopped child
        produce(50, "meanwhile")  # taken while that answer is outstanding
        wait_until(lambda: tracker.stats().spool_pending >= 200, 30,
                   message="the writer to give up on the stopped child and spool both batches")
        assert child not in _sink_children()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, signal.SIGCONT)
    drain(60)
    s = tracker.stats()
    assert (s.dropped, s.rejected) == (0, 0), s
    assert row_counts(sqlite_db_url) == (103, 100)
    assert_no_duplicates(sqlite_db_url)
