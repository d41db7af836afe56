"""The storage report against figures computed here from the raw rows themselves (row
counts, oldest and newest rows, rows per UTC day), on both dialects; a prune done with
plain SQL is recognised from the rollups it leaves; a SQLite without dbstat still gets
a report from page counts."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, insert, select, text

from studio_analytics.analytics import storage
from studio_analytics.analytics.storage import GROWTH_DAYS, NO_DBSTAT, read_storage
from studio_analytics.db.base import Base
from studio_analytics.db.engine import create_db_engine, read_transaction
from studio_analytics.db.models import (
    METRICS_TABLES,
    AgentExecutionMetrics,
    ModelCallMetrics,
    SessionMetrics,
    ToolUsageMetrics,
    WorkflowMetrics,
)
from studio_analytics.demo.generator import backfill
from studio_analytics.retention_settings import RetentionSettings
from tests.demo_data import demo_fixtures
from tests.pg_databases import pg_database

RAW = (AgentExecutionMetrics, ToolUsageMetrics, WorkflowMetrics, SessionMetrics, ModelCallMetrics)
PRUNED = (AgentExecutionMetrics, ToolUsageMetrics, WorkflowMetrics, ModelCallMetrics)

demo_sqlite, demo_url = demo_fixtures(executions=600, days=20, seed=18, pg_executions=300)


def _utc(t: datetime) -> datetime:
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def _starts(conn: Any, model: Any) -> list[datetime]:
    return [_utc(t) for (t,) in conn.execute(select(model.start_time)).all()]


def _report(url: str, **kwargs: Any) -> storage.StorageReport:
    engine = create_db_engine(url, read_only=True)
    with engine.connect() as conn, read_transaction(conn):
        return read_storage(conn, **kwargs)


def test_report_equals_figures_from_the_raw_rows(demo_url: str) -> None:
    now = datetime.now(UTC)
    report = _report(demo_url, now=now)
    engine = create_db_engine(demo_url, read_only=True)
    today = datetime(now.year, now.month, now.day, tzinfo=UTC)
    days = [(today - timedelta(days=GROWTH_DAYS - i)).date() for i in range(GROWTH_DAYS)]
    assert [g.day for g in report.growth] == days
    with engine.connect() as conn:
        for model in RAW:
            starts = _starts(conn, model)
            t = report.table(model.__tablename__)
            assert t is not None and t.kind == "raw" and starts
            assert (t.rows, t.rows_estimated) == (len(starts), False)
            assert (t.oldest, t.newest) == (min(starts), max(starts))
            assert t.pruned_before is None
            per_day = Counter(s.date() for s in starts)
            assert [g.rows.get(model.__tablename__, 0) for g in report.growth] == [per_day[d] for d in days]
        indexes = _index_names(conn)
        database_bytes = (conn.execute(text("PRAGMA page_count")).scalar() * conn.execute(
            text("PRAGMA page_size")).scalar() if conn.dialect.name == "sqlite" else
                          conn.execute(text("SELECT pg_database_size(current_database())")).scalar())
    assert report.pruned_before is None and report.pruned_message is None
    for table, names in indexes.items():
        t = report.table(table)
        assert t is not None and sorted(i.name for i in t.indexes) == sorted(names)
        assert t.index_bytes == sum(i.bytes for i in t.indexes) and t.table_bytes and t.table_bytes > 0
    assert all(t.total_bytes and t.total_bytes > 0 for t in report.tables if t.kind == "raw")
    listed = sum(t.total_bytes or 0 for t in report.tables)
    assert report.database_bytes == database_bytes and 0 < listed <= database_bytes
    # every rollup covers what the executions' rollup covers, at least
    agent = report.table("rollup_agent_hourly")
    assert agent is not None and agent.oldest == report.rollup_first_hour
    ex = report.table(AgentExecutionMetrics.__tablename__)
    assert ex is not None and ex.oldest is not None and ex.newest is not None
    assert report.rollup_first_hour == ex.oldest.replace(minute=0, second=0, microsecond=0)
    # bytes per day: rows times each table's bytes per row; the rate over the 14 days
    for g in report.growth:
        expected = sum(n * (report.table(name).bytes_per_row or 0) for name, n in g.rows.items())  # type: ignore[union-attr]
        assert g.bytes_estimate == pytest.approx(expected)
    # The rate runs from the first of the 14 days that has rows (the small demo may leave
    # the first day or two empty, depending on the hour the test runs).
    first = next(i for i, g in enumerate(report.growth) if any(g.rows.values()))
    assert first < 3 and report.rate_days == GROWTH_DAYS - first
    assert report.bytes_per_day is not None and report.bytes_per_day > 0
    assert report.bytes_per_day == pytest.approx(sum(g.bytes_estimate for g in report.growth) / report.rate_days)
    assert report.projected_30d == round(database_bytes + 30 * report.bytes_per_day)
    assert report.projected_90d == round(database_bytes + 90 * report.bytes_per_day)


def _index_names(conn: Any) -> dict[str, list[str]]:
    if conn.dialect.name == "sqlite":
        rows = conn.execute(text("SELECT tbl_name, name FROM sqlite_schema WHERE type = 'index'")).all()
    else:
        rows = conn.execute(text("SELECT tablename, indexname FROM pg_indexes WHERE schemaname = current_schema()"))
    out: dict[str, list[str]] = {}
    for table, name in rows:
        out.setdefault(table, []).append(name)
    return out


@pytest.mark.parametrize("dialect", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_rows_deleted_before_a_cutoff_read_as_pruned(dialect: str, request: pytest.FixtureRequest,
                                                     tmp_path: Any) -> None:
    if dialect == "sqlite":
        _pruned_case(f"sqlite:///{tmp_path / 'pruned.sqlite3'}")
    else:
        with pg_database(request.getfixturevalue("pg_server_url")) as url:
            _pruned_case(url)


def _pruned_case(url: str) -> None:
    now = datetime.now(UTC)
    backfill(url, executions=150, days=12, seed=7)
    before = _report(url, now=now)
    assert before.pruned_before is None
    engine = create_db_engine(url)
    with engine.connect() as conn:  # every table keeps a row: workflows are few (none in some 6-day spans)
        latest = min(max(_starts(conn, m)) for m in PRUNED)
    cutoff = min(datetime(now.year, now.month, now.day, tzinfo=UTC) - timedelta(days=6),
                 datetime(latest.year, latest.month, latest.day, tzinfo=UTC))
    with engine.begin() as conn:  # a prune as plain SQL: raw rows go, the rollups stay
        for model in PRUNED:
            conn.execute(delete(model).where(model.start_time < cutoff))
    with engine.connect() as conn:
        oldest = {m.__tablename__: min(_starts(conn, m)) for m in PRUNED}
    engine.dispose()
    after = _report(url, now=now)
    for name, first in oldest.items():
        t = after.table(name)
        assert t is not None and t.oldest == first >= cutoff and t.pruned_before == first
    assert after.pruned_before == max(oldest.values())
    assert after.pruned_message is not None
    assert after.pruned_message.startswith(f"raw rows pruned before {after.pruned_before:%Y-%m-%d} (UTC)")
    assert "come from the hourly rollups" in after.pruned_message
    # the rollups still hold what was written each day, so the growth per day is unchanged
    executions = AgentExecutionMetrics.__tablename__
    assert [g.rows.get(executions, 0) for g in after.growth] == [g.rows.get(executions, 0) for g in before.growth]
    assert after.rollup_first_hour == before.rollup_first_hour
    ex_before, ex_after = before.table(executions), after.table(executions)
    assert ex_before is not None and ex_after is not None and ex_after.rows < ex_before.rows


def test_sqlite_without_dbstat_says_so_and_still_projects(demo_sqlite: str) -> None:
    settings = RetentionSettings(90 * 86_400, None, None, "/somewhere/retention.toml")
    report = _report(demo_sqlite, dbstat=False, retention=settings)
    assert report.size_note == NO_DBSTAT == "sizes per table unavailable (SQLite without dbstat)"
    assert all(t.table_bytes is None and t.total_bytes is None for t in report.tables)
    with_sizes = _report(demo_sqlite)
    assert [(t.name, t.rows, t.oldest) for t in report.tables] == [(t.name, t.rows, t.oldest)
                                                                   for t in with_sizes.tables]
    # bytes per day from the whole file over every row
    per_row = report.database_bytes / sum(t.rows for t in report.tables)  # type: ignore[operator]
    g = report.growth[-1]
    assert g.bytes_estimate == pytest.approx(per_row * sum(g.rows.values()))
    assert report.projected_90d is not None and report.retention is settings


@pytest.mark.postgres
def test_large_postgres_tables_are_estimated(pg_server_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with pg_database(pg_server_url) as url:
        backfill(url, executions=120, days=3, seed=3)
        engine = create_db_engine(url)
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))
            n = conn.execute(select(AgentExecutionMetrics.id)).all()
        engine.dispose()
        monkeypatch.setattr(storage, "EXACT_COUNT_LIMIT", 50)  # "large" at 50 rows, not 100,000
        report = _report(url)
        t = report.table(AgentExecutionMetrics.__tablename__)
        assert t is not None and t.rows_estimated and t.rows == pytest.approx(len(n), rel=0.1)
        small = report.table(WorkflowMetrics.__tablename__)
        assert small is not None and not small.rows_estimated


def test_a_database_without_rollups_counts_growth_from_raw_rows(tmp_path: Any) -> None:
    """An Agent Studio database: the four tables, no rollups, no model calls."""
    url = f"sqlite:///{tmp_path / 'agent-studio.sqlite3'}"
    engine = create_db_engine(url)
    Base.metadata.create_all(engine, tables=[Base.metadata.tables[t] for t in METRICS_TABLES])
    now = datetime.now(UTC)
    yesterday = datetime(now.year, now.month, now.day, 10, tzinfo=UTC) - timedelta(days=1)
    with engine.begin() as conn:
        conn.execute(insert(AgentExecutionMetrics), [
            dict(execution_id=uuid.uuid4(), agent_name="A", start_time=yesterday - timedelta(days=i % 3),
                 status="success", tool_count=0, retry_count=0, api_calls_count=0) for i in range(9)])
    engine.dispose()
    report = _report(url, now=now)
    assert not report.growth_from_rollups and report.rollup_first_hour is None and report.pruned_before is None
    assert {t.kind for t in report.tables} == {"raw"} and report.table(ModelCallMetrics.__tablename__) is None
    assert [g.executions for g in report.growth[-3:]] == [3, 3, 3] and report.rate_days == 3
    assert report.bytes_per_day is not None and report.bytes_per_day > 0
