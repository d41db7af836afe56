"""The writer's hourly rollups equal a rebuild from the raw rows, and never double count."""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Float, func, literal, select, text

from studio_analytics import tracker
from studio_analytics.db.engine import create_db_engine
from studio_analytics.db.migrate import alembic_config
from studio_analytics.db.models import AgentExecutionMetrics, ToolUsageMetrics
from studio_analytics.db.rollup_models import (
    FIGURE_ROLLUP_MODELS,
    MODEL_ROLLUP_MODELS,
    ROLLUP_MODELS,
    AgentHourlyRollup,
    ToolHourlyRollup,
)
from studio_analytics.db.rollups import (
    PERCENTILE_RELATIVE_ERROR,
    bucket_value,
    latency_bucket,
    latency_bucket_sql,
    rebuild_rollups,
    rollup_drift,
)
from studio_analytics.demo.generator import backfill
from studio_analytics.tracker.sink import DatabaseSink


def _snapshot(conn) -> dict[str, list[tuple]]:  # type: ignore[no-untyped-def]
    out = {}
    for model in ROLLUP_MODELS + MODEL_ROLLUP_MODELS + FIGURE_ROLLUP_MODELS:
        table = model.__table__
        rows = conn.execute(select(table).order_by(*table.primary_key.columns)).all()
        out[table.name] = [tuple(r) for r in rows]
    return out


def _same(a: list[tuple], b: list[tuple]) -> bool:
    """Equal rows; float sums (durations, costs) to 1e-9 relative: the writer adds batch
    by batch and a rebuild all at once, so the last bits depend on the order. (Rounding
    both to 6 places instead split 0.0696775 into 0.069677 and 0.069678.)"""
    return len(a) == len(b) and all(
        len(x) == len(y) and all(math.isclose(u, v, rel_tol=1e-9, abs_tol=1e-12)
                                 if isinstance(u, float) and isinstance(v, float) else u == v
                                 for u, v in zip(x, y, strict=True))
        for x, y in zip(a, b, strict=True))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_url(request: pytest.FixtureRequest) -> str:
    return request.getfixturevalue("sqlite_file_url" if request.param == "sqlite" else "pg_empty_url")


def test_writer_rollups_equal_a_rebuild(empty_url: str) -> None:
    result = backfill(empty_url, executions=600, days=3, seed=11)
    assert result.executions >= 600
    engine = create_db_engine(empty_url)
    with engine.begin() as conn:
        kept = _snapshot(conn)
        empty = [m.__tablename__ for m in ROLLUP_MODELS + MODEL_ROLLUP_MODELS + FIGURE_ROLLUP_MODELS
                 if not kept[m.__tablename__]]
        assert not empty, f"every rollup table has rows, the model calls' too: {empty} have none"
        assert rollup_drift(conn) == {"agent_execution_metrics": 0, "tool_usage_metrics": 0, "workflow_metrics": 0,
                                      "model_call_metrics": 0, "rollup_user_hourly": 0}
        rebuild_rollups(conn)
        rebuilt = _snapshot(conn)
    engine.dispose()
    for table, rows in kept.items():
        assert _same(rows, rebuilt[table]), (table, [(x, y) for x, y in zip(rows, rebuilt[table], strict=False) if x != y][:3])


def test_replayed_batches_are_counted_once(empty_url: str, tmp_path: Path) -> None:
    sink = DatabaseSink(empty_url)
    start = datetime(2026, 11, 20, 10, 15, tzinfo=UTC)
    batch = {
        "execution": [dict(
            execution_id=uuid.uuid4(), agent_id=None, agent_name="A", start_time=start + timedelta(minutes=i),
            end_time=start + timedelta(minutes=i, seconds=1), duration_ms=1000.0 + i, status="success",
            query=None, response=None, error_message=None, tools_called=[], tool_count=0, retry_count=0,
            session_id="s1", user_id=None, correlation_id=None, tokens_used=5, api_calls_count=0,
        ) for i in range(10)],
    }
    sink.write(batch)
    sink.write(batch, replay=True)  # a spooled copy of a batch that had in fact committed
    sink.write(batch)  # even a fresh write that meets its own rows is detected and filtered
    sink.close()
    engine = create_db_engine(empty_url)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(AgentExecutionMetrics)).scalar() == 10
        assert conn.execute(select(func.sum(AgentHourlyRollup.executions))).scalar() == 10
        assert conn.execute(select(func.sum(AgentHourlyRollup.tokens))).scalar() == 50
    engine.dispose()


