"""One window refresh: the queries the visible view needs, timed, as one frozen value."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from sqlalchemy.engine import Connection

from studio_analytics.analytics.agents import agent_usage
from studio_analytics.analytics.kpis import summary_kpis
from studio_analytics.analytics.results import DashboardSnapshot, TimeRange
from studio_analytics.analytics.series import time_series
from studio_analytics.analytics.tools import tool_usage


def dashboard_snapshot(conn: Connection, tr: TimeRange, *, generation: int,
                       tabs: frozenset[str] = frozenset({"overview"}),
                       agent_sort: tuple[str, bool] = ("executions", True),
                       tool_sort: tuple[str, bool] = ("calls", True)) -> DashboardSnapshot:
    started = time.perf_counter()
    kpis = summary_kpis(conn, tr)
    series = time_series(conn, tr)
    agents = agent_usage(conn, tr, sort=agent_sort[0], descending=agent_sort[1])
    tools = tool_usage(conn, tr, sort=tool_sort[0], descending=tool_sort[1])
    return DashboardSnapshot(
        generation=generation, time_range=tr, taken_at=datetime.now(UTC),
        query_ms=(time.perf_counter() - started) * 1000,
        kpis=kpis, series=series, agents=agents, tools=tools,
    )
