"""The execution list: filters, two sort orders, keyset pages (no OFFSET at any depth)."""

from __future__ import annotations

import re
import uuid
from dataclasses import fields, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    String,
    and_,
    bindparam,
    case,
    cast,
    exists,
    false,
    func,
    not_,
    or_,
    select,
    true,
    tuple_,
    type_coerce,
)
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
from studio_analytics.db.models import WorkflowMetrics as WM
from studio_analytics.db.rollup_models import AgentHourlyRollup
from studio_analytics.db.types import uuid_from_int

SORTS = ("start_time", "duration_ms")
#: A filtered count stops after this many rows ("≥ 10,000"): it must answer in bounded time.
COUNT_CAP = 10_000
#: Larger than any row id: a cursor at (time, LAST_ID) starts a descending page *at* ``time``.
LAST_ID = 2**62
#: The ESCAPE character of every LIKE built from user text (same on SQLite and PostgreSQL).
LIKE_ESCAPE = "\\"
#: Characters of the query the list shows (its optional "Query" column).
QUERY_PREVIEW = 120
_PLACEHOLDER = re.compile(r"<(?:n|id|hex|url)>|'<v>'|\"<v>\"")


def execution_where(f: ExecutionFilter, *, model_calls: bool = True) -> list[ColumnElement[bool]]:
    """The range and filters as SQL whose values are bound parameters: pass
    :func:`execution_params` when executing. Which filters are set shapes the SQL
    (see :func:`filter_shape`). ``model_calls``: the database has the model-call table;
    without it the cost and model filters match nothing."""
    where: list[ColumnElement[bool]] = [AEM.start_time >= bindparam("r_start"), AEM.start_time < bindparam("r_end")]
    if f.agent_name:
        where.append(AEM.agent_name.ilike(bindparam("f_agent"), escape=LIKE_ESCAPE))
    if f.status:
        wanted = Status(f.status)
        where.append(status_in(AEM.status, tuple(raw for raw, st in STATUS_ALIASES.items() if st is wanted)))
    if f.session_id:
        where.append(AEM.session_id == bindparam("f_session"))
    if f.correlation_id:
        where.append(AEM.correlation_id == bindparam("f_correlation"))
    if f.user_id:
        where.append(AEM.user_id.ilike(bindparam("f_user"), escape=LIKE_ESCAPE))
    if f.text:
        pattern = bindparam("f_text")
        where.append(or_(*(column.ilike(pattern, escape=LIKE_ESCAPE)
                           for column in (AEM.query, AEM.response, AEM.error_message, AEM.agent_name))))
    if f.tool_name:
        where.append(exists().where(TUM.execution_id == AEM.execution_id,
                                    TUM.tool_name.ilike(bindparam("f_tool"), escape=LIKE_ESCAPE)))
    if f.error_signature:
        where.append(AEM.error_message.like(bindparam("f_signature"), escape=LIKE_ESCAPE))
    where.extend(_measure_where(f))
    if f.model is not None or f.min_cost_usd is not None:
        where.extend(_model_where(f) if model_calls else [false()])
    if f.workflow:
        where.append(_workflow_where())
    if f.has_error is not None:
        has = and_(AEM.error_message.is_not(None), AEM.error_message != "")
        where.append(has if f.has_error else not_(has))
    return where


def _measure_where(f: ExecutionFilter) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if f.min_duration_ms is not None:
        where.append(AEM.duration_ms >= bindparam("f_min_duration"))
    if f.max_duration_ms is not None:
        where.append(AEM.duration_ms <= bindparam("f_max_duration"))
    if f.min_tokens is not None:
        where.append(AEM.tokens_used >= bindparam("f_min_tokens"))
    return where


def _model_where(f: ExecutionFilter) -> list[ColumnElement[bool]]:
    """The execution's own model calls (ix_model_execution): one made to a matching
    model, or a priced total at least the minimum (unpriced calls count for nothing)."""
    mine = MCM.execution_id == AEM.execution_id
    where: list[ColumnElement[bool]] = []
    if f.model:
        where.append(exists().where(mine, MCM.model.ilike(bindparam("f_model"), escape=LIKE_ESCAPE)))
    if f.min_cost_usd is not None:
        cost = select(func.sum(MCM.cost_usd)).where(mine).scalar_subquery()
        where.append(cost >= bindparam("f_min_cost"))
    return where


def _id_hex(column: Any) -> ColumnElement[str]:
    """An id as 32 lower-case hex digits on both dialects: workflow ids are UUIDs (hex on
    SQLite, dashed on PostgreSQL) while correlation ids are the dashed text."""
    return func.replace(func.lower(cast(column, String)), "-", "")


