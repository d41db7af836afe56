"""Agents tab table: one row per agent (AgentUsageRow)."""

from __future__ import annotations

from studio_analytics.analytics.agents import AGENT_SORTS
from studio_analytics.gui.models.row_table_model import (
    Column,
    RowTableModel,
    count,
    pct,
    row_cost,
    when,
)


class AgentTableModel(RowTableModel):
    COLUMNS = (
        Column("Agent", "agent_name", str, numeric=False),
        Column("Runs", "executions", count),
        Column("Success", "success_rate", pct),
        Column("Failures", "failures", count),
        Column("Timeouts", "timeouts", count),
        Column("Avg", "avg_duration_ms", duration=True),
        Column("p50", "p50_duration_ms", duration=True, percentile=True),
        Column("p95", "p95_duration_ms", duration=True, percentile=True),
        Column("p99", "p99_duration_ms", duration=True, percentile=True),
        Column("Tool calls", "total_tool_calls", count),
        Column("Tokens", "total_tokens", count),
        # From the agent's model calls; a header click re-queries, so only sorts the query knows.
        Column("Tokens in", "input_tokens", count, sortable="input_tokens" in AGENT_SORTS),
        Column("Tokens out", "output_tokens", count, sortable="output_tokens" in AGENT_SORTS),
        Column("Cost", "cost_usd", row_fmt=row_cost, sortable="cost_usd" in AGENT_SORTS),
        Column("Last used", "last_used", when, timed=True),
    )
