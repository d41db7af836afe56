"""A prune batch that finds the SQLite write lock held past its busy timeout waits and tries
again (a bounded number of times) instead of failing the prune: another program may hold
the lock for seconds (a long import, a VACUUM)."""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from studio_analytics.db import retention
from studio_analytics.db.engine import create_db_engine
from studio_analytics.db.models import AgentExecutionMetrics
from studio_analytics.db.retention import day_cutoff, prune
from studio_analytics.demo.generator import backfill

END = datetime(2026, 11, 20, 12, tzinfo=UTC)


def _database(tmp_path: Path) -> tuple[str, Path]:
    path = tmp_path / "locked.sqlite3"
    backfill(f"sqlite:///{path}", executions=300, days=4, seed=5, end_ns=int(END.timestamp() * 1e9))
    return f"sqlite:///{path}", path


def _hold_the_lock(path: Path, held: threading.Event, release: threading.Event) -> None:
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("BEGIN IMMEDIATE")
    held.set()
    release.wait(30)
    con.execute("COMMIT")
    con.close()


def test_a_batch_that_finds_the_lock_held_tries_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url, path = _database(tmp_path)
    cutoff = day_cutoff(END) - timedelta(days=1)
    # a 100 ms busy timeout: the other program's lock outlasts it several times over
    engine = create_db_engine(url, statement_timeout_s=0.2)
    held, release = threading.Event(), threading.Event()
    holder = threading.Thread(target=_hold_the_lock, args=(path, held, release))
    holder.start()
    assert held.wait(10)
    # the holder lets go once the prune has been turned away at least once
    original = retention._is_busy

    def busy_then_release(error: OperationalError) -> bool:
        release.set()
        return original(error)

    monkeypatch.setattr(retention, "_is_busy", busy_then_release)
    try:
        report = prune(engine, cutoff=cutoff)
    finally:
        release.set()
        holder.join(10)
    assert sum(t.lock_retries for t in report.tables.values()) >= 1
    with engine.connect() as conn:
        left = conn.execute(select(func.count()).select_from(AgentExecutionMetrics)
                            .where(AgentExecutionMetrics.start_time < cutoff)).scalar()
    engine.dispose()
    assert left == 0 and report.rows > 0


def test_a_lock_held_for_good_ends_the_prune_with_the_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url, path = _database(tmp_path)
    monkeypatch.setattr(retention, "MAX_LOCK_RETRIES", 2)
    monkeypatch.setattr(retention, "PAUSE_MS", 1.0)
    engine = create_db_engine(url, statement_timeout_s=0.2)
    held, release = threading.Event(), threading.Event()
    holder = threading.Thread(target=_hold_the_lock, args=(path, held, release))
    holder.start()
    assert held.wait(10)
    try:
        with pytest.raises(OperationalError, match="locked"):
            prune(engine, cutoff=day_cutoff(END) - timedelta(days=1), pause_ms=1.0)
    finally:
        release.set()
        holder.join(10)
        engine.dispose()
