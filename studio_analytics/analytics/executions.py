"""The execution list: filters, two sort orders, keyset pages (no OFFSET at any depth)."""

from __future__ import annotations

import re
import uuid
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import String, bindparam, case, exists, func, or_, select, true, tuple_, type_coerce
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from studio_analytics.analytics.errors import error_signature
from studio_analytics.analytics.results import (
    ExecutionCount,
    ExecutionFilter,
    ExecutionPage,
    ExecutionRow,
    PageCursor,
    TimeRange,
)
from studio_analytics.analytics.rollup_sources import cached_statement, combined, split_range, zsum
from studio_analytics.analytics.sql import status_in
from studio_analytics.db.capabilities import has_model_calls
from studio_analytics.db.models import STATUS_ALIASES, Status, normalize_status
from studio_analytics.db.models import AgentExecutionMetrics as AEM
from studio_analytics.db.models import ModelCallMetrics as MCM
from studio_analytics.db.models import ToolUsageMetrics as TUM
from studio_analytics.db.rollup_models import AgentHourlyRollup
from studio_analytics.db.types import uuid_from_int

SORTS = ("start_time", "duration_ms")
#: A filtered count stops after this many rows ("≥ 10,000"): it must answer in bounded time.
COUNT_CAP = 10_000
#: Larger than any row id: a cursor at (time, LAST_ID) starts a descending page *at* ``time``.
LAST_ID = 2**62
#: The ESCAPE character of every LIKE built from user text (same on SQLite and PostgreSQL).
LIKE_ESCAPE = "\\"
_PLACEHOLDER = re.compile(r"<(?:n|id|hex|url)>|'<v>'|\"<v>\"")


def execution_where(f: ExecutionFilter) -> list[ColumnElement[bool]]:
    """The range and filters as SQL whose values are bound parameters: pass
    :func:`execution_params` when executing. Which filters are set shapes the SQL."""
    where: list[ColumnElement[bool]] = [AEM.start_time >= bindparam("r_start"), AEM.start_time < bindparam("r_end")]
    if f.agent_name:
        where.append(AEM.agent_name == bindparam("f_agent"))
    if f.status:
        wanted = Status(f.status)
        where.append(status_in(AEM.status, tuple(raw for raw, st in STATUS_ALIASES.items() if st is wanted)))
    if f.session_id:
        where.append(AEM.session_id == bindparam("f_session"))
    if f.correlation_id:
        where.append(AEM.correlation_id == bindparam("f_correlation"))
    if f.user_id:
        where.append(AEM.user_id == bindparam("f_user"))
    if f.text:
        pattern = bindparam("f_text")
        where.append(or_(*(column.ilike(pattern, escape=LIKE_ESCAPE)
                           for column in (AEM.query, AEM.error_message, AEM.agent_name))))
    if f.tool_name:
        where.append(exists().where(TUM.execution_id == AEM.execution_id, TUM.tool_name == bindparam("f_tool")))
    if f.error_signature:
        where.append(AEM.error_message.like(bindparam("f_signature"), escape=LIKE_ESCAPE))
    return where


def escape_like(text: str) -> str:
    """``text`` matched literally inside a LIKE pattern using :data:`LIKE_ESCAPE`:
    a typed ``%``, ``_`` or backslash is not a wildcard."""
    return text.replace(LIKE_ESCAPE, LIKE_ESCAPE * 2).replace("%", LIKE_ESCAPE + "%").replace("_", LIKE_ESCAPE + "_")


def execution_params(tr: TimeRange, f: ExecutionFilter) -> dict[str, Any]:
    params: dict[str, Any] = {"r_start": tr.start, "r_end": tr.end, "f_agent": f.agent_name,
                              "f_session": f.session_id, "f_correlation": f.correlation_id, "f_user": f.user_id,
                              "f_tool": f.tool_name}
    if f.text:
        params["f_text"] = f"%{escape_like(f.text)}%"
    if f.error_signature:
        # The signature's fixed parts as a LIKE pattern; the page is checked exactly below.
        params["f_signature"] = _PLACEHOLDER.sub("%", escape_like(f.error_signature)) + "%"
    return params


