"""The four tables round-trip every column type on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import insert, select

from studio_analytics.db.engine import create_db_engine
from studio_analytics.db.migrate import schema_state
from studio_analytics.db.models import (
    AgentExecutionMetrics,
    Base,
    SessionMetrics,
    ToolUsageMetrics,
    WorkflowMetrics,
)
from studio_analytics.db.schema_state import VERSION_TABLE, SchemaKind

T0 = datetime(2026, 11, 20, 9, 30, 15, 123456, tzinfo=UTC)


def test_round_trip_all_tables(db_url: str) -> None:
    engine = create_db_engine(db_url)
    exec_id, usage_id, wf_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    # A non-UTC offset on input must come back as the same instant in UTC.
    start_plus2 = T0.astimezone(timezone(timedelta(hours=2)))
    with engine.begin() as conn:
        conn.execute(
            insert(AgentExecutionMetrics),
            [
                dict(
                    execution_id=exec_id, agent_id="a-1", agent_name="CommandAgent",
                    start_time=start_plus2, end_time=T0 + timedelta(milliseconds=1500),
                    duration_ms=1500.25, status="success", query="weather?", response="sunny",
                    tools_called=["web_search", "calc"], tool_count=2, retry_count=1,
                    session_id="s1", user_id="u1", correlation_id=str(wf_id),
                    tokens_used=321, api_calls_count=2,
                )
            ],
        )
        conn.execute(
            insert(ToolUsageMetrics),
            [
                dict(
                    usage_id=usage_id, tool_name="web_search", execution_id=exec_id,
                    start_time=T0, duration_ms=0.4, status="failure",
                    input_data={"q": "ünïcode ☂", "n": [1, 2.5, None]}, output_data=None,
                    error_message="HTTPError: 429", external_api_called="google",
                    api_response_time_ms=12.5, api_status_code=429,
                )
            ],
        )
        conn.execute(
            insert(WorkflowMetrics),
            [
                dict(
                    workflow_id=wf_id, workflow_type="multi_agent", start_time=T0,
                    status="success", agents_involved=["WebAgent", "DataAgent"], agent_count=2,
                    total_tool_calls=3, total_api_calls=4, total_tokens_used=500,
                    user_satisfaction_score=4.5, task_completion_rate=0.9,
                )
            ],
        )
        conn.execute(
            insert(SessionMetrics),
            [dict(session_id="s1", start_time=T0, user_id="u1", agents_used=["CommandAgent"],
                  total_queries=1, successful_queries=1, unique_agents_count=1, is_active=True)],
        )
    with engine.connect() as conn:
        row = conn.execute(select(AgentExecutionMetrics)).mappings().one()
        assert row["execution_id"] == exec_id
        assert row["start_time"] == T0 and row["start_time"].tzinfo is not None
        assert row["start_time"].utcoffset() == timedelta(0)
        assert row["tools_called"] == ["web_search", "calc"]
        assert row["duration_ms"] == pytest.approx(1500.25)
        tool = conn.execute(select(ToolUsageMetrics)).mappings().one()
        assert tool["execution_id"] == exec_id and tool["usage_id"] == usage_id
        assert tool["input_data"] == {"q": "ünïcode ☂", "n": [1, 2.5, None]}
        assert tool["output_data"] is None
        wf = conn.execute(select(WorkflowMetrics)).mappings().one()
        assert wf["agents_involved"] == ["WebAgent", "DataAgent"]
        sess = conn.execute(select(SessionMetrics)).mappings().one()
        assert sess["is_active"] is True and sess["agents_used"] == ["CommandAgent"]
        # Range filters compare instants, whatever the input's offset.
        n = conn.execute(
            select(AgentExecutionMetrics.id).where(AgentExecutionMetrics.start_time >= start_plus2)
        ).all()
        assert len(n) == 1
    engine.dispose()


def test_migrations_match_models(db_url: str) -> None:
    """Alembic's autogenerate finds no difference between the models and the migrations."""
    engine = create_db_engine(db_url)
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE, "compare_type": False})
        diff = [d for d in compare_metadata(ctx, Base.metadata) if not _is_version_table(d)]
        state = schema_state(conn)
    assert diff == []
    assert state.kind is SchemaKind.STUDIO and state.up_to_date
    engine.dispose()


def _is_version_table(d: object) -> bool:
    return isinstance(d, tuple) and len(d) > 1 and getattr(d[1], "name", None) == VERSION_TABLE
