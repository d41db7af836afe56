"""The schema changes under a running writer: a database dropped and recreated, a table
dropped, a permission revoked, a constraint that one row breaks.

What a user saw: "relation does not exist" and "permission denied" were taken for bad
rows, so every row of every batch was tried alone and thrown away (rejected=32,309
after a database was recreated); a row the database really rejects was destroyed.

What must hold: a missing database, table or privilege is the *database* being away:
the batch is spooled (rejected stays 0) and replayed once the schema is back. Only a
row that fails alone on a healthy schema is rejected, and it is kept in the spool's
dead-letter table (counted in ``stats().dead_letters``, shown by ``db check``).
"""

from __future__ import annotations

import re
import sqlite3
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import make_url

from studio_analytics import tracker
from studio_analytics.db.engine import create_db_engine, dispose_engines
from studio_analytics.db.migrate import upgrade_database
from studio_analytics.db.models import ToolUsageMetrics
from studio_analytics.tracker.spool import Spool
from tests.tracker.faults import (
    assert_no_duplicates,
    configure,
    drain,
    pg_admin,
    pg_execute,
    produce,
    row_counts,
    scalar,
    stat,
)

_PER_AGENT = {
    "executions": "SELECT agent_name, count(*) FROM agent_execution_metrics GROUP BY agent_name",
    "tools": "SELECT e.agent_name, count(*) FROM tool_usage_metrics t "
             "JOIN agent_execution_metrics e ON e.execution_id = t.execution_id GROUP BY e.agent_name",
}


def _per_agent(url: str, what: str) -> Counter[str]:
    engine = create_db_engine(url)
    try:
        with engine.connect() as conn:
            return Counter({name: n for name, n in conn.exec_driver_sql(_PER_AGENT[what])})
    finally:
        engine.dispose()


# -- (a) the whole database dropped and recreated -------------------------------------
@pytest.mark.postgres
def test_database_dropped_and_recreated_mid_run(pg_empty_url: str, pg_server_url: str, spool_file: Path) -> None:
    """DROP DATABASE ... WITH (FORCE); CREATE DATABASE (same name) while an agent keeps
    producing. Rows written to the old database are gone with it; every row produced
    after the drop, and every row still queued or spooled at the drop, ends up in the
    new one (the writer creates the schema again), and nothing is rejected."""
    name = make_url(pg_empty_url).database
    configure(pg_empty_url, spool_file, write_timeout_s=2.0, batch_size=500)
    produced: Counter[str] = Counter()
    produced["old"] += produce(300, "old") // 2
    assert tracker.flush(15) and tracker.stats().written == 600

    admin = pg_admin(pg_server_url)
    try:
        phase, started = "before-drop", time.perf_counter()
        events = [(1.0, "dropped", f'DROP DATABASE "{name}" WITH (FORCE)'), (2.5, "recreated", f'CREATE DATABASE "{name}"')]
        while (elapsed := time.perf_counter() - started) < 5.0:  # ~5 s of an agent at work
            produced[phase] += produce(100, phase) // 2
            while events and elapsed >= events[0][0]:
                _, phase, sql = events.pop(0)
                with admin.connect() as conn:
                    conn.exec_driver_sql(sql)
            while time.perf_counter() - started < elapsed + 0.05:
                pass  # the agent's own work between runs
    finally:
        admin.dispose()
    assert not events, "the loop ended before the database was recreated"
    drain(30)
    s = tracker.stats()
    assert s.rejected == 0, f"rows of a recreated database were taken for bad rows: {s}"
    assert s.dropped == 0 and s.spool_pending == 0, s

    executions, tools = _per_agent(pg_empty_url, "executions"), _per_agent(pg_empty_url, "tools")
    assert executions["old"] == 0  # went with the old database
    for phase in ("dropped", "recreated"):
        assert executions[phase] == tools[phase] == produced[phase], (phase, executions, produced)
    # Rows produced just before the drop were written to the old database or, if still
    # queued, reach the new one: never more than produced, never twice.
    assert executions["before-drop"] <= produced["before-drop"]
    assert_no_duplicates(pg_empty_url)
    tracker.shutdown(5)


# -- (b) one table dropped under the writer ----------------------------------------
@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def fresh_url(request: pytest.FixtureRequest) -> str:
    return request.getfixturevalue("sqlite_file_url" if request.param == "sqlite" else "pg_empty_url")


def test_table_dropped_under_the_writer(fresh_url: str, spool_file: Path) -> None:
    """``DROP TABLE tool_usage_metrics``: batches are spooled, not rejected; once the
    table exists again (the test creates it, unless the writer already did) they are
    replayed and every row is there once."""
    configure(fresh_url, spool_file, write_timeout_s=2.0)
    produce(100, "before")
    assert tracker.flush(15) and tracker.stats().written == 200
    cascade = "" if fresh_url.startswith("sqlite") else " CASCADE"
    engine = create_db_engine(fresh_url)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"DROP TABLE tool_usage_metrics{cascade}")

    produce(300, "during")
    tracker.flush(5)
    s = tracker.stats()
    assert s.rejected == 0, f"a missing table was taken for bad rows: {s}"
    assert s.dropped == 0 and s.spooled >= 600, s

    ToolUsageMetrics.__table__.create(engine, checkfirst=True)  # the table is back, with its indexes
    engine.dispose()
    drain(30)
    s = tracker.stats()
    assert s.spool_pending == 0 and s.rejected == 0, s
    # The 100 tools written before the drop went with the table.
    assert row_counts(fresh_url) == (400, 300)
    assert_no_duplicates(fresh_url)
    tracker.shutdown(5)


