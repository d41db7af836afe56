"""Users tab table: one row per user of the range (UserActivityRow)."""

from __future__ import annotations

from studio_analytics.gui.models.row_table_model import (
    Column,
    RowTableModel,
    count,
    pct,
    row_cost,
    when,
)


class UserTableModel(RowTableModel):
    COLUMNS = (
        Column("User", "user_id", str, numeric=False),
        Column("Sessions", "sessions", count),
        Column("Runs", "executions", count),
        Column("Failures", "failures", count),
        Column("Failure rate", "failure_rate", pct),
        Column("p95", "p95_duration_ms", duration=True),
        Column("Tokens", "tokens", count),
        # the user's model calls: unpriced ones are counted beside the cost, never as $0
        Column("Cost", "cost_usd", row_fmt=row_cost),
        Column("Last seen", "last_seen", when, timed=True),
    )
