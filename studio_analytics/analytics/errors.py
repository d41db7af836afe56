"""Error analysis: failures and timeouts over time, and messages grouped by their shape.

Grouping: the database groups identical messages (top ``RAW_GROUPS`` by count, with
their counts and first/last times); those bounded rows are folded here into signatures
(numbers, ids, hex, quoted values and query strings replaced by placeholders) and merged.
Messages beyond the top ``RAW_GROUPS`` distinct texts are counted in the totals but not
in any group.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from studio_analytics.analytics.kpis import period_totals
from studio_analytics.analytics.results import ErrorAnalysis, ErrorGroup, TimeRange
from studio_analytics.analytics.series import time_series
from studio_analytics.analytics.sql import (
    in_range,
    is_timeout,
    rate,
    status_in,
)
from studio_analytics.db.models import FAILURE_VALUES, TIMEOUT_VALUES
from studio_analytics.db.models import AgentExecutionMetrics as AEM
from studio_analytics.db.models import ToolUsageMetrics as TUM

RAW_GROUPS = 2_000
_FOLDS = (
    (re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"), "<id>"),
    (re.compile(r"\bhttps?://[^\s'\"),]+"), "<url>"),
    (re.compile(r"'[^']*'"), "'<v>'"),
    (re.compile(r'"[^"]*"'), '"<v>"'),
    (re.compile(r"\b(?=[0-9a-fA-F]*[0-9])(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{8,}\b"), "<hex>"),
    (re.compile(r"\b\d+(?:\.\d+)?\b"), "<n>"),
)


def error_signature(message: str | None) -> str:
    """The shape of an error message: what stays when the varying details are folded."""
    if not message:
        return "(no message)"
    text = message.strip().splitlines()[0][:500]
    for pattern, placeholder in _FOLDS:
        text = pattern.sub(placeholder, text)
    return text


@dataclass
class _Group:
    example: str
    count: int = 0
    first: datetime | None = None
    last: datetime | None = None
    timeouts: int = 0
    messages: list[str] = field(default_factory=list)


def error_analysis(conn: Connection, tr: TimeRange, *, sort: str = "count", descending: bool = True,
                   limit: int = 50) -> ErrorAnalysis:
    where = in_range(AEM.start_time, tr)
    failed = status_in(AEM.status, FAILURE_VALUES + TIMEOUT_VALUES)
    _, _, failures, timeouts_, finished, _, _ = period_totals(conn, tr)  # from the rollups where there are some
    totals = (failures, timeouts_, finished)
    raw = conn.execute(
        select(AEM.error_message, func.count().label("n"), func.min(AEM.start_time), func.max(AEM.start_time),
               func.coalesce(func.sum(is_timeout(AEM.status)), 0))
        .where(where, failed).group_by(AEM.error_message).order_by(func.count().desc()).limit(RAW_GROUPS)
    ).all()
    groups: dict[str, _Group] = {}
    for message, n, first, last, timeouts in raw:
        sig = error_signature(message)
        g = groups.setdefault(sig, _Group(example=message or "(no message)"))
        g.count += int(n)
        g.timeouts += int(timeouts)
        g.first = first if g.first is None or first < g.first else g.first
        g.last = last if g.last is None or last > g.last else g.last
        g.messages.append(message)
    total_errors = int(totals[0]) + int(totals[1])
    keyed = {
        "count": lambda kv: kv[1].count, "first_seen": lambda kv: kv[1].first,
        "last_seen": lambda kv: kv[1].last, "signature": lambda kv: kv[0], "share": lambda kv: kv[1].count,
    }
    ordered = sorted(groups.items(), key=keyed.get(sort, keyed["count"]), reverse=descending)[:limit]
    top_agent, top_tool = _most_affected(conn, where, failed, [m for _, g in ordered for m in g.messages])
    result = []
    for sig, g in ordered:
        agents: Counter[str] = Counter()
        tools: Counter[str] = Counter()
        for m in g.messages:
            agents.update(top_agent.get(m, {}))
            tools.update(top_tool.get(m, {}))
        result.append(ErrorGroup(
            signature=sig, example=g.example, count=g.count, share=g.count / total_errors if total_errors else 0.0,
            first_seen=g.first, last_seen=g.last,  # type: ignore[arg-type]
            top_agent=agents.most_common(1)[0][0] if agents else None,
            top_tool=tools.most_common(1)[0][0] if tools else None,
            status="timeout" if g.timeouts * 2 > g.count else "failure",
        ))
    return ErrorAnalysis(
        total_failures=int(totals[0]), total_timeouts=int(totals[1]), error_rate=rate(total_errors, totals[2]),
        series=time_series(conn, tr), groups=tuple(result),
    )


def _most_affected(conn: Connection, where: object, failed: object, messages: list[str | None]
                   ) -> tuple[dict[str | None, Counter[str]], dict[str | None, Counter[str]]]:
    agents: dict[str | None, Counter[str]] = {}
    tools: dict[str | None, Counter[str]] = {}
    wanted = [m for m in messages if m is not None][:RAW_GROUPS]
    if not wanted:
        return agents, tools
    for message, agent, n in conn.execute(
        select(AEM.error_message, AEM.agent_name, func.count()).where(where, failed, AEM.error_message.in_(wanted))
        .group_by(AEM.error_message, AEM.agent_name)
    ):
        agents.setdefault(message, Counter())[agent] += int(n)
    for message, tool, n in conn.execute(
        select(AEM.error_message, TUM.tool_name, func.count()).join(TUM, TUM.execution_id == AEM.execution_id)
        .where(where, failed, AEM.error_message.in_(wanted), status_in(TUM.status, FAILURE_VALUES + TIMEOUT_VALUES))
        .group_by(AEM.error_message, TUM.tool_name)
    ):
        tools.setdefault(message, Counter())[tool] += int(n)
    return agents, tools