def _workflow_where() -> ColumnElement[bool]:
    """Executions of a workflow given by id (dashed or not), or of any workflow whose
    type contains the text (case-insensitive); a workflow's executions carry its id as
    their correlation id."""
    typed = select(_id_hex(WM.workflow_id)).where(WM.workflow_type.ilike(bindparam("f_workflow_type"),
                                                                          escape=LIKE_ESCAPE),
                                                   WM.start_time < bindparam("r_end"))
    by_id = _id_hex(AEM.correlation_id)
    return or_(AEM.correlation_id == bindparam("f_workflow"), by_id == bindparam("f_workflow_hex"), by_id.in_(typed))


def filter_shape(f: ExecutionFilter) -> tuple[Any, ...]:
    """What of ``f`` shapes the SQL of :func:`execution_where` (which filters are set,
    the status and has-error values): the key of a cached statement."""
    out: list[Any] = []
    for field in fields(f):
        value = getattr(f, field.name)
        if field.name in ("status", "has_error"):
            out.append(value)
        elif field.name not in ("started_after", "started_before"):  # they narrow the range's parameters
            out.append(bool(value) if isinstance(value, str) or value is None else True)
    return tuple(out)


def narrowed(tr: TimeRange, f: ExecutionFilter) -> TimeRange:
    """The range cut to the filter's brushed span (never widened by it)."""
    start = tr.start if f.started_after is None else max(tr.start, f.started_after)
    end = tr.end if f.started_before is None else min(tr.end, f.started_before)
    return replace(tr, start=start, end=max(start, end))


def contains(text: str) -> str:
    """A LIKE pattern matching ``text`` anywhere, literally."""
    return f"%{escape_like(text)}%"


def escape_like(text: str) -> str:
    """``text`` matched literally inside a LIKE pattern using :data:`LIKE_ESCAPE`:
    a typed ``%``, ``_`` or backslash is not a wildcard."""
    return text.replace(LIKE_ESCAPE, LIKE_ESCAPE * 2).replace("%", LIKE_ESCAPE + "%").replace("_", LIKE_ESCAPE + "_")


def execution_params(tr: TimeRange, f: ExecutionFilter) -> dict[str, Any]:
    tr = narrowed(tr, f)
    params: dict[str, Any] = {"r_start": tr.start, "r_end": tr.end, "f_session": f.session_id,
                              "f_correlation": f.correlation_id}
    for key, value in (("f_agent", f.agent_name), ("f_user", f.user_id), ("f_tool", f.tool_name),
                       ("f_text", f.text), ("f_model", f.model), ("f_workflow_type", f.workflow)):
        if value:
            params[key] = escape_like(value) if f.exact and key != "f_text" else contains(value)
    if f.workflow:
        params["f_workflow"] = f.workflow
        try:
            params["f_workflow_hex"] = uuid.UUID(f.workflow.strip()).hex
        except ValueError:
            params["f_workflow_hex"] = ""  # not an id: matches no correlation id
    params.update({"f_min_duration": f.min_duration_ms, "f_max_duration": f.max_duration_ms,
                   "f_min_tokens": f.min_tokens, "f_min_cost": f.min_cost_usd})
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
            func.sum(case((MCM.cost_usd.is_(None), 1), else_=0)).label("m_unpriced_calls"),
            func.min(MCM.model).label("m_model"), func.count(func.distinct(MCM.model)).label("m_models")]
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
                   calls.c.m_cost_usd, calls.c.m_unpriced_calls, calls.c.m_model, calls.c.m_models)
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


def list_order(sort: str, descending: bool) -> tuple[Any, Any]:
    """The list's ORDER BY for a sort: the key, then the row id, both in one direction
    (the keyset pages' order; an export in the view's order uses it too)."""
    if sort not in SORTS:
        raise ValueError(f"cannot sort executions by {sort!r}")
    key = AEM.start_time if sort == "start_time" else func.coalesce(AEM.duration_ms, -1.0)
    return (key.desc(), AEM.id.desc()) if descending else (key.asc(), AEM.id.asc())