def _with_model_sums(page: Any, key_label: str, descending: bool, dialect: str) -> Any:
    """The page (a statement with an ``eid`` column) with its rows' model-call sums
    (``m_*``): the page is computed once, then its executions' calls are read through
    ix_model_execution — one index seek per row, a quarter of what four correlated
    subqueries cost. The page's own query, and so its keyset seek, is unchanged."""
    rows = page.cte("page")
    sums = [func.sum(MCM.input_tokens).label("m_input_tokens"), func.sum(MCM.output_tokens).label("m_output_tokens"),
            func.sum(MCM.cost_usd).label("m_cost_usd"),
            func.sum(case((MCM.cost_usd.is_(None), 1), else_=0)).label("m_unpriced_calls")]
    if dialect == "postgresql":
        # LATERAL: a lookup per row whatever the table's size (with IN, the planner
        # hashed the whole table when it was small enough to look cheap).
        calls = select(*sums).where(MCM.execution_id == rows.c.eid).lateral("calls")
        joined = rows.outerjoin(calls, true())
    else:
        calls = select(MCM.execution_id.label("eid"), *sums).where(
            MCM.execution_id.in_(select(rows.c.eid))).group_by(MCM.execution_id).subquery()
        joined = rows.outerjoin(calls, calls.c.eid == rows.c.eid)
    order = (rows.c[key_label], rows.c.id)
    return (select(*(c for c in rows.c if c.key != "eid"), calls.c.m_input_tokens, calls.c.m_output_tokens,
                   calls.c.m_cost_usd, calls.c.m_unpriced_calls)
            .select_from(joined).order_by(*(c.desc() if descending else c.asc() for c in order)))


def execution_model_columns() -> list[Any]:
    """Per execution row selected: ``m_input_tokens``, ``m_output_tokens``, ``m_cost_usd``
    (NULL when none of its model calls is priced) and ``m_unpriced_calls`` of its own
    model calls — correlated aggregates that seek ix_model_execution, so a page of 200
    rows reads only its rows' calls."""
    mine = MCM.execution_id == AEM.execution_id
    return [
        select(func.sum(column)).where(mine).scalar_subquery().label(f"m_{name}")
        for name, column in (("input_tokens", MCM.input_tokens), ("output_tokens", MCM.output_tokens),
                             ("cost_usd", MCM.cost_usd))
    ] + [select(func.count()).where(mine, MCM.cost_usd.is_(None)).scalar_subquery().label("m_unpriced_calls")]


def model_fields(r: Any) -> dict[str, Any]:
    """ExecutionRow's model-call fields from a row read with :func:`execution_model_columns`."""
    return {"input_tokens": r.m_input_tokens, "output_tokens": r.m_output_tokens,
            "cost_usd": None if r.m_cost_usd is None else float(r.m_cost_usd),
            "unpriced_calls": int(r.m_unpriced_calls or 0)}


def _page_statement(dialect: str, sort: str, descending: bool, has_cursor: bool, f: ExecutionFilter,
                    limit: int, models: bool) -> Any:
    """The page query with every value a bound parameter (see :func:`_page_params`);
    built once per shape: building it cost more than the database's answer."""
    key = AEM.start_time if sort == "start_time" else func.coalesce(AEM.duration_ms, -1.0)
    where = execution_where(f)
    if has_cursor:
        # A row-value comparison lets SQLite and PostgreSQL seek the (key, id) index
        # straight to the cursor; the equivalent OR form made deep pages scan.
        position = tuple_(key, AEM.id)
        cursor = tuple_(bindparam("c_value", type_=key.type), bindparam("c_id"))
        where.append(position < cursor if descending else position > cursor)
    order = (key.desc(), AEM.id.desc()) if descending else (key.asc(), AEM.id.asc())
    columns = [AEM.id, type_coerce(AEM.execution_id, String).label("execution_id"), AEM.agent_name, AEM.start_time,
               AEM.duration_ms, AEM.status, AEM.tool_count, AEM.tokens_used, AEM.session_id, AEM.user_id,
               func.substr(AEM.error_message, 1, 200).label("error")]
    if sort != "start_time":
        columns.append(key.label("k"))  # start_time is already there
    if not models:
        return select(*columns).where(*where).order_by(*order).limit(limit + 1)
    page = select(*columns, AEM.execution_id.label("eid")).where(*where).order_by(*order).limit(limit + 1)
    return _with_model_sums(page, "start_time" if sort == "start_time" else "k", descending, dialect)


