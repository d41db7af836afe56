"""The four metrics tables and the indexes the dashboard uses.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from studio_analytics.db.types import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(JSONB(), "postgresql")


def _ts(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, UTCDateTime(), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "agent_execution_metrics",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("execution_id", sa.Uuid(), nullable=False),
        sa.Column("agent_id", sa.String(255)),
        sa.Column("agent_name", sa.String(255), nullable=False),
        _ts("start_time", nullable=False),
        _ts("end_time"),
        sa.Column("duration_ms", sa.Float()),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("query", sa.Text()),
        sa.Column("response", sa.Text()),
        sa.Column("error_message", sa.Text()),
        sa.Column("tools_called", JSON),
        sa.Column("tool_count", sa.Integer(), nullable=False),
        sa.Column("retry_count", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.String(255)),
        sa.Column("user_id", sa.String(255)),
        sa.Column("correlation_id", sa.String(255)),
        sa.Column("tokens_used", sa.Integer()),
        sa.Column("api_calls_count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_agent_execution_metrics"),
        sa.UniqueConstraint("execution_id", name="uq_agent_execution_metrics_execution_id"),
    )
    op.create_index("ix_exec_start_time", "agent_execution_metrics", ["start_time"])
    op.create_index(
        "ix_exec_agent_time",
        "agent_execution_metrics",
        ["agent_name", "start_time", "status", "duration_ms"],
    )
    op.create_index("ix_exec_status_time", "agent_execution_metrics", ["status", "start_time"])
    op.create_index("ix_exec_session_time", "agent_execution_metrics", ["session_id", "start_time"])
    op.create_index("ix_exec_user_time", "agent_execution_metrics", ["user_id", "start_time"])
    op.create_index("ix_exec_correlation", "agent_execution_metrics", ["correlation_id"])

    op.create_table(
        "tool_usage_metrics",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("usage_id", sa.Uuid(), nullable=False),
        sa.Column("tool_name", sa.String(255), nullable=False),
        sa.Column("execution_id", sa.Uuid()),
        _ts("start_time", nullable=False),
        _ts("end_time"),
        sa.Column("duration_ms", sa.Float()),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("input_data", JSON),
        sa.Column("output_data", JSON),
        sa.Column("error_message", sa.Text()),
        sa.Column("external_api_called", sa.String(255)),
        sa.Column("api_response_time_ms", sa.Float()),
        sa.Column("api_status_code", sa.Integer()),
        sa.PrimaryKeyConstraint("id", name="pk_tool_usage_metrics"),
        sa.UniqueConstraint("usage_id", name="uq_tool_usage_metrics_usage_id"),
    )
    op.create_index("ix_tool_start_time", "tool_usage_metrics", ["start_time"])
    op.create_index("ix_tool_execution", "tool_usage_metrics", ["execution_id", "start_time"])
    op.create_index(
        "ix_tool_name_time", "tool_usage_metrics", ["tool_name", "start_time", "status", "duration_ms"]
    )

    op.create_table(
        "workflow_metrics",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("workflow_id", sa.Uuid(), nullable=False),
        sa.Column("workflow_type", sa.String(255), nullable=False),
        _ts("start_time", nullable=False),
        _ts("end_time"),
        sa.Column("duration_ms", sa.Float()),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("agents_involved", JSON),
        sa.Column("agent_count", sa.Integer(), nullable=False),
        sa.Column("total_tool_calls", sa.Integer(), nullable=False),
        sa.Column("total_api_calls", sa.Integer(), nullable=False),
        sa.Column("total_tokens_used", sa.Integer()),
        sa.Column("session_id", sa.String(255)),
        sa.Column("user_id", sa.String(255)),
        sa.Column("user_satisfaction_score", sa.Float()),
        sa.Column("task_completion_rate", sa.Float()),
        sa.PrimaryKeyConstraint("id", name="pk_workflow_metrics"),
        sa.UniqueConstraint("workflow_id", name="uq_workflow_metrics_workflow_id"),
    )
    op.create_index("ix_workflow_start_time", "workflow_metrics", ["start_time"])
    op.create_index(
        "ix_workflow_type_time",
        "workflow_metrics",
        ["workflow_type", "start_time", "status", "duration_ms"],
    )
    op.create_index("ix_workflow_session", "workflow_metrics", ["session_id"])

    op.create_table(
        "session_metrics",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("session_id", sa.String(255), nullable=False),
        _ts("start_time", nullable=False),
        _ts("end_time"),
        sa.Column("duration_ms", sa.Float()),
        sa.Column("user_id", sa.String(255)),
        sa.Column("user_agent", sa.String(1024)),
        sa.Column("ip_address", sa.String(64)),
        sa.Column("total_queries", sa.Integer(), nullable=False),
        sa.Column("successful_queries", sa.Integer(), nullable=False),
        sa.Column("failed_queries", sa.Integer(), nullable=False),
        sa.Column("agents_used", JSON),
        sa.Column("unique_agents_count", sa.Integer(), nullable=False),
        sa.Column("average_response_time_ms", sa.Float()),
        sa.Column("total_tokens_used", sa.Integer()),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_session_metrics"),
        sa.UniqueConstraint("session_id", name="uq_session_metrics_session_id"),
    )
    op.create_index("ix_session_start_time", "session_metrics", ["start_time"])
    op.create_index("ix_session_user_time", "session_metrics", ["user_id", "start_time"])


def downgrade() -> None:
    for table in ("session_metrics", "workflow_metrics", "tool_usage_metrics", "agent_execution_metrics"):
        op.drop_table(table)