# -- (c) a privilege revoked -------------------------------------------------------
@pytest.fixture
def writer_role(pg_empty_url: str, pg_server_url: str) -> Iterator[tuple[str, str]]:
    """A non-superuser role with the rights the tracker needs on a database whose schema
    postgres created; yields (role name, URL connecting as it)."""
    engine = create_db_engine(pg_empty_url)
    upgrade_database(engine)
    engine.dispose()
    role = f"sa_writer_{uuid.uuid4().hex[:8]}"
    name = make_url(pg_empty_url).database
    pg_execute(pg_server_url, f'CREATE ROLE "{role}" LOGIN', f'GRANT CONNECT ON DATABASE "{name}" TO "{role}"')
    pg_execute(pg_empty_url,
               f'GRANT USAGE ON SCHEMA public TO "{role}"',
               f'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO "{role}"',
               f'GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO "{role}"')
    try:
        yield role, make_url(pg_empty_url).set(username=role).render_as_string(hide_password=False)
    finally:
        tracker.shutdown(5)
        dispose_engines()
        pg_execute(pg_server_url, f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{role}'")
        pg_execute(pg_empty_url, f'DROP OWNED BY "{role}"')
        pg_execute(pg_server_url, f'DROP ROLE IF EXISTS "{role}"')


@pytest.mark.postgres
def test_insert_privilege_revoked(writer_role: tuple[str, str], pg_empty_url: str, spool_file: Path) -> None:
    """``REVOKE INSERT ON tool_usage_metrics``: "permission denied" is the database
    refusing everyone, not a bad row: batches are spooled; after ``GRANT`` they go in."""
    role, url = writer_role
    configure(url, spool_file, write_timeout_s=2.0)
    produce(50, "before")
    assert tracker.flush(15) and tracker.stats().written == 100, tracker.stats()

    pg_execute(pg_empty_url, f'REVOKE INSERT ON tool_usage_metrics FROM "{role}"')
    produce(200, "during")
    tracker.flush(5)
    s = tracker.stats()
    assert s.rejected == 0, f"'permission denied' was taken for bad rows: {s}"
    assert s.dropped == 0 and s.spool_pending == 400, s

    pg_execute(pg_empty_url, f'GRANT INSERT ON tool_usage_metrics TO "{role}"')
    drain(30)
    s = tracker.stats()
    assert s.spool_pending == 0 and s.rejected == 0, s
    assert row_counts(pg_empty_url) == (250, 250)
    assert_no_duplicates(pg_empty_url)


# -- (d) a row the database really rejects: dead letter -----------------------------
@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def poison_guarded_url(request: pytest.FixtureRequest) -> str:
    """A healthy schema that refuses executions of the agent named 'poison'."""
    if request.param == "sqlite":
        url = request.getfixturevalue("sqlite_db_url")
        with sqlite3.connect(make_url(url).database) as conn:
            conn.execute("CREATE TRIGGER sa_no_poison BEFORE INSERT ON agent_execution_metrics "
                         "WHEN NEW.agent_name = 'poison' BEGIN SELECT RAISE(ABORT, 'no poison'); END")
        conn.close()
        return url
    url = request.getfixturevalue("pg_db_url")
    pg_execute(url, "ALTER TABLE agent_execution_metrics ADD CONSTRAINT sa_no_poison CHECK (agent_name <> 'poison')")
    return url


def test_rejected_row_goes_to_the_dead_letter_table(poison_guarded_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    """200 good executions and one the database refuses: the 200 are written, the one
    is counted rejected and kept (not destroyed) in the spool's dead-letter table, and
    ``studio-analytics db check`` says so."""
    url = poison_guarded_url
    configure(url, None)  # the default spool, the one `db check` looks at
    produce(100, "good", tools=False)
    produce(1, "poison", tools=False)
    produce(100, "good", tools=False)
    assert tracker.flush(15), tracker.stats()
    s = tracker.stats()
    assert (s.written, s.rejected, s.dropped) == (200, 1, 0), s
    assert int(scalar(url, "SELECT count(*) FROM agent_execution_metrics WHERE agent_name = 'good'")) == 200
    assert int(scalar(url, "SELECT count(*) FROM agent_execution_metrics")) == 200
    assert stat("dead_letters") == 1, f"the rejected row is not kept as a dead letter: {s}"
    tracker.shutdown(5)

    spool = Spool(url, None)
    try:
        assert spool.dead_letter_count() == 1
        assert spool.pending_rows() == 0  # a dead letter is not replayed again and again
    finally:
        spool.close()

    from studio_analytics.cli import run_cli

    capsys.readouterr()
    run_cli(["db", "check", "--db", url])
    out = capsys.readouterr()
    text = out.out + out.err
    assert "dead-letter" in text, text
    assert re.search(r"dead-letter[^\n]*\b1\b|\b1\b[^\n]*dead-letter", text), text
