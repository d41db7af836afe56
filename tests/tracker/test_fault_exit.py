"""Processes exiting under load, with an exit flush too short to write everything.

What a user saw: eight agents exiting at once; the batch each writer thread had taken
(up to 2,000 rows) died with the thread, counted nowhere, while the exit log said the
rest was "kept in the spool".

What must hold (unit: database rows; each execution is one execution row plus one tool
row, so each process makes 10,000 rows): each process prints one line
``at exit N rows were written, M kept in the spool PATH, K lost`` (or nothing when all
was written) with N + M + K = 10,000; after a later process replays the spool, the
database holds exactly 80,000 − ΣK rows, none twice.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from studio_analytics import tracker
from tests.tracker.faults import (
    ExitReport,
    assert_no_duplicates,
    configure,
    drain,
    parse_exit_line,
    row_counts,
    script,
    start_script,
)

PROCESSES = 8
EXECUTIONS = 5_000
ROWS_PER_PROCESS = 2 * EXECUTIONS  # an execution row and a tool row each

_AGENT = """
    from studio_analytics import tracker
    tracker.configure(db_url={url}, spool_path={spool}, exit_timeout_s=0.2, flush_interval_s=0.05)
    for i in range({executions}):
        with tracker.track_agent_execution(agent_name={agent}, query="q"):
            with tracker.track_tool_usage(tool_name="t"):
                pass
    # no flush: the exit handler has 0.2 s, far too little for 10,000 rows from 8 processes
"""


def _exit_under_load(url: str, spool: Path) -> None:
    """The schema exists already: eight processes racing to create it is another story."""
    procs = [start_script(script(_AGENT, url=url, spool=str(spool), executions=EXECUTIONS, agent=f"p{n}"))
             for n in range(PROCESSES)]
    outputs = [p.communicate(timeout=120) for p in procs]
    for p, (_out, err) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, err

    reports: list[ExitReport | None] = [parse_exit_line(err) for _out, err in outputs]
    lost = sum(r.lost for r in reports if r is not None)

    # A later process replays what the exiting ones kept in the spool.
    configure(url, spool)
    drain(60)
    assert tracker.stats().spool_pending == 0, tracker.stats()
    tracker.shutdown(5)

    executions, tools = row_counts(url)
    assert_no_duplicates(url)
    vanished = PROCESSES * ROWS_PER_PROCESS - lost - (executions + tools)
    assert vanished == 0, (
        f"{vanished} rows are neither in the database nor counted lost at exit "
        f"(database: {executions} executions + {tools} tools; lost reported: {lost}); stderr of the first process:\n"
        f"{outputs[0][1]}")
    for n, ((_out, err), report) in enumerate(zip(outputs, reports, strict=True)):
        if report is None:
            # Silent exit: only allowed when everything was written.
            assert "studio-analytics" not in err, f"process {n}: unrecognised tracker output at exit:\n{err}"
            continue
        assert report.total == ROWS_PER_PROCESS, f"process {n}: exit line does not add up to 10,000 rows: {report}"


def test_eight_processes_exit_at_once_sqlite(sqlite_db_url: str, spool_file: Path) -> None:
    _exit_under_load(sqlite_db_url, spool_file)


@pytest.mark.postgres
def test_eight_processes_exit_at_once_postgres(pg_db_url: str, spool_file: Path) -> None:
    _exit_under_load(pg_db_url, spool_file)
