"""An existing Agent Studio PostgreSQL database is recognised and read without changes.

The fixture builds the database the way Agent Studio's own migration does: plain DDL with
UUID/JSONB columns, naive timestamps, integer durations, an extra ``max_retries`` column,
a foreign key to an ``agents`` table, its own ``alembic_version`` table and no indexes.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from studio_analytics.cli import run_cli
from studio_analytics.db.engine import create_db_engine
from studio_analytics.db.errors import DatabaseError
from studio_analytics.db.migrate import schema_state, upgrade_database
from studio_analytics.db.models import (
    AgentExecutionMetrics,
    SessionMetrics,
    Status,
    ToolUsageMetrics,
    normalize_status,
)
from studio_analytics.db.schema_state import SchemaKind, require_metrics_tables

pytestmark = pytest.mark.postgres

AGENT_STUDIO_DDL = """
CREATE TABLE agents (agent_id UUID PRIMARY KEY, name VARCHAR NOT NULL);
CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY);
INSERT INTO alembic_version VALUES ('a1b2c3d4e5f6');
CREATE TABLE agent_execution_metrics (
    id SERIAL PRIMARY KEY,
    execution_id UUID NOT NULL,
    agent_id UUID NOT NULL REFERENCES agents(agent_id),
    agent_name VARCHAR NOT NULL,
    start_time TIMESTAMP NOT NULL,
    end_time TIMESTAMP,
    duration_ms INTEGER,
    status VARCHAR NOT NULL,
    query TEXT, response TEXT, error_message TEXT,
    tools_called JSONB,
    tool_count INTEGER, retry_count INTEGER, max_retries INTEGER,
    session_id VARCHAR, user_id VARCHAR, correlation_id VARCHAR,
    tokens_used INTEGER, api_calls_count INTEGER,
    CONSTRAINT uix_execution_id UNIQUE (execution_id)
);
CREATE TABLE tool_usage_metrics (
    id SERIAL PRIMARY KEY,
    usage_id UUID NOT NULL UNIQUE,
    tool_name VARCHAR NOT NULL,
    execution_id UUID NOT NULL REFERENCES agent_execution_metrics(execution_id),
    start_time TIMESTAMP NOT NULL, end_time TIMESTAMP, duration_ms INTEGER,
    status VARCHAR NOT NULL, input_data JSONB, output_data JSONB, error_message TEXT,
    external_api_called VARCHAR, api_response_time_ms INTEGER, api_status_code INTEGER
);
CREATE TABLE workflow_metrics (
    id SERIAL PRIMARY KEY, workflow_id UUID NOT NULL UNIQUE, workflow_type VARCHAR NOT NULL,
    start_time TIMESTAMP NOT NULL, end_time TIMESTAMP, duration_ms INTEGER, status VARCHAR NOT NULL,
    agents_involved JSONB, agent_count INTEGER, total_tool_calls INTEGER, total_api_calls INTEGER,
    total_tokens_used INTEGER, session_id VARCHAR, user_id VARCHAR,
    user_satisfaction_score FLOAT, task_completion_rate FLOAT
);
CREATE TABLE session_metrics (
    id SERIAL PRIMARY KEY, session_id VARCHAR NOT NULL UNIQUE,
    start_time TIMESTAMP NOT NULL, end_time TIMESTAMP, duration_ms INTEGER,
    user_id VARCHAR, user_agent VARCHAR, ip_address VARCHAR,
    total_queries INTEGER, successful_queries INTEGER, failed_queries INTEGER,
    agents_used JSONB, unique_agents_count INTEGER, average_response_time_ms FLOAT,
    total_tokens_used INTEGER, is_active BOOLEAN
);
"""

AGENT_ID = uuid.UUID("11111111-2222-3333-4444-555555555555")
EXEC_OK = uuid.UUID("aaaaaaaa-0000-0000-0000-000000000001")
EXEC_ERR = uuid.UUID("aaaaaaaa-0000-0000-0000-000000000002")
EXEC_RUN = uuid.UUID("aaaaaaaa-0000-0000-0000-000000000003")

SEED = f"""
INSERT INTO agents VALUES ('{AGENT_ID}', 'CommandAgent');
INSERT INTO agent_execution_metrics (execution_id, agent_id, agent_name, start_time, end_time,
    duration_ms, status, query, tools_called, tool_count, retry_count, max_retries, session_id,
    user_id, tokens_used, api_calls_count) VALUES
  ('{EXEC_OK}', '{AGENT_ID}', 'CommandAgent', '2026-11-20 10:00:00', '2026-11-20 10:00:01.5',
   1500, 'success', 'weather?', '["web_search"]', 1, 0, 3, 'session_123', 'user_456', 120, 1),
  ('{EXEC_ERR}', '{AGENT_ID}', 'CommandAgent', '2026-11-20 11:00:00', '2026-11-20 11:00:02',
   2000, 'error', 'fail?', NULL, 0, 3, 3, 'session_123', 'user_456', NULL, 3),
  ('{EXEC_RUN}', '{AGENT_ID}', 'CommandAgent', '2026-11-20 12:00:00', NULL,
   NULL, 'running', 'still going', NULL, 0, 0, 3, NULL, NULL, NULL, 0);
