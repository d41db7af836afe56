"""Workflows, errors and sessions tab tables."""

from __future__ import annotations

from studio_analytics.analytics.sessions import SESSION_SORTS
from studio_analytics.gui.models.execution_list_model import PagedRowTableModel
from studio_analytics.gui.models.row_table_model import (
    Column,
    RowTableModel,
    count,
    ms,
    pct,
    row_cost,
    when,
)


def _score(v: float | None) -> str:
    return "—" if v is None else f"{v:.2f}"


def _avg(v: float | None) -> str:
    return "—" if v is None else f"{v:.1f}"


def _text(v: str | None) -> str:
    return v or "—"


class WorkflowTableModel(RowTableModel):
    COLUMNS = (
        Column("Workflow type", "workflow_type", str, numeric=False),
        Column("Runs", "runs", count),
        Column("Success", "success_rate", pct),
        Column("Avg", "avg_duration_ms", ms),
        Column("p95", "p95_duration_ms", ms),
        Column("Agents", "avg_agent_count", _avg),
        Column("Tool calls", "total_tool_calls", count),
        Column("API calls", "total_api_calls", count),
        Column("Tokens", "total_tokens", count),
        Column("Satisfaction", "avg_satisfaction", _score),
        Column("Completion", "avg_completion_rate", pct),
    )


class ErrorTableModel(RowTableModel):
    COLUMNS = (
        Column("Error", "signature", str, numeric=False),
        Column("Count", "count", count),
        Column("Share", "share", pct),
        Column("Kind", "status", str, numeric=False, sortable=False),
        Column("Most affected agent", "top_agent", _text, numeric=False, sortable=False),
        Column("Most affected tool", "top_tool", _text, numeric=False, sortable=False),
        Column("First seen", "first_seen", when),
        Column("Last seen", "last_seen", when),
    )


class SessionTableModel(PagedRowTableModel):
    """Every session of the range, a keyset page at a time (see SessionsView)."""

    COLUMNS = (
        Column("Session", "session_id", str, numeric=False),
        Column("User", "user_id", _text, numeric=False),
        Column("Started", "start_time", when, timed=True),
        Column("Duration", "duration_ms", ms),
        Column("Queries", "total_queries", count),
        Column("Failed", "failed_queries", count),
        Column("Agents", "unique_agents_count", count),
        Column("Avg response", "average_response_time_ms", ms),
        Column("Tokens", "total_tokens_used", count),
        Column("Cost", "cost_usd", row_fmt=row_cost, sortable="cost_usd" in SESSION_SORTS),
        Column("Active", "is_active", lambda v: "yes" if v else "no", numeric=False, sortable=False),
    )
