"""The four metrics tables, with the column names of the Agent Studio analytics schema.

Types are portable (``Uuid``, JSON/JSONB, UTC timestamps) so one model reads both our
own SQLite/PostgreSQL databases and an existing Agent Studio PostgreSQL database.
Durations are floats here (sub-millisecond tool calls are common); Agent Studio's
integer columns read into the same attributes.

Indexes are the ones the dashboard queries use; the composite ones end in the columns
those queries aggregate (status, duration_ms) so SQLite answers from the index alone.

Our own additions to the Agent Studio tables (``parent_id``, ``trace_id``: migration 0003)
are *deferred* columns: ``select(AgentExecutionMetrics)`` leaves them out, so the same
models still read an Agent Studio database, which has no such columns. Code that reads
them asks :func:`studio_analytics.db.capabilities.has_span_tree` first.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, Boolean, Float, Index, Integer, String, Text
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
    #: ours (0003): the enclosing execution, tool call or model call (a sub-agent's
    #: caller); NULL at the top of a trace
    parent_id: Mapped[uuid.UUID | None] = mapped_column(deferred=True)
    #: ours (0003): the trace this row belongs to (the id of its outermost span, or the
    #: OpenTelemetry trace id)
    trace_id: Mapped[uuid.UUID | None] = mapped_column(deferred=True)

    __table_args__ = (
        Index("ix_exec_start_time", "start_time"),
        Index("ix_exec_agent_time", "agent_name", "start_time", "status", "duration_ms"),
        Index("ix_exec_status_time", "status", "start_time"),
        Index("ix_exec_session_time", "session_id", "start_time"),
        Index("ix_exec_user_time", "user_id", "start_time"),
        Index("ix_exec_correlation", "correlation_id"),
        Index("ix_exec_parent", "parent_id"),
        Index("ix_exec_trace", "trace_id"),
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
    #: ours (0003), as on executions: the enclosing span, and the trace
    parent_id: Mapped[uuid.UUID | None] = mapped_column(deferred=True)
    trace_id: Mapped[uuid.UUID | None] = mapped_column(deferred=True)

    __table_args__ = (
        Index("ix_tool_start_time", "start_time"),
        Index("ix_tool_execution", "execution_id", "start_time"),
        Index("ix_tool_name_time", "tool_name", "start_time", "status", "duration_ms"),
        Index("ix_tool_parent", "parent_id"),
        Index("ix_tool_trace", "trace_id"),
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


class SessionTotals(Base):
    """A session's running sums over its executions (ours, migration 0005), so that the
    writer sets a session's aggregates from this row and the batch's new executions, at a
    cost that does not grow with the session. A prune keeps them with their session (the
    session's figures stay as they were); a session without one gets it from its raw rows
    the next time it is written (:mod:`studio_analytics.db.session_totals`)."""

    __tablename__ = "session_totals"

    session_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    executions: Mapped[int] = mapped_column(BigInteger)
    successes: Mapped[int] = mapped_column(BigInteger)
    #: failed or timed out
    failures: Mapped[int] = mapped_column(BigInteger)
    #: executions with a duration, and the sum of those durations
    timed: Mapped[int] = mapped_column(BigInteger)
    duration_sum: Mapped[float] = mapped_column(Float)
    #: executions with a token count, and the sum of those counts
    tokened: Mapped[int] = mapped_column(BigInteger)
    tokens_sum: Mapped[int] = mapped_column(BigInteger)
    first_start: Mapped[datetime]
    last_end: Mapped[datetime | None]

    __table_args__ = {"sqlite_with_rowid": False}


class SessionAgent(Base):
    """One agent name seen in a session (ours, migration 0005): the session's distinct
    agents without reading its executions."""

    __tablename__ = "session_agents"

    session_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    agent_name: Mapped[str] = mapped_column(String(255), primary_key=True)

    __table_args__ = {"sqlite_with_rowid": False}


class ModelCallMetrics(Base):
    """One call to a language model (ours, migration 0003): which model, tokens in and
    out, what it cost, how long it took and to its first token.

    ``execution_id`` is the nearest execution around the call (NULL for a call made
    outside any); ``parent_id`` the enclosing span of any kind; ``agent_name`` that
    execution's agent, kept here so cost by agent needs no join. ``cost_usd`` is NULL
    when the model has no price (see :mod:`studio_analytics.pricing`) or no token count
    was recorded: such calls are *unpriced*, never $0. ``cost_source`` says where a cost
    came from: ``price_table`` (recomputed by ``db reprice``) or ``recorded`` (given by
    the agent or the span; never repriced).
    """

    __tablename__ = "model_call_metrics"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    call_id: Mapped[uuid.UUID] = mapped_column(unique=True)
    execution_id: Mapped[uuid.UUID | None]
    parent_id: Mapped[uuid.UUID | None]
    trace_id: Mapped[uuid.UUID | None]
    agent_name: Mapped[str | None] = mapped_column(String(255))
    model: Mapped[str] = mapped_column(String(255))
    provider: Mapped[str | None] = mapped_column(String(255))
    operation: Mapped[str] = mapped_column(String(64))
    start_time: Mapped[datetime]
    end_time: Mapped[datetime | None]
    duration_ms: Mapped[float | None] = mapped_column(Float)
    time_to_first_token_ms: Mapped[float | None] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(32))
    error_message: Mapped[str | None] = mapped_column(Text)
    input_tokens: Mapped[int | None]
    output_tokens: Mapped[int | None]
    cached_input_tokens: Mapped[int | None]
    reasoning_tokens: Mapped[int | None]
    cost_usd: Mapped[float | None] = mapped_column(Float)
    cost_source: Mapped[str | None] = mapped_column(String(16))
    request: Mapped[Any | None]
    response: Mapped[Any | None]
    session_id: Mapped[str | None] = mapped_column(String(255))
    user_id: Mapped[str | None] = mapped_column(String(255))

    __table_args__ = (
        Index("ix_model_start_time", "start_time"),
        Index("ix_model_name_time", "model", "start_time", "status", "duration_ms"),
        Index("ix_model_execution", "execution_id", "start_time"),
        Index("ix_model_parent", "parent_id"),
        Index("ix_model_trace", "trace_id"),
        Index("ix_model_session", "session_id", "start_time"),
        Index("ix_model_user_time", "user_id", "start_time"),
        Index("ix_model_agent_time", "agent_name", "start_time"),
    )


#: The Agent Studio tables (an Agent Studio database has exactly these).
METRICS_TABLES: tuple[str, ...] = (
    AgentExecutionMetrics.__tablename__,
    ToolUsageMetrics.__tablename__,
    WorkflowMetrics.__tablename__,
    SessionMetrics.__tablename__,
)
#: Tables only our own databases have (revision 0003 on).
EXTENSION_TABLES: tuple[str, ...] = (ModelCallMetrics.__tablename__,)
#: Columns we added to Agent Studio tables, by table: absent from Agent Studio databases.
EXTENSION_COLUMNS: dict[str, tuple[str, ...]] = {
    AgentExecutionMetrics.__tablename__: ("parent_id", "trace_id"),
    ToolUsageMetrics.__tablename__: ("parent_id", "trace_id"),
}

# The rollup tables share this metadata (Alembic compares the models with the migrations).
from studio_analytics.db import rollup_models as _rollup_models  # noqa: E402,F401