def _page_statement(dialect: str, sort: str, descending: bool, has_cursor: bool, f: ExecutionFilter,
                    limit: int, models: bool) -> Any:
    """The page query with every value a bound parameter (see :func:`_page_params`);
    built once per shape: building it cost more than the database's answer."""
    key = AEM.start_time if sort == "start_time" else func.coalesce(AEM.duration_ms, -1.0)
    where = execution_where(f, model_calls=models)
    if has_cursor:
        # A row-value comparison lets SQLite and PostgreSQL seek the (key, id) index
        # straight to the cursor; the equivalent OR form made deep pages scan.
        position = tuple_(key, AEM.id)
        cursor = tuple_(bindparam("c_value", type_=key.type), bindparam("c_id"))
        where.append(position < cursor if descending else position > cursor)
    order = list_order(sort, descending)
    columns = [AEM.id, type_coerce(AEM.execution_id, String).label("execution_id"), AEM.agent_name, AEM.start_time,
               AEM.duration_ms, AEM.status, AEM.tool_count, AEM.tokens_used, AEM.session_id, AEM.user_id,
               func.substr(AEM.error_message, 1, 200).label("error"),
               func.substr(AEM.query, 1, QUERY_PREVIEW).label("query_preview"), AEM.correlation_id]
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
    shape = (conn.dialect.name, sort, descending, after is not None, limit, filter_shape(f), models)
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
    types = _workflow_types(conn, {row.correlation_id for row in rows if row.correlation_id})
    for row_id, eid, agent, start, duration, raw, tools, tokens, session, user, error, query, corr, *extra in rows:
        if f.error_signature and error_signature(error) != f.error_signature:
            continue
        status = status_name(raw) or normalize_status(raw).value
        listed = (query, corr, types.get(corr) if corr else None)
        if models:
            n_in, n_out, cost, unpriced, model, n_models = extra[-6:]
            out.append(ExecutionRow(_uuid(eid), agent, start, duration, status, int(tools or 0), tokens, session,
                                    user, error, row_id, n_in, n_out, cost, unpriced or 0, *listed, model,
                                    int(n_models or 0)))
        else:
            out.append(ExecutionRow(_uuid(eid), agent, start, duration, status, int(tools or 0), tokens, session,
                                    user, error, row_id, None, None, None, 0, *listed))
    return ExecutionPage(rows=tuple(out), next_cursor=cursor)


def _workflow_types(conn: Connection, correlation_ids: set[str]) -> dict[str, str]:
    """The workflow type of each correlation id that is a workflow's id: one indexed
    lookup for the page's ids (at most a page of them), none when the page has none."""
    ids: dict[uuid.UUID, str] = {}
    for text in correlation_ids:
        try:
            ids[uuid.UUID(text)] = text
        except ValueError:
            continue  # a correlation id that is not a workflow's
    if not ids:
        return {}
    found = conn.execute(select(WM.workflow_id, WM.workflow_type).where(WM.workflow_id.in_(list(ids))))
    return {ids[_uuid(wid)]: wtype for wid, wtype in found}


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
            conds.append(AEM.agent_name.ilike(bindparam("f_agent"), escape=LIKE_ESCAPE))
        return select(func.count().label("n")).where(*conds)

    rolled = select(R.executions.label("n"))
    if by_agent:
        rolled = rolled.where(R.agent_name.ilike(bindparam("f_agent"), escape=LIKE_ESCAPE))
    u = combined(split, raw, AEM.start_time, rolled, R.hour)
    return select(zsum(u.c.n))


def _rollup_count(conn: Connection, tr: TimeRange, agent_name: str | None, *, exact: bool = False) -> int:
    """Executions of the range (of the agents whose name contains ``agent_name``, or is it
    when ``exact``) from
    whole hours of rollups plus the raw rows of the partial edge hours: exact, and as
    fast for 30 days as for one hour."""
    split = split_range(conn, tr)
    stmt = cached_statement(("count", conn.dialect.name, split.shape, agent_name is not None),
                            lambda: _rollup_count_statement(split, agent_name is not None))
    pattern = None if agent_name is None else escape_like(agent_name) if exact else contains(agent_name)
    return int(conn.execute(stmt, {**split.params(), "f_agent": pattern}).scalar() or 0)


def _only_agent(f: ExecutionFilter) -> bool:
    """Filtered by agent (and a brushed span) only: countable from the rollups."""
    return f == ExecutionFilter(agent_name=f.agent_name, started_after=f.started_after,
                                started_before=f.started_before, exact=f.exact)


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
        return ExecutionCount(range_total=total, matching=_rollup_count(conn, narrowed(tr, f), f.agent_name or None,
                                                                        exact=f.exact))
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
    inner = select(AEM.id).where(*execution_where(f, model_calls=has_model_calls(conn))).limit(cap + 1).subquery()
    n = int(conn.execute(select(func.count()).select_from(inner), execution_params(tr, f)).scalar() or 0)
    return ExecutionCount(range_total=total, matching=min(n, cap), capped=n > cap)
