"""Tools tab table: one row per tool (ToolUsageRow)."""

from __future__ import annotations

from studio_analytics.gui.models.row_table_model import Column, RowTableModel, count, pct, when


def _apis(v: tuple[str, ...]) -> str:
    return ", ".join(v) or "—"


def _agents(v: tuple[tuple[str, int], ...]) -> str:
    return ", ".join(f"{name} ({n:,})" for name, n in v) or "—"


class ToolTableModel(RowTableModel):
    COLUMNS = (
        Column("Tool", "tool_name", str, numeric=False),
        Column("Calls", "calls", count),
        Column("Success", "success_rate", pct),
        Column("Failures", "failures", count),
        Column("Avg", "avg_duration_ms", duration=True),
        Column("p95", "p95_duration_ms", duration=True, percentile=True),
        Column("External APIs", "external_apis", _apis, numeric=False, sortable=False),
        Column("API calls", "api_calls", count),
        Column("API errors", "api_error_rate", pct),
        Column("Top agents", "top_agents", _agents, numeric=False, sortable=False),
        Column("Last used", "last_used", when, timed=True),
    )