def test_sql_bucket_equals_python_bucket(empty_url: str) -> None:
    values = [0.0, 1e-9, 0.0009765625, 0.001, 0.5, 1.0, 1.09, 2.0, 3.0, 999.9, 1000.0, 123456.789, 1e13, 1e15]
    values += [2 ** (k / 8) * f for k in range(-20, 200, 7) for f in (0.999999, 1.0, 1.000001)]
    engine = create_db_engine(empty_url)
    with engine.connect() as conn:
        for v in values:
            got = conn.execute(select(latency_bucket_sql(conn.dialect.name, literal(v, Float)))).scalar()
            expected = latency_bucket(v)
            # Exactly on a bucket edge, ln(x)/ln(2) may round to the other side of log2(x).
            assert got == expected or (abs(got - expected) == 1 and abs(math.log2(v) * 8 - round(math.log2(v) * 8)) < 1e-9), v
    engine.dispose()


def test_bucket_value_error_bound() -> None:
    for v in (0.01, 0.7, 1.0, 13.3, 250.0, 9_999.0, 123_456.0):
        assert abs(bucket_value(latency_bucket(v)) - v) / v <= PERCENTILE_RELATIVE_ERROR + 1e-12
    assert pytest.approx(0.0443, abs=1e-4) == PERCENTILE_RELATIVE_ERROR


def test_upgrade_from_0001_rolls_up_existing_rows(sqlite_file_url: str) -> None:
    from alembic import command

    engine = create_db_engine(sqlite_file_url)
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "0001")
        conn.execute(text(
            "INSERT INTO tool_usage_metrics (usage_id, tool_name, start_time, duration_ms, status, "
            "external_api_called, api_status_code) VALUES "
            "('a1', 'search', '2026-11-20 10:00:00.000000', 12.5, 'success', 'google', 200), "
            "('a2', 'search', '2026-11-20 10:30:00.000000', 30.0, 'failure', 'google', 500), "
            "('a3', 'search', '2026-11-20 11:10:00.000000', 7.0, 'success', NULL, NULL)"))
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "head")
    with engine.connect() as conn:
        rows = conn.execute(select(ToolHourlyRollup.api, ToolHourlyRollup.calls, ToolHourlyRollup.api_errors)
                            .order_by(ToolHourlyRollup.hour, ToolHourlyRollup.api)).all()
        assert [tuple(r) for r in rows] == [("google", 2, 1), ("", 1, 0)]
        assert rollup_drift(conn)["tool_usage_metrics"] == 0
        assert conn.execute(select(func.count()).select_from(ToolUsageMetrics)).scalar() == 3
    engine.dispose()


def test_tracker_spans_roll_up_live(tracked_db: str) -> None:
    for i in range(30):
        with tracker.track_agent_execution(agent_name="Live", session_id=f"s{i % 3}") as run:
            with tracker.track_tool_usage(tool_name="calc"):
                pass
            run.record_tokens(2)
    assert tracker.flush(10)
    engine = create_db_engine(tracked_db)
    with engine.connect() as conn:
        assert conn.execute(select(func.sum(AgentHourlyRollup.executions))).scalar() == 30
        assert conn.execute(select(func.sum(AgentHourlyRollup.tokens))).scalar() == 60
        assert conn.execute(select(func.sum(ToolHourlyRollup.calls))).scalar() == 30
    engine.dispose()


def test_tracker_brings_an_older_database_of_ours_up_to_date(sqlite_file_url: str, spool_file: Path) -> None:
    from alembic import command

    engine = create_db_engine(sqlite_file_url)
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "0001")
        conn.execute(text("INSERT INTO agent_execution_metrics (execution_id, agent_name, start_time, duration_ms, "
                          "status, tool_count, retry_count, api_calls_count) VALUES "
                          "('e1', 'Old', '2026-11-20 10:00:00.000000', 5.0, 'success', 0, 0, 0)"))
    tracker.configure(db_url=sqlite_file_url, spool_path=str(spool_file), flush_interval_s=0.05)
    with tracker.track_agent_execution(agent_name="New"):
        pass
    assert tracker.flush(10)
    tracker.shutdown(5)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM studio_analytics_alembic_version")).scalar() == "0005"
        names = dict(conn.execute(select(AgentHourlyRollup.agent_name, AgentHourlyRollup.executions)).all())
        assert names == {"Old": 1, "New": 1}
    engine.dispose()
