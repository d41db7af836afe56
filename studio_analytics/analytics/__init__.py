"""Analytics layer: every figure the window shows, aggregated in SQL. No Qt."""

from studio_analytics.analytics.agents import agent_usage
from studio_analytics.analytics.detail import execution_detail, session_detail
from studio_analytics.analytics.errors import error_analysis, error_signature
from studio_analytics.analytics.executions import list_executions
from studio_analytics.analytics.health import database_health
from studio_analytics.analytics.kpis import summary_kpis
from studio_analytics.analytics.models import cost_breakdown, cost_totals, model_usage
from studio_analytics.analytics.series import time_series
from studio_analytics.analytics.sessions import session_activity
from studio_analytics.analytics.snapshot import dashboard_snapshot
from studio_analytics.analytics.timerange import previous_period, time_range
from studio_analytics.analytics.tools import tool_usage
from studio_analytics.analytics.workflows import workflow_performance

__all__ = [
    "agent_usage",
    "cost_breakdown",
    "cost_totals",
    "model_usage",
    "error_analysis",
    "execution_detail",
    "list_executions",
    "session_detail",
    "error_signature",
    "session_activity",
    "workflow_performance",
    "dashboard_snapshot",
    "database_health",
    "previous_period",
    "summary_kpis",
    "time_range",
    "time_series",
    "tool_usage",
]
