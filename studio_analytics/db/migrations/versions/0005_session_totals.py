"""Sessions' running sums: the writer's cost per batch no longer grows with the session.

Additive only: ``session_totals`` (a session's counts and sums over its executions) and
``session_agents`` (its distinct agent names), see :mod:`studio_analytics.db.session_totals`.
They start empty: a session gets its row from its raw executions the first time the
writer touches it after this revision (once, as every batch did before it).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from studio_analytics.db.types import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_CLUSTERED = {"sqlite_with_rowid": False}


def _n(name: str) -> sa.Column:
    return sa.Column(name, sa.BigInteger(), nullable=False)


def upgrade() -> None:
    op.create_table(
        "session_totals", sa.Column("session_id", sa.String(255), nullable=False),
        _n("executions"), _n("successes"), _n("failures"), _n("timed"),
        sa.Column("duration_sum", sa.Float(), nullable=False), _n("tokened"), _n("tokens_sum"),
        sa.Column("first_start", UTCDateTime(), nullable=False), sa.Column("last_end", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("session_id", name="pk_session_totals"), **_CLUSTERED,
    )
    op.create_table(
        "session_agents", sa.Column("session_id", sa.String(255), nullable=False),
        sa.Column("agent_name", sa.String(255), nullable=False),
        sa.PrimaryKeyConstraint("session_id", "agent_name", name="pk_session_agents"), **_CLUSTERED,
    )


def downgrade() -> None:
    op.drop_table("session_agents")
    op.drop_table("session_totals")
