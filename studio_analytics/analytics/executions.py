"""The execution list: filters, two sort orders, keyset pages (no OFFSET at any depth)."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta
from typing import Any

from sqlalchemy import exists, func, literal, or_, select, tuple_
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from studio_analytics.analytics.errors import error_signature
from studio_analytics.analytics.results import (
    ExecutionFilter,
    ExecutionPage,
    ExecutionRow,
    PageCursor,
    TimeRange,
)
from studio_analytics.analytics.sql import in_range
from studio_analytics.db.models import STATUS_ALIASES, Status, normalize_status
from studio_analytics.db.models import AgentExecutionMetrics as AEM
from studio_analytics.db.models import ToolUsageMetrics as TUM

SORTS = ("start_time", "duration_ms")
_PLACEHOLDER = re.compile(r"<(?:n|id|hex|url)>|'<v>'|\"<v>\"")


def execution_where(tr: TimeRange, f: ExecutionFilter) -> list[ColumnElement[bool]]:
    where = [in_range(AEM.start_time, tr)]
    if f.agent_name:
        where.append(AEM.agent_name == f.agent_name)
    if f.status:
        wanted = Status(f.status)
        where.append(AEM.status.in_([raw for raw, s in STATUS_ALIASES.items() if s is wanted]))
    if f.session_id:
        where.append(AEM.session_id == f.session_id)
    if f.correlation_id:
        where.append(AEM.correlation_id == f.correlation_id)
    if f.user_id:
        where.append(AEM.user_id == f.user_id)
    if f.text:
        pattern = f"%{f.text}%"
        where.append(or_(AEM.query.ilike(pattern), AEM.error_message.ilike(pattern), AEM.agent_name.ilike(pattern)))
    if f.tool_name:
        where.append(exists().where(TUM.execution_id == AEM.execution_id, TUM.tool_name == f.tool_name))
    if f.error_signature:
        # The signature's fixed parts as a LIKE pattern; the page is checked exactly below.
        like = _PLACEHOLDER.sub("%", f.error_signature.replace("%", "\\%").replace("_", "\\_"))
        where.append(AEM.error_message.like(like + "%", escape="\\"))
    return where


def literal_key(key: Any, value: Any) -> Any:
    """The cursor's sort value, bound with the key column's type (UTC timestamps stay UTC)."""
    return literal(value, type_=key.type)


def list_executions(conn: Connection, tr: TimeRange, *, filters: ExecutionFilter = ExecutionFilter(),  # noqa: B008
                    sort: str = "start_time", descending: bool = True, after: PageCursor | None = None,
                    limit: int = 200) -> ExecutionPage:
    if sort not in SORTS:
        raise ValueError(f"cannot sort executions by {sort!r}")
    key = AEM.start_time if sort == "start_time" else func.coalesce(AEM.duration_ms, -1.0)
    if after is not None and sort == "start_time":
        # Narrow the range itself to the cursor: SQLite seeks the index by the range's
        # bounds, and ignores a second bound on the same column.
        edge = after.sort_value
        tr = (replace(tr, end=min(tr.end, edge + timedelta(microseconds=1))) if descending
              else replace(tr, start=max(tr.start, edge)))
    where = execution_where(tr, filters)
    if after is not None:
        # A row-value comparison lets SQLite and PostgreSQL seek the (key, id) index
        # straight to the cursor; the equivalent OR form made deep pages scan.
        position, cursor = tuple_(key, AEM.id), tuple_(literal_key(key, after.sort_value), after.row_id)
        where.append(position < cursor if descending else position > cursor)
    order = (key.desc(), AEM.id.desc()) if descending else (key.asc(), AEM.id.asc())
    columns = [AEM.id, AEM.execution_id, AEM.agent_name, AEM.start_time, AEM.duration_ms, AEM.status,
               AEM.tool_count, AEM.tokens_used, AEM.session_id, AEM.user_id,
               func.substr(AEM.error_message, 1, 200).label("error")]
    if sort != "start_time":
        columns.append(key.label("k"))  # start_time is already there
    rows = conn.execute(select(*columns).where(*where).order_by(*order).limit(limit + 1)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    cursor = None
    if more and rows:
        last = rows[-1]
        cursor = PageCursor(sort_value=last.start_time if sort == "start_time" else last.k, row_id=last.id)
    out = [
        ExecutionRow(
            execution_id=r.execution_id, agent_name=r.agent_name, start_time=r.start_time, duration_ms=r.duration_ms,
            status=normalize_status(r.status).value, tool_count=int(r.tool_count or 0), tokens_used=r.tokens_used,
            session_id=r.session_id, user_id=r.user_id, error_message=r.error,
        )
        for r in rows
        if not filters.error_signature or error_signature(r.error) == filters.error_signature
    ]
    return ExecutionPage(rows=tuple(out), next_cursor=cursor)
