"""Error analysis: failures and timeouts over time, and messages grouped by their shape.

Grouping: failed and timed-out executions are grouped by the signature of their message
(:func:`~studio_analytics.db.error_signature.error_signature`: numbers, ids, hex, quoted
values and URLs replaced by placeholders), with their count, first and last time, the
agent with the most of them and the tool that failed most inside them (ties: the first
by name), and as example the smallest message text of the group. Whole hours come from
``rollup_error_hourly`` / ``rollup_error_tool_hourly`` (revision 0004), so a pruned
period keeps its groups; the raw rows of partial hours (and of a whole range without
those rollups) are grouped by message and agent in SQL — the top ``RAW_GROUPS`` of a
span by count — and folded here.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from studio_analytics.analytics.figure_sources import figure_split
from studio_analytics.analytics.kpis import period_totals
from studio_analytics.analytics.results import ErrorAnalysis, ErrorGroup, TimeRange
from studio_analytics.analytics.rollup_sources import hours_within, within
from studio_analytics.analytics.series import time_series
from studio_analytics.analytics.sql import (
    is_timeout,
    rate,
    status_in,
)
from studio_analytics.db.error_signature import error_example, error_signature
from studio_analytics.db.figure_rollups import TOOL_ERROR_VALUES
from studio_analytics.db.models import FAILURE_VALUES, TIMEOUT_VALUES
from studio_analytics.db.models import AgentExecutionMetrics as AEM
from studio_analytics.db.models import ToolUsageMetrics as TUM
from studio_analytics.db.rollup_models import ErrorHourlyRollup, ErrorToolHourlyRollup

RAW_GROUPS = 2_000


@dataclass
class _Group:
    example: str
    count: int = 0
    first: datetime | None = None
    last: datetime | None = None
    timeouts: int = 0
    agents: Counter[str] = field(default_factory=Counter)
    tools: Counter[str] = field(default_factory=Counter)

    def add(self, agent: str, n: int, timeouts: int, first: datetime, last: datetime, example: str) -> None:
        self.count += n
        self.timeouts += timeouts
        self.agents[agent] += n
        self.first = first if self.first is None or first < self.first else self.first
        self.last = last if self.last is None or last > self.last else self.last
        self.example = min(self.example, example)


def error_analysis(conn: Connection, tr: TimeRange, *, sort: str = "count", descending: bool = True,
                   limit: int = 50) -> ErrorAnalysis:
    _, _, failures, timeouts_, finished, _, _ = period_totals(conn, tr)  # from the rollups where there are some
    totals = (failures, timeouts_, finished)
    split = figure_split(conn, tr)
    params = split.params()
    groups: dict[str, _Group] = {}

    def group(signature: str, example: str) -> _Group:
        return groups.setdefault(signature, _Group(example=example))

    failed = status_in(AEM.status, FAILURE_VALUES + TIMEOUT_VALUES)
    for i in range(len(split.edges)):
        for message, agent, n, timeouts, first, last in conn.execute(
            select(AEM.error_message, AEM.agent_name, func.count(), func.coalesce(func.sum(is_timeout(AEM.status)), 0),
                   func.min(AEM.start_time), func.max(AEM.start_time))
            .where(within(AEM.start_time, i), failed).group_by(AEM.error_message, AEM.agent_name)
            .order_by(func.count().desc(), AEM.error_message, AEM.agent_name).limit(RAW_GROUPS), params
        ):
            example = error_example(message)
            group(error_signature(message), example).add(agent, int(n), int(timeouts), first, last, example)
        for message, tool, n in conn.execute(
            select(AEM.error_message, TUM.tool_name, func.count()).join(TUM, TUM.execution_id == AEM.execution_id)
            .where(within(AEM.start_time, i), failed, status_in(TUM.status, TOOL_ERROR_VALUES))
            .group_by(AEM.error_message, TUM.tool_name), params
        ):
            sig = error_signature(message)
            if sig in groups:
                groups[sig].tools[tool] += int(n)
    if split.hours is not None:
        r, rt = ErrorHourlyRollup, ErrorToolHourlyRollup
        # PostgreSQL: the smallest example by code point, as the writer's MIN keeps it
        example_key = r.example if conn.dialect.name == "sqlite" else r.example.collate("C")
        for sig, agent, n, timeouts, first, last, example in conn.execute(
            select(r.signature, r.agent_name, func.sum(r.errors), func.sum(r.timeouts), func.min(r.first_start),
                   func.max(r.last_start), func.min(example_key))
            .where(hours_within(r.hour, split)).group_by(r.signature, r.agent_name), params
        ):
            group(sig, example).add(agent, int(n), int(timeouts), first, last, example)
        for sig, tool, n in conn.execute(
            select(rt.signature, rt.tool_name, func.sum(rt.calls)).where(hours_within(rt.hour, split))
            .group_by(rt.signature, rt.tool_name), params
        ):
            if sig in groups:
                groups[sig].tools[tool] += int(n)
    total_errors = int(totals[0]) + int(totals[1])
    keyed: dict[str, Any] = {
        "count": lambda kv: (kv[1].count, kv[0]), "first_seen": lambda kv: (kv[1].first, kv[0]),
        "last_seen": lambda kv: (kv[1].last, kv[0]), "signature": lambda kv: kv[0],
        "share": lambda kv: (kv[1].count, kv[0]),
    }
    ordered = sorted(groups.items(), key=keyed.get(sort, keyed["count"]), reverse=descending)[:limit]
    return ErrorAnalysis(
        total_failures=int(totals[0]), total_timeouts=int(totals[1]), error_rate=rate(total_errors, totals[2]),
        series=time_series(conn, tr),
        groups=tuple(ErrorGroup(
            signature=sig, example=g.example, count=g.count, share=g.count / total_errors if total_errors else 0.0,
            first_seen=g.first, last_seen=g.last,  # type: ignore[arg-type]
            top_agent=_most(g.agents), top_tool=_most(g.tools),
            status="timeout" if g.timeouts * 2 > g.count else "failure",
        ) for sig, g in ordered),
    )


def _most(counts: Counter[str]) -> str | None:
    """The name with the most, the first by name among equals (so any order of reading agrees)."""
    return min(counts.items(), key=lambda kv: (-kv[1], kv[0]))[0] if counts else None
