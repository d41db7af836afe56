"""Hourly rollup tables, filled from the rows already present; session end-time index.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from studio_analytics.db.types import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_CLUSTERED = {"sqlite_with_rowid": False}


def _n(name: str) -> sa.Column:
    return sa.Column(name, sa.BigInteger(), nullable=False)


def _f(name: str) -> sa.Column:
    return sa.Column(name, sa.Float(), nullable=False)


def _key(name: str, type_: sa.types.TypeEngine) -> sa.Column:
    return sa.Column(name, type_, nullable=False)


def _latency(table: str, key: str, period: str = "hour") -> None:
    op.create_table(
        table, _key(period, sa.BigInteger()), _key(key, sa.String(255)), _key("bucket", sa.SmallInteger()), _n("n"),
        sa.PrimaryKeyConstraint(period, key, "bucket", name=f"pk_{table}"), **_CLUSTERED,
    )


def upgrade() -> None:
    op.create_table(
        "rollup_agent_hourly", _key("hour", sa.BigInteger()), _key("agent_name", sa.String(255)),
        *(_n(c) for c in ("executions", "successes", "failures", "timeouts", "finished", "duration_count")),
        _f("duration_sum"), _n("tool_calls"), _n("tokens"), _n("api_calls"),
        sa.Column("last_start", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("hour", "agent_name", name="pk_rollup_agent_hourly"), **_CLUSTERED,
    )
    _latency("rollup_agent_latency", "agent_name")
    _latency("rollup_agent_latency_daily", "agent_name", "day")
    op.create_table(
        "rollup_execution_latency", _key("hour", sa.BigInteger()), _key("bucket", sa.SmallInteger()), _n("n"),
        sa.PrimaryKeyConstraint("hour", "bucket", name="pk_rollup_execution_latency"), **_CLUSTERED,
    )
    op.create_table(
        "rollup_tool_hourly", _key("hour", sa.BigInteger()), _key("tool_name", sa.String(255)),
        _key("api", sa.String(255)),
        *(_n(c) for c in ("calls", "successes", "failures", "finished", "duration_count")),
        _f("duration_sum"), _n("api_errors"), sa.Column("last_start", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("hour", "tool_name", "api", name="pk_rollup_tool_hourly"), **_CLUSTERED,
    )
    op.create_table(
        "rollup_tool_agent_hourly", _key("hour", sa.BigInteger()), _key("tool_name", sa.String(255)),
        _key("agent_name", sa.String(255)), _n("calls"),
        sa.PrimaryKeyConstraint("hour", "tool_name", "agent_name", name="pk_rollup_tool_agent_hourly"), **_CLUSTERED,
    )
    _latency("rollup_tool_latency", "tool_name")
    _latency("rollup_tool_latency_daily", "tool_name", "day")
    op.create_table(
        "rollup_workflow_hourly", _key("hour", sa.BigInteger()), _key("workflow_type", sa.String(255)),
        *(_n(c) for c in ("runs", "successes", "failures", "timeouts", "finished", "duration_count")),
        _f("duration_sum"), _n("agent_count_sum"), _n("tool_calls"), _n("api_calls"), _n("tokens"),
        _n("satisfaction_count"), _f("satisfaction_sum"), _n("completion_count"), _f("completion_sum"),
        sa.Column("last_start", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("hour", "workflow_type", name="pk_rollup_workflow_hourly"), **_CLUSTERED,
    )
    _latency("rollup_workflow_latency", "workflow_type")
    _latency("rollup_workflow_latency_daily", "workflow_type", "day")
    # "Active sessions in a range" = sessions whose span overlaps it: found by end time.
    op.create_index("ix_session_end_time", "session_metrics", ["end_time", "start_time"])
    # Existing rows: the same INSERT .. SELECT that `db rebuild-rollups` runs.
    from studio_analytics.db.rollups import rebuild_rollups

    rebuild_rollups(op.get_bind())


def downgrade() -> None:
    op.drop_index("ix_session_end_time", "session_metrics")
    for table in ("rollup_workflow_latency_daily", "rollup_workflow_latency",
                  "rollup_workflow_hourly", "rollup_tool_latency_daily", "rollup_tool_latency", "rollup_tool_agent_hourly", "rollup_tool_hourly",
                  "rollup_execution_latency", "rollup_agent_latency_daily", "rollup_agent_latency",
                  "rollup_agent_hourly"):
        op.drop_table(table)
