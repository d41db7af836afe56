"""Rollups of the figures a prune would otherwise lose: sessions, users and error groups.

Additive only: seven rollup tables (see :mod:`studio_analytics.db.rollup_models`), filled
from the raw rows already there with the statements ``db rebuild-rollups`` runs.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from studio_analytics.db.types import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_CLUSTERED = {"sqlite_with_rowid": False}
_TABLES = ("rollup_error_tool_hourly", "rollup_error_hourly", "rollup_model_user_hourly", "rollup_user_latency_daily",
           "rollup_user_latency", "rollup_user_hourly", "rollup_session_hourly")


def _n(name: str) -> sa.Column:
    return sa.Column(name, sa.BigInteger(), nullable=False)


def _key(name: str, type_: sa.types.TypeEngine) -> sa.Column:
    return sa.Column(name, type_, nullable=False)


def _time(name: str) -> sa.Column:
    return sa.Column(name, UTCDateTime(), nullable=False)


def _histogram(table: str, key: str, period: str = "hour") -> None:
    op.create_table(
        table, _key(period, sa.BigInteger()), _key(key, sa.String(255)), _key("bucket", sa.SmallInteger()), _n("n"),
        sa.PrimaryKeyConstraint(period, key, "bucket", name=f"pk_{table}"), **_CLUSTERED,
    )


def upgrade() -> None:
    op.create_table(
        "rollup_session_hourly", _key("hour", sa.BigInteger()), _key("session_id", sa.String(255)),
        _n("executions"), _n("successes"), _n("finished"), _time("first_start"), _time("last_start"), _time("last_end"),
        sa.PrimaryKeyConstraint("hour", "session_id", name="pk_rollup_session_hourly"), **_CLUSTERED,
    )
    op.create_table(
        "rollup_user_hourly", _key("hour", sa.BigInteger()), _key("user_id", sa.String(255)),
        _key("session_id", sa.String(255)), _n("executions"), _n("failures"), _n("finished"), _n("tokens"),
        _time("last_start"),
        sa.PrimaryKeyConstraint("hour", "user_id", "session_id", name="pk_rollup_user_hourly"), **_CLUSTERED,
    )
    _histogram("rollup_user_latency", "user_id")
    _histogram("rollup_user_latency_daily", "user_id", "day")
    op.create_table(
        "rollup_model_user_hourly", _key("hour", sa.BigInteger()), _key("user_id", sa.String(255)),
        _n("calls"), sa.Column("cost_usd", sa.Float(), nullable=False), _n("unpriced_calls"),
        sa.PrimaryKeyConstraint("hour", "user_id", name="pk_rollup_model_user_hourly"), **_CLUSTERED,
    )
    op.create_table(
        "rollup_error_hourly", _key("hour", sa.BigInteger()), _key("signature", sa.String(255)),
        _key("agent_name", sa.String(255)), _n("errors"), _n("timeouts"), _time("first_start"), _time("last_start"),
        sa.Column("example", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("hour", "signature", "agent_name", name="pk_rollup_error_hourly"), **_CLUSTERED,
    )
    op.create_table(
        "rollup_error_tool_hourly", _key("hour", sa.BigInteger()), _key("signature", sa.String(255)),
        _key("tool_name", sa.String(255)), _n("calls"),
        sa.PrimaryKeyConstraint("hour", "signature", "tool_name", name="pk_rollup_error_tool_hourly"), **_CLUSTERED,
    )
    # The rows already there (a database pruned before this revision has rollups only
    # for its older days: those figures stay raw-row figures, i.e. empty, for them).
    from studio_analytics.db.figure_rollups import rebuild_figure_rollups

    rebuild_figure_rollups(op.get_bind())


def downgrade() -> None:
    for table in _TABLES:
        op.drop_table(table)
