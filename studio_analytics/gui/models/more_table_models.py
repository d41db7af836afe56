"""Workflows, errors and sessions tab tables."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt

from studio_analytics.analytics.sessions import SESSION_SORTS
from studio_analytics.gui.models.execution_list_model import PagedRowTableModel
from studio_analytics.gui.models.row_table_model import (
    Column,
    Index,
    RowTableModel,
    count,
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
        Column("Avg", "avg_duration_ms", duration=True),
        Column("p95", "p95_duration_ms", duration=True, percentile=True),
        Column("Agents", "avg_agent_count", _avg),
        Column("Tool calls", "total_tool_calls", count),
        Column("API calls", "total_api_calls", count),
        Column("Tokens", "total_tokens", count),
        Column("Satisfaction", "avg_satisfaction", _score),
        Column("Completion", "avg_completion_rate", pct),
    )
    #: what the columns measure, on hover over their headers
    HEADER_TIPS = {
        "Success": "Successful runs / finished runs (success, failure or timeout) of this type in the range",
        "Agents": "Average number of agents involved in a run",
        "Satisfaction": "Mean user satisfaction score of the runs that have one, on the scale the tracker was "
                        "given\n(WorkflowSpan.set_scores(user_satisfaction_score=...); the demo data scores 1–5). "
                        "Runs without a score are left out;\nhover a cell for how many were scored.",
        "Completion": "Mean task completion rate (stored as 0–1, shown as %) of the runs that have one "
                      "(WorkflowSpan.set_scores(task_completion_rate=...)).\nRuns without one are left out; "
                      "hover a cell for how many had one.",
    }

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if (role == Qt.ItemDataRole.ToolTipRole and orientation == Qt.Orientation.Horizontal
                and 0 <= section < len(self.COLUMNS) and self.COLUMNS[section].header in self.HEADER_TIPS):
            return self.HEADER_TIPS[self.COLUMNS[section].header]
        return super().headerData(section, orientation, role)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role == Qt.ItemDataRole.ToolTipRole and index.isValid() and 0 <= index.row() < self.rowCount():
            header, row = self.COLUMNS[index.column()].header, self.row_at(index.row())
            if header == "Satisfaction":
                return f"mean of the {row.satisfaction_count:,} scored runs (of {row.runs:,})"
            if header == "Completion":
                return f"mean of the {row.completion_count:,} runs with a completion rate (of {row.runs:,})"
        return super().data(index, role)


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

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        # The message column elides to leave the others in view: its whole text on hover.
        if role == Qt.ItemDataRole.ToolTipRole and index.isValid() and index.column() == 0 \
                and 0 <= index.row() < self.rowCount():
            return self.row_at(index.row()).signature
        return super().data(index, role)


class SessionTableModel(PagedRowTableModel):
    """Every session of the range, a keyset page at a time (see SessionsView)."""

    COLUMNS = (
        Column("Session", "session_id", str, numeric=False),
        Column("User", "user_id", _text, numeric=False),
        Column("Started", "start_time", when, timed=True),
        Column("Duration", "duration_ms", duration=True),
        Column("Queries", "total_queries", count),
        Column("Failed", "failed_queries", count),
        Column("Agents", "unique_agents_count", count),
        Column("Avg response", "average_response_time_ms", duration=True),
        Column("Tokens", "total_tokens_used", count),
        Column("Cost", "cost_usd", row_fmt=row_cost, sortable="cost_usd" in SESSION_SORTS),
        Column("Active", "is_active", lambda v: "yes" if v else "no", numeric=False, sortable=False),
    )
