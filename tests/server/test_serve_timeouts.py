"""One slow query cannot pile up workers: a request past its deadline is answered 503
with Retry-After and its query cancelled in the database; when every query thread is
taken, more requests are refused at once. The slowness is real: a table locked by
another session."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from sqlalchemy import create_engine, make_url, text

from studio_analytics.db.engine import sqlite_path
from tests.server.conftest import api_client, running_server

API = "/api/analytics"


@contextmanager
def pg_table_locked(url: str) -> Iterator[None]:
    """Another session holds an ACCESS EXCLUSIVE lock on the executions table: every
    read of it waits."""
    engine = create_engine(make_url(url).set(drivername="postgresql+psycopg"))
    conn = engine.connect()
    conn.execute(text("LOCK TABLE agent_execution_metrics IN ACCESS EXCLUSIVE MODE"))
    try:
        yield
    finally:
        conn.rollback()
        conn.close()
        engine.dispose()


def _waiting_reads(url: str) -> int:
    """Our server's statements still running (waiting for the lock) in the database."""
    engine = create_engine(make_url(url).set(drivername="postgresql+psycopg"))
    with engine.connect() as conn:
        n = conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'studio-analytics' "
                              "AND state = 'active' AND datname = current_database()")).scalar()
    engine.dispose()
    return int(n or 0)


def _wait_until(condition, timeout: float, what: str) -> None:  # noqa: ANN001 - a callable
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


@pytest.mark.postgres
def test_slow_query_is_503_and_cancelled(pg_db_url: str) -> None:
    with api_client(pg_db_url, query_timeout_s=1.0, cache_entries=0) as client:
        runner = client.app.state.api.runner
        with pg_table_locked(pg_db_url):
            t0 = time.monotonic()
            reply = client.get(API + "/agents/usage", params={"start_date": "2026-01-01T10:00",
                                                              "end_date": "2026-01-01T10:30"})
            took = time.monotonic() - t0
            assert reply.status_code == 503, reply.text
            assert reply.headers["retry-after"] == "5"
            assert reply.json()["error"].startswith("the query took longer than 1 s and was cancelled")
            assert 0.9 < took < 3.0
            # Cancelled in the database, long before its statement_timeout (6 s) would have.
            _wait_until(lambda: runner.taken == 0 and _waiting_reads(pg_db_url) == 0, 2.0,
                        "the timed-out query still holds a thread or runs in the database")
        after = client.get(API + "/agents/usage", params={"start_date": "2026-01-01T10:00",
                                                          "end_date": "2026-01-01T10:30"})
        assert after.status_code == 200


@pytest.mark.postgres
def test_saturated_pool_refuses_at_once(pg_db_url: str) -> None:
    with running_server(pg_db_url, query_timeout_s=4.0, query_workers=1, query_queue=0, cache_entries=0) as server:
        runner = server.app.state.api.runner
        url = server.base_url + API + "/agents/usage"
        first: list[httpx.Response] = []
        with pg_table_locked(pg_db_url):
            blocked = threading.Thread(target=lambda: first.append(httpx.get(url, timeout=30)))
            blocked.start()
            _wait_until(lambda: runner.taken == 1, 5.0, "the first request never reached the database")
            t0 = time.monotonic()
            refused = httpx.get(url, timeout=30)
            assert time.monotonic() - t0 < 1.0
            assert refused.status_code == 503 and refused.headers["retry-after"] == "1"
            assert "busy" in refused.json()["error"]
            blocked.join(30)
        assert first[0].status_code == 503  # the slow one timed out
        _wait_until(lambda: runner.taken == 0, 5.0, "the pool did not drain")
        assert httpx.get(url, timeout=30).status_code == 200


def test_locked_sqlite_file_is_503_within_the_deadline(sqlite_db_url: str) -> None:
    path = sqlite_path(make_url(sqlite_db_url))
    assert path is not None
    locker = sqlite3.connect(path, isolation_level=None)
    locker.execute("PRAGMA journal_mode=DELETE")  # in WAL mode readers are never blocked
    try:
        with api_client(sqlite_db_url, query_timeout_s=1.0) as client:
            locker.execute("BEGIN EXCLUSIVE")
            t0 = time.monotonic()
            reply = client.get(API + "/summary")
            took = time.monotonic() - t0
            locker.execute("ROLLBACK")
            assert reply.status_code == 503 and reply.headers["retry-after"]
            assert "locked" in reply.json()["error"] or "longer than 1 s" in reply.json()["error"]
            assert took < 1.5
            assert client.get(API + "/summary").status_code == 200
    finally:
        locker.close()
