"""The four metrics tables, with the column names of the Agent Studio analytics schema.

Types are portable (``Uuid``, JSON/JSONB, UTC timestamps) so one model reads both our
own SQLite/PostgreSQL databases and an existing Agent Studio PostgreSQL database.
Durations are floats here (sub-millisecond tool calls are common); Agent Studio's
integer columns read into the same attributes.

Indexes are the ones the dashboard queries use; the composite ones end in the columns
those queries aggregate (status, duration_ms) so SQLite answers from the index alone.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Boolean, Float, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from studio_analytics.db.base import Base
from studio_analytics.db.types import TextId


class Status(StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"
    TIMEOUT = "timeout"
    IN_PROGRESS = "in_progress"


#: Values written by real Agent Studio databases, and what they mean to us.
STATUS_ALIASES: dict[str, Status] = {
    "success": Status.SUCCESS,
    "completed": Status.SUCCESS,
    "failure": Status.FAILURE,
    "failed": Status.FAILURE,
    "error": Status.FAILURE,
    "timeout": Status.TIMEOUT,
    "in_progress": Status.IN_PROGRESS,
    "running": Status.IN_PROGRESS,
}

#: Raw status strings that count as each normalised status (for SQL ``IN (...)``).
SUCCESS_VALUES: tuple[str, ...] = tuple(k for k, v in STATUS_ALIASES.items() if v is Status.SUCCESS)
FAILURE_VALUES: tuple[str, ...] = tuple(k for k, v in STATUS_ALIASES.items() if v is Status.FAILURE)
TIMEOUT_VALUES: tuple[str, ...] = tuple(k for k, v in STATUS_ALIASES.items() if v is Status.TIMEOUT)
IN_PROGRESS_VALUES: tuple[str, ...] = tuple(
    k for k, v in STATUS_ALIASES.items() if v is Status.IN_PROGRESS
)


def normalize_status(raw: str | None) -> Status:
    """Map a stored status to our vocabulary; unknown values count as failures."""
    if raw is None:
        return Status.IN_PROGRESS
    return STATUS_ALIASES.get(raw.strip().lower(), Status.FAILURE)


class AgentExecutionMetrics(Base):
    __tablename__ = "agent_execution_metrics"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    execution_id: Mapped[uuid.UUID] = mapped_column(unique=True)
    agent_id: Mapped[str | None] = mapped_column(TextId())
    agent_name: Mapped[str] = mapped_column(String(255))
    start_time: Mapped[datetime]
    end_time: Mapped[datetime | None]
    duration_ms: Mapped[float | None] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(32))
    query: Mapped[str | None] = mapped_column(Text)
    response: Mapped[str | None] = mapped_column(Text)
    error_message: Mapped[str | None] = mapped_column(Text)
    tools_called: Mapped[Any | None]
    tool_count: Mapped[int] = mapped_column(default=0)
    retry_count: Mapped[int] = mapped_column(default=0)
    session_id: Mapped[str | None] = mapped_column(String(255))
    user_id: Mapped[str | None] = mapped_column(String(255))
    correlation_id: Mapped[str | None] = mapped_column(String(255))
    tokens_used: Mapped[int | None]
    api_calls_count: Mapped[int] = mapped_column(default=0)

    __table_args__ = (
        Index("ix_exec_start_time", "start_time"),
        Index("ix_exec_agent_time", "agent_name", "start_time", "status", "duration_ms"),
        Index("ix_exec_status_time", "status", "start_time"),
        Index("ix_exec_session_time", "session_id", "start_time"),
        Index("ix_exec_user_time", "user_id", "start_time"),
        Index("ix_exec_correlation", "correlation_id"),
    )


class ToolUsageMetrics(Base):
    __tablename__ = "tool_usage_metrics"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    usage_id: Mapped[uuid.UUID] = mapped_column(unique=True)
    tool_name: Mapped[str] = mapped_column(String(255))
    # No foreign key: tool rows may reach the database before their execution's row
    # (the execution ends later), and Agent Studio's own FK is left as it is.
    execution_id: Mapped[uuid.UUID | None]
    start_time: Mapped[datetime]
    end_time: Mapped[datetime | None]
    duration_ms: Mapped[float | None] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(32))
    input_data: Mapped[Any | None]
    output_data: Mapped[Any | None]
    error_message: Mapped[str | None] = mapped_column(Text)
    external_api_called: Mapped[str | None] = mapped_column(String(255))
    api_response_time_ms: Mapped[float | None] = mapped_column(Float)
    api_status_code: Mapped[int | None]

    __table_args__ = (
        Index("ix_tool_start_time", "start_time"),
        Index("ix_tool_execution", "execution_id", "start_time"),
        Index("ix_tool_name_time", "tool_name", "start_time", "status", "duration_ms"),
    )


class WorkflowMetrics(Base):
    __tablename__ = "workflow_metrics"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    workflow_id: Mapped[uuid.UUID] = mapped_column(unique=True)
    workflow_type: Mapped[str] = mapped_column(String(255))
    start_time: Mapped[datetime]
    end_time: Mapped[datetime | None]
    duration_ms: Mapped[float | None] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(32))
    agents_involved: Mapped[Any | None]
    agent_count: Mapped[int] = mapped_column(default=0)
    total_tool_calls: Mapped[int] = mapped_column(default=0)
    total_api_calls: Mapped[int] = mapped_column(default=0)
    total_tokens_used: Mapped[int | None]
    session_id: Mapped[str | None] = mapped_column(String(255))
    user_id: Mapped[str | None] = mapped_column(String(255))
    user_satisfaction_score: Mapped[float | None] = mapped_column(Float)
    task_completion_rate: Mapped[float | None] = mapped_column(Float)

    __table_args__ = (
        Index("ix_workflow_start_time", "start_time"),
        Index("ix_workflow_type_time", "workflow_type", "start_time", "status", "duration_ms"),
        Index("ix_workflow_session", "session_id"),
    )


class SessionMetrics(Base):
    __tablename__ = "session_metrics"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[str] = mapped_column(String(255), unique=True)
    start_time: Mapped[datetime]
    end_time: Mapped[datetime | None]
    duration_ms: Mapped[float | None] = mapped_column(Float)
    user_id: Mapped[str | None] = mapped_column(String(255))
    user_agent: Mapped[str | None] = mapped_column(String(1024))
    ip_address: Mapped[str | None] = mapped_column(String(64))
    total_queries: Mapped[int] = mapped_column(default=0)
    successful_queries: Mapped[int] = mapped_column(default=0)
    failed_queries: Mapped[int] = mapped_column(default=0)
    agents_used: Mapped[Any | None]
    unique_agents_count: Mapped[int] = mapped_column(default=0)
    average_response_time_ms: Mapped[float | None] = mapped_column(Float)
    total_tokens_used: Mapped[int | None]
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)

    __table_args__ = (
        Index("ix_session_start_time", "start_time"),
        Index("ix_session_end_time", "end_time", "start_time"),
        Index("ix_session_user_time", "user_id", "start_time"),
    )


METRICS_TABLES: tuple[str, ...] = (
    AgentExecutionMetrics.__tablename__,
    ToolUsageMetrics.__tablename__,
    WorkflowMetrics.__tablename__,
    SessionMetrics.__tablename__,
)

# The rollup tables share this metadata (Alembic compares the models with the migrations).
from studio_analytics.db import rollup_models as _rollup_models  # noqa: E402,F401