INSERT INTO tool_usage_metrics (usage_id, tool_name, execution_id, start_time, duration_ms, status,
    input_data, external_api_called, api_response_time_ms, api_status_code) VALUES
  ('bbbbbbbb-0000-0000-0000-000000000001', 'web_search', '{EXEC_OK}', '2026-11-20 10:00:00.2',
   800, 'success', '{{"query": "weather forecast"}}', 'google_search', 700, 200);
INSERT INTO session_metrics (session_id, start_time, user_id, total_queries, successful_queries,
    failed_queries, agents_used, unique_agents_count, is_active) VALUES
  ('session_123', '2026-11-20 10:00:00', 'user_456', 2, 1, 1, '["CommandAgent"]', 1, true);
"""


def fingerprint(conn: Connection) -> dict[str, object]:
    """Everything about the database that 'not modified' covers."""
    columns = conn.execute(text(
        "SELECT table_name, column_name, data_type, is_nullable, column_default "
        "FROM information_schema.columns WHERE table_schema = 'public' ORDER BY 1, 2"
    )).all()
    constraints = conn.execute(text(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE connamespace = 'public'::regnamespace ORDER BY 1"
    )).all()
    indexes = conn.execute(text(
        "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1"
    )).all()
    tables = [r[0] for r in conn.execute(text(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
    ))]
    data = {
        t: conn.execute(text(f"SELECT md5(string_agg(x::text, '|' ORDER BY x::text)) FROM {t} x")).scalar()
        for t in tables
    }
    return {"columns": columns, "constraints": constraints, "indexes": indexes, "tables": tables, "data": data}


@pytest.fixture
def agent_studio_url(pg_empty_url: str) -> Iterator[str]:
    engine = create_db_engine(pg_empty_url)
    with engine.begin() as conn:
        conn.exec_driver_sql(AGENT_STUDIO_DDL)
        conn.exec_driver_sql(SEED)
    engine.dispose()
    yield pg_empty_url


def _fingerprint(url: str) -> dict[str, object]:
    engine = create_db_engine(url)
    with engine.connect() as conn:
        fp = fingerprint(conn)
    engine.dispose()
    return fp


def test_recognised_and_read_without_changes(agent_studio_url: str) -> None:
    before = _fingerprint(agent_studio_url)
    engine = create_db_engine(agent_studio_url, read_only=True)
    with engine.connect() as conn, Session(conn) as session:
        state = require_metrics_tables(conn)
        assert state.kind is SchemaKind.AGENT_STUDIO
        assert set(state.missing_indexes) >= {"ix_exec_agent_time", "ix_tool_name_time"}
        rows = session.execute(select(AgentExecutionMetrics).order_by(AgentExecutionMetrics.start_time)).scalars().all()
        assert [r.execution_id for r in rows] == [EXEC_OK, EXEC_ERR, EXEC_RUN]
        ok, err, running = rows
        assert ok.agent_id == str(AGENT_ID)
        assert ok.start_time == datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
        assert ok.duration_ms == 1500 and ok.tools_called == ["web_search"]
        assert [normalize_status(r.status) for r in rows] == [Status.SUCCESS, Status.FAILURE, Status.IN_PROGRESS]
        # Range filters with aware bounds select the naive-UTC rows correctly.
        since = datetime(2026, 11, 20, 10, 30, tzinfo=UTC)
        later = conn.execute(select(AgentExecutionMetrics.execution_id).where(AgentExecutionMetrics.start_time >= since)).scalars().all()
        assert set(later) == {EXEC_ERR, EXEC_RUN}
        tool = session.execute(select(ToolUsageMetrics)).scalars().one()
        assert tool.execution_id == EXEC_OK and tool.input_data == {"query": "weather forecast"}
        sess = session.execute(select(SessionMetrics)).scalars().one()
        assert sess.agents_used == ["CommandAgent"] and sess.is_active is True
        assert running.end_time is None
    engine.dispose()
    assert _fingerprint(agent_studio_url) == before


def test_upgrade_refuses_unless_asked_then_only_adds_indexes(agent_studio_url: str) -> None:
    before = _fingerprint(agent_studio_url)
    engine = create_db_engine(agent_studio_url)
    with pytest.raises(DatabaseError) as info:
        upgrade_database(engine)
    assert "--add-indexes" in info.value.hint
    assert _fingerprint(agent_studio_url) == before
    assert run_cli(["db", "upgrade", "--db", agent_studio_url]) == 1
    assert _fingerprint(agent_studio_url) == before

    assert run_cli(["db", "upgrade", "--db", agent_studio_url, "--add-indexes"]) == 0
    after = _fingerprint(agent_studio_url)
    for key in ("columns", "constraints", "tables", "data"):
        assert after[key] == before[key], key
    added = {name for name, _ in after["indexes"]} - {name for name, _ in before["indexes"]}  # type: ignore[union-attr]
    assert added == {
        "ix_exec_start_time", "ix_exec_agent_time", "ix_exec_status_time", "ix_exec_session_time",
        "ix_exec_user_time", "ix_exec_correlation", "ix_tool_start_time", "ix_tool_execution",
        "ix_tool_name_time", "ix_workflow_start_time", "ix_workflow_type_time",
        "ix_workflow_session", "ix_session_start_time", "ix_session_end_time", "ix_session_user_time",
    }
    with engine.connect() as conn:
        state = schema_state(conn)
    assert state.kind is SchemaKind.AGENT_STUDIO and state.missing_indexes == ()
    engine.dispose()
