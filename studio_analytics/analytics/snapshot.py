"""One window refresh: the queries the visible view needs, timed, as one frozen value."""

from __future__ import annotations

import time
from datetime import UTC, datetime, tzinfo

from sqlalchemy.engine import Connection

from studio_analytics.analytics.agents import AGENT_MODEL_SORTS, agent_usage
from studio_analytics.analytics.errors import error_analysis
from studio_analytics.analytics.health import connection_health
from studio_analytics.analytics.heatmap import usage_heatmap
from studio_analytics.analytics.kpis import summary_kpis
from studio_analytics.analytics.models import model_usage
from studio_analytics.analytics.results import DashboardSnapshot, Health, TimeRange
from studio_analytics.analytics.series import time_series
from studio_analytics.analytics.sessions import session_activity
from studio_analytics.analytics.tools import tool_usage
from studio_analytics.analytics.users import user_activity
from studio_analytics.analytics.workflows import workflow_performance


def dashboard_snapshot(conn: Connection, tr: TimeRange, *, generation: int,
                       tabs: frozenset[str] = frozenset({"overview"}),
                       agent_sort: tuple[str, bool] = ("executions", True),
                       tool_sort: tuple[str, bool] = ("calls", True),
                       sorts: dict[str, tuple[str, bool]] | None = None,
                       health: Health | None = None, heatmap_tz: tzinfo | None = UTC) -> DashboardSnapshot:
    """KPIs (with cost) always; the series, agents and tools when the overview (or their
    own tab) is in ``tabs``; workflows, errors, sessions and models only when their tab is
    (``models`` stays None on a database without model calls). A hidden tab costs
    nothing: switching tabs refreshes at once."""
    started = time.perf_counter()
    kpis = summary_kpis(conn, tr)
    overview = "overview" in tabs
    series = time_series(conn, tr) if overview else None
    agents = tools = None
    if overview or "agents" in tabs:
        # The agents' model tokens and cost are shown on the Agents tab only.
        agents = agent_usage(conn, tr, sort=agent_sort[0], descending=agent_sort[1],
                             with_models="agents" in tabs or agent_sort[0] in AGENT_MODEL_SORTS)
    if overview or "tools" in tabs:
        tools = tool_usage(conn, tr, sort=tool_sort[0], descending=tool_sort[1], with_top_agents="tools" in tabs)
    sorts = dict(sorts or {})
    workflows = errors = sessions = models = None
    if "workflows" in tabs:
        field, desc = sorts.get("workflows", ("runs", True))
        workflows = workflow_performance(conn, tr, sort=field, descending=desc)
    if "errors" in tabs:
        field, desc = sorts.get("errors", ("count", True))
        errors = error_analysis(conn, tr, sort=field, descending=desc)
    if "sessions" in tabs:
        field, desc = sorts.get("sessions", ("start_time", True))
        sessions = session_activity(conn, tr, sort=field, descending=desc)
    if "models" in tabs:
        field, desc = sorts.get("models", ("cost_usd", True))
        models = model_usage(conn, tr, sort=field, descending=desc)
    users = heatmap = None
    if "users" in tabs:  # heatmap_tz: the window's zone (None: this computer's)
        field, desc = sorts.get("users", ("executions", True))
        users = user_activity(conn, tr, sort=field, descending=desc)
        heatmap = usage_heatmap(conn, tr, tz=heatmap_tz)
    return DashboardSnapshot(
        generation=generation, time_range=tr, taken_at=datetime.now(UTC),
        query_ms=(time.perf_counter() - started) * 1000,
        kpis=kpis, series=series, agents=agents, tools=tools,
        workflows=workflows, errors=errors, sessions=sessions, health=health, models=models,
        users=users, heatmap=heatmap,
    )


def read_dashboard(conn: Connection, url: str, tr: TimeRange, *, generation: int,
                   tabs: frozenset[str] = frozenset({"overview"}),
                   agent_sort: tuple[str, bool] = ("executions", True),
                   tool_sort: tuple[str, bool] = ("calls", True),
                   sorts: dict[str, tuple[str, bool]] | None = None,
                  heatmap_tz: tzinfo | None = UTC) -> tuple[Health, DashboardSnapshot | None]:
    """Health (with the range's row counts) and the snapshot, from one read.

    Run it inside :func:`studio_analytics.db.engine.read_transaction`: every figure of
    a refresh then comes from the same committed state, so the status bar, the KPIs,
    the series and the doughnut agree even while trackers write."""
    health = connection_health(conn, url, tr)
    if not health.ok:
        return health, None
    return health, dashboard_snapshot(conn, tr, generation=generation, tabs=tabs, agent_sort=agent_sort,
                                      tool_sort=tool_sort, sorts=sorts, health=health, heatmap_tz=heatmap_tz)