def _page_params(tr: TimeRange, f: ExecutionFilter, after: PageCursor | None) -> dict[str, Any]:
    params = execution_params(tr, f)
    if after is not None:
        params["c_value"], params["c_id"] = after.sort_value, after.row_id
    return params


_STATUS_NAMES = {raw: status.value for raw, status in STATUS_ALIASES.items()}


def _uuid(value: Any) -> uuid.UUID:
    """A stored id as a UUID: PostgreSQL's driver gives one, SQLite 32 hex digits."""
    return value if isinstance(value, uuid.UUID) else uuid_from_int(int(value, 16))


def list_executions(conn: Connection, tr: TimeRange, *, filters: ExecutionFilter = ExecutionFilter(),  # noqa: B008
                    sort: str = "start_time", descending: bool = True, after: PageCursor | None = None,
                    limit: int = 200) -> ExecutionPage:
    if sort not in SORTS:
        raise ValueError(f"cannot sort executions by {sort!r}")
    if after is not None and sort == "start_time":
        # Narrow the range itself to the cursor: SQLite seeks the index by the range's
        # bounds, and ignores a second bound on the same column.
        edge = after.sort_value
        tr = (replace(tr, end=min(tr.end, edge + timedelta(microseconds=1))) if descending
              else replace(tr, start=max(tr.start, edge)))
    f = filters
    models = has_model_calls(conn)
    shape = (conn.dialect.name, sort, descending, after is not None, limit, f.status, bool(f.agent_name),
             bool(f.session_id), bool(f.correlation_id), bool(f.user_id), bool(f.text), bool(f.tool_name),
             bool(f.error_signature), models)
    stmt = cached_statement(("page", *shape), lambda: _page_statement(conn.dialect.name, sort, descending,
                                                                      after is not None, f, limit, models))
    rows = conn.execute(stmt, _page_params(tr, f, after)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    cursor = None
    if more and rows:
        last = rows[-1]
        cursor = PageCursor(sort_value=last.start_time if sort == "start_time" else last.k, row_id=last.id)
    status_name = _STATUS_NAMES.get
    out = []
    # Unpacked by position (the statement's column order): a page is 200 rows on every
    # refresh, and reading a Row's fields by name cost more than the query.
    for row_id, eid, agent, start, duration, raw, tools, tokens, session, user, error, *extra in rows:
        if f.error_signature and error_signature(error) != f.error_signature:
            continue
        status = status_name(raw) or normalize_status(raw).value
        if models:
            n_in, n_out, cost, unpriced = extra[-4:]
            out.append(ExecutionRow(_uuid(eid), agent, start, duration, status, int(tools or 0), tokens, session,
                                    user, error, row_id, n_in, n_out, cost, unpriced or 0))
        else:
            out.append(ExecutionRow(_uuid(eid), agent, start, duration, status, int(tools or 0), tokens, session,
                                    user, error, row_id))
    return ExecutionPage(rows=tuple(out), next_cursor=cursor)


def cursor_at(when: datetime) -> PageCursor:
    """The newest-first keyset position just after ``when``: a page from it starts with
    the newest row whose start_time is at or before ``when`` ("go to time")."""
    return PageCursor(sort_value=when, row_id=LAST_ID)


def list_oldest_executions(conn: Connection, tr: TimeRange, *,
                           filters: ExecutionFilter = ExecutionFilter(),  # noqa: B008
                           limit: int = 200) -> ExecutionPage:
    """The ``limit`` oldest executions of the range, newest first (the list's End key).
    Read ascending from the range's start, so the index seeks instead of walking the range."""
    page = list_executions(conn, tr, filters=filters, sort="start_time", descending=False, limit=limit)
    return ExecutionPage(rows=tuple(reversed(page.rows)), next_cursor=None)


def list_newer_executions(conn: Connection, tr: TimeRange, newest: PageCursor, *,
                          filters: ExecutionFilter = ExecutionFilter(),  # noqa: B008
                          limit: int = 2_000) -> ExecutionPage | None:
    """Rows after ``newest`` (start_time, id) in the range, newest first: what a live list
    prepends on refresh. None when more than ``limit`` arrived: reload instead."""
    page = list_executions(conn, tr, filters=filters, sort="start_time", descending=False, after=newest,
                           limit=limit)
    if page.next_cursor is not None:
        return None
    return ExecutionPage(rows=tuple(reversed(page.rows)), next_cursor=None)


def _rollup_count_statement(split: Any, by_agent: bool) -> Any:
    R = AgentHourlyRollup

    def raw(where: ColumnElement[bool]) -> Any:
        conds = [where]
        if by_agent:
            conds.append(AEM.agent_name == bindparam("f_agent"))
        return select(func.count().label("n")).where(*conds)

    rolled = select(R.executions.label("n"))
    if by_agent:
        rolled = rolled.where(R.agent_name == bindparam("f_agent"))
    u = combined(split, raw, AEM.start_time, rolled, R.hour)
    return select(zsum(u.c.n))


def _rollup_count(conn: Connection, tr: TimeRange, agent_name: str | None) -> int:
    """Executions of the range (of one agent) from whole hours of rollups plus the raw
    rows of the partial edge hours: exact, and as fast for 30 days as for one hour."""
    split = split_range(conn, tr)
    stmt = cached_statement(("count", conn.dialect.name, split.shape, agent_name is not None),
                            lambda: _rollup_count_statement(split, agent_name is not None))
    return int(conn.execute(stmt, {**split.params(), "f_agent": agent_name}).scalar() or 0)


def _only_agent(f: ExecutionFilter) -> bool:
    return f == ExecutionFilter(agent_name=f.agent_name)


def count_executions(conn: Connection, tr: TimeRange, *,
                     filters: ExecutionFilter = ExecutionFilter(),  # noqa: B008
                     cap: int = COUNT_CAP) -> ExecutionCount:
    """The range's executions (exact, from rollups) and how many match ``filters``:
    exact from rollups when unfiltered or filtered by agent only, otherwise counted
    from raw rows up to ``cap`` (a ``LIMIT cap + 1`` subquery, so a broad filter over
    millions of rows still answers quickly) and ``capped`` beyond it."""
    total = _rollup_count(conn, tr, None)
    f = filters
    if f == ExecutionFilter():
        return ExecutionCount(range_total=total, matching=total)
    if _only_agent(f):
        return ExecutionCount(range_total=total, matching=_rollup_count(conn, tr, f.agent_name))
    if f.error_signature:
        # The signature is checked exactly in Python per row (see list_executions): count
        # the pages' rows, still bounded by the cap.
        n, cursor = 0, None
        while n <= cap:
            page = list_executions(conn, tr, filters=f, after=cursor, limit=1_000)
            n += len(page.rows)
            cursor = page.next_cursor
            if cursor is None:
                return ExecutionCount(range_total=total, matching=n)
        return ExecutionCount(range_total=total, matching=cap, capped=True)
    inner = select(AEM.id).where(*execution_where(f)).limit(cap + 1).subquery()
    n = int(conn.execute(select(func.count()).select_from(inner), execution_params(tr, f)).scalar() or 0)
    return ExecutionCount(range_total=total, matching=min(n, cap), capped=n > cap)
