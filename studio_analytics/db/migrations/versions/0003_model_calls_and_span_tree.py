"""Model calls, their hourly and daily rollups, and the span tree (parent and trace ids).

Additive only: a new table ``model_call_metrics``, six rollup tables, and two nullable
columns (``parent_id``, ``trace_id``) with their indexes on executions and tool usages.
Existing rows keep their meaning (NULL parent: the top of a tree).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from studio_analytics.db.types import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(JSONB(), "postgresql")
_CLUSTERED = {"sqlite_with_rowid": False}


def _n(name: str) -> sa.Column:
    return sa.Column(name, sa.BigInteger(), nullable=False)


def _f(name: str) -> sa.Column:
    return sa.Column(name, sa.Float(), nullable=False)


def _key(name: str, type_: sa.types.TypeEngine) -> sa.Column:
    return sa.Column(name, type_, nullable=False)


def _histogram(table: str, key: str, period: str = "hour") -> None:
    op.create_table(
        table, _key(period, sa.BigInteger()), _key(key, sa.String(255)), _key("bucket", sa.SmallInteger()), _n("n"),
        sa.PrimaryKeyConstraint(period, key, "bucket", name=f"pk_{table}"), **_CLUSTERED,
    )


def upgrade() -> None:
    for table, prefix in (("agent_execution_metrics", "exec"), ("tool_usage_metrics", "tool")):
        op.add_column(table, sa.Column("parent_id", sa.Uuid(), nullable=True))
        op.add_column(table, sa.Column("trace_id", sa.Uuid(), nullable=True))
        op.create_index(f"ix_{prefix}_parent", table, ["parent_id"])
        op.create_index(f"ix_{prefix}_trace", table, ["trace_id"])

    op.create_table(
        "model_call_metrics",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("call_id", sa.Uuid(), nullable=False),
        sa.Column("execution_id", sa.Uuid()),
        sa.Column("parent_id", sa.Uuid()),
        sa.Column("trace_id", sa.Uuid()),
        sa.Column("agent_name", sa.String(255)),
        sa.Column("model", sa.String(255), nullable=False),
        sa.Column("provider", sa.String(255)),
        sa.Column("operation", sa.String(64), nullable=False),
        sa.Column("start_time", UTCDateTime(), nullable=False),
        sa.Column("end_time", UTCDateTime()),
        sa.Column("duration_ms", sa.Float()),
        sa.Column("time_to_first_token_ms", sa.Float()),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("error_message", sa.Text()),
        sa.Column("input_tokens", sa.Integer()),
        sa.Column("output_tokens", sa.Integer()),
        sa.Column("cached_input_tokens", sa.Integer()),
        sa.Column("reasoning_tokens", sa.Integer()),
        sa.Column("cost_usd", sa.Float()),
        sa.Column("cost_source", sa.String(16)),
        sa.Column("request", JSON),
        sa.Column("response", JSON),
        sa.Column("session_id", sa.String(255)),
        sa.Column("user_id", sa.String(255)),
        sa.PrimaryKeyConstraint("id", name="pk_model_call_metrics"),
        sa.UniqueConstraint("call_id", name="uq_model_call_metrics_call_id"),
    )
    for name, columns in (
        ("ix_model_start_time", ["start_time"]),
        ("ix_model_name_time", ["model", "start_time", "status", "duration_ms"]),
        ("ix_model_execution", ["execution_id", "start_time"]),
        ("ix_model_parent", ["parent_id"]),
        ("ix_model_trace", ["trace_id"]),
        ("ix_model_session", ["session_id", "start_time"]),
        ("ix_model_user_time", ["user_id", "start_time"]),
        ("ix_model_agent_time", ["agent_name", "start_time"]),
    ):
        op.create_index(name, "model_call_metrics", columns)

    op.create_table(
        "rollup_model_hourly", _key("hour", sa.BigInteger()), _key("model", sa.String(255)),
        _key("provider", sa.String(255)),
        *(_n(c) for c in ("calls", "successes", "failures", "timeouts", "finished", "duration_count")),
        _f("duration_sum"), _n("ttft_count"), _f("ttft_sum"),
        *(_n(c) for c in ("input_tokens", "output_tokens", "cached_input_tokens", "reasoning_tokens")),
        _f("cost_usd"), _n("unpriced_calls"), _n("unpriced_input_tokens"), _n("unpriced_output_tokens"),
        sa.Column("last_start", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("hour", "model", "provider", name="pk_rollup_model_hourly"), **_CLUSTERED,
    )
    op.create_table(
        "rollup_model_agent_hourly", _key("hour", sa.BigInteger()), _key("model", sa.String(255)),
        _key("agent_name", sa.String(255)),
        _n("calls"), _n("failures"), _n("duration_count"), _f("duration_sum"),
        _n("input_tokens"), _n("output_tokens"), _n("cached_input_tokens"), _f("cost_usd"), _n("unpriced_calls"),
        sa.PrimaryKeyConstraint("hour", "model", "agent_name", name="pk_rollup_model_agent_hourly"), **_CLUSTERED,
    )
    _histogram("rollup_model_latency", "model")
    _histogram("rollup_model_latency_daily", "model", "day")
    _histogram("rollup_model_ttft", "model")
    _histogram("rollup_model_ttft_daily", "model", "day")
    # Existing model rows (none before this revision; the same statements `db
    # rebuild-rollups` runs, so a database filled by other means comes out right).
    from studio_analytics.db.rollups import rebuild_model_rollups

    rebuild_model_rollups(op.get_bind())


def downgrade() -> None:
    for table in ("rollup_model_ttft_daily", "rollup_model_ttft", "rollup_model_latency_daily", "rollup_model_latency",
                  "rollup_model_agent_hourly", "rollup_model_hourly", "model_call_metrics"):
        op.drop_table(table)
    for table, prefix in (("tool_usage_metrics", "tool"), ("agent_execution_metrics", "exec")):
        op.drop_index(f"ix_{prefix}_trace", table)
        op.drop_index(f"ix_{prefix}_parent", table)
        with op.batch_alter_table(table) as batch:
            batch.drop_column("trace_id")
            batch.drop_column("parent_id")
