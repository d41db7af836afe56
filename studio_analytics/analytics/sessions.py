"""Session activity: how many, how long, how busy, how successful, and who.

The range's sessions are those with an execution in the range — the same definition as
the overview's "Sessions in range" — and every figure counts their executions *in the
range*: queries per session, success rate, duration (first execution start to last
execution end in the range), the users with most sessions, sessions per bucket of their
first execution in the range, and "active" = sessions with an execution still running.
Whole hours come from ``rollup_session_hourly`` (revision 0004), so a pruned period keeps
its figures; the list (``recent``, :func:`list_sessions`) shows the ``session_metrics``
rows of those sessions, raw rows that a prune removes with their last execution.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sqlalchemy import case, func, literal, select, tuple_
from sqlalchemy.engine import Connection

from studio_analytics.analytics.figure_sources import figure_split, session_parts, user_parts
from studio_analytics.analytics.results import (
    PageCursor,
    SessionActivity,
    SessionPage,
    SessionRow,
    TimeRange,
)
from studio_analytics.analytics.sql import bucket_epoch, rate
from studio_analytics.analytics.timerange import BUCKET_SECONDS, bucket_starts
from studio_analytics.db.capabilities import has_model_calls
from studio_analytics.db.models import AgentExecutionMetrics as AEM
from studio_analytics.db.models import ModelCallMetrics as MCM
from studio_analytics.db.models import SessionMetrics as SM

SESSION_SORTS = {"session_id", "user_id", "start_time", "end_time", "duration_ms", "total_queries",
                 "successful_queries", "failed_queries", "unique_agents_count", "average_response_time_ms",
                 "total_tokens_used"}


def session_activity(conn: Connection, tr: TimeRange, *, sort: str = "start_time", descending: bool = True,
                     limit: int = 200) -> SessionActivity:
    """The range's sessions: those with an execution in it (see the module's docstring)."""
    if sort not in SESSION_SORTS:
        raise ValueError(f"cannot sort sessions by {sort!r}")
    split = figure_split(conn, tr)
    params = split.params()
    parts = session_parts(split)
    per_session = select(
        parts.c.session_id, func.sum(parts.c.executions).label("n"), func.sum(parts.c.successes).label("ok"),
        func.sum(parts.c.executions - parts.c.finished).label("unfinished"),
        func.min(parts.c.first_start).label("first"), func.max(parts.c.last_end).label("last"),
    ).group_by(parts.c.session_id).subquery()
    span = _span_ms(conn, per_session.c.first, per_session.c.last)
    size = BUCKET_SECONDS[tr.bucket]
    bucket = bucket_epoch(conn, per_session.c.first, size).label("b")
    starts = bucket_starts(tr)
    index = {b: i for i, b in enumerate(starts)}
    started = np.zeros(len(starts), dtype=np.int64)
    # One pass over the sessions, per bucket of their first execution; the totals add up here.
    total = active = queries = ok = 0
    span_sum, span_count = 0.0, 0
    for b, n, unfinished, spans, spanned, executions, successes in conn.execute(
        select(bucket, func.count(), func.sum(case((per_session.c.unfinished > 0, 1), else_=0)), func.sum(span),
               func.count(span), func.sum(per_session.c.n), func.sum(per_session.c.ok)).group_by(bucket), params
    ):
        if int(b) in index:
            started[index[int(b)]] = n
        total += n
        active += int(unfinished or 0)
        queries += int(executions or 0)
        ok += int(successes or 0)
        span_sum += float(spans or 0.0)
        span_count += int(spanned or 0)
    avg_ms = span_sum / span_count if span_count else None
    avg_q = queries / total if total else None
    users = user_parts(split)
    sessions_of_user = func.count(users.c.session_id.distinct())
    top_users = conn.execute(
        select(users.c.user_id, sessions_of_user).where(users.c.session_id != "", users.c.user_id != "")
        .group_by(users.c.user_id).order_by(sessions_of_user.desc(), users.c.user_id).limit(10), params
    ).all()
    # The order of list_sessions, so ``recent`` is its first page and the window pages on from it.
    key = _session_key(sort)
    order = (key.desc(), SM.id.desc()) if descending else (key.asc(), SM.id.asc())
    recent = conn.execute(select(SM, *session_cost_columns(conn)).where(*_listed(tr)).order_by(*order)
                          .limit(limit)).mappings()
    return SessionActivity(
        active_sessions=int(active), total_sessions=int(total),
        avg_duration_ms=None if avg_ms is None else float(avg_ms),
        avg_queries_per_session=None if avg_q is None else float(avg_q),
        success_rate=rate(ok, queries), top_users=tuple((u, int(n)) for u, n in top_users),
        bucket_starts=np.asarray(starts, dtype=np.float64), sessions_started=started,
        recent=tuple(session_row(r) for r in recent),
    )


def _span_ms(conn: Connection, first: Any, last: Any) -> Any:
    """Milliseconds from ``first`` to ``last`` (two timestamp columns) in SQL."""
    if conn.dialect.name == "sqlite":
        return (func.julianday(last) - func.julianday(first)) * 86_400_000.0
    return func.extract("epoch", last - first) * 1000.0


def _listed(tr: TimeRange) -> list[Any]:
    """The session rows of the range's sessions (with an execution in it). The bounds on
    the session's own span come first: it covers its executions (the writer keeps it so),
    which keeps the EXISTS to the sessions near the range."""
    execution = (select(AEM.id).where(AEM.session_id == SM.session_id, AEM.start_time >= tr.start,
                                      AEM.start_time < tr.end).exists())
    return [SM.start_time < tr.end, (SM.end_time >= tr.start) | SM.end_time.is_(None), execution]


def session_row(r: object) -> SessionRow:
    m = r  # a RowMapping of session_metrics
    return SessionRow(
        session_id=m["session_id"], user_id=m["user_id"], start_time=m["start_time"], end_time=m["end_time"],  # type: ignore[index]
        duration_ms=m["duration_ms"], total_queries=int(m["total_queries"] or 0),  # type: ignore[index]
        successful_queries=int(m["successful_queries"] or 0), failed_queries=int(m["failed_queries"] or 0),  # type: ignore[index]
        unique_agents_count=int(m["unique_agents_count"] or 0),  # type: ignore[index]
        average_response_time_ms=m["average_response_time_ms"],  # type: ignore[index]
        total_tokens_used=int(m["total_tokens_used"] or 0), is_active=bool(m["is_active"]),  # type: ignore[index]
        row_id=m["id"],  # type: ignore[index]
        # present when read with session_cost_columns()
        cost_usd=m.get("cost_usd"), unpriced_calls=int(m.get("unpriced_calls") or 0),  # type: ignore[attr-defined]
    )


def session_cost_columns(conn: Connection) -> list[Any]:
    """``cost_usd`` (of the session's priced model calls; NULL when none is priced) and
    ``unpriced_calls`` for each session row selected (indexed by ix_model_session);
    nothing on a database without model calls."""
    if not has_model_calls(conn):
        return []
    mine = MCM.session_id == SM.session_id
    return [
        select(func.sum(MCM.cost_usd)).where(mine).scalar_subquery().label("cost_usd"),
        select(func.count()).where(mine, MCM.cost_usd.is_(None)).scalar_subquery().label("unpriced_calls"),
    ]


#: What a NULL sorts as in a keyset page: a keyset cannot compare with NULL, so NULLs
#: become a value below every real one (last when descending, as in the capped list).
_NULL_KEY: dict[str, Any] = {"user_id": "", "duration_ms": -1.0, "average_response_time_ms": -1.0,
                             # shown as 0 (session_row), so sorted as 0
                             "total_queries": 0, "successful_queries": 0, "failed_queries": 0,
                             "unique_agents_count": 0, "total_tokens_used": 0}


def _session_key(sort: str) -> Any:
    column = getattr(SM, sort)
    if sort == "end_time":
        return func.coalesce(SM.end_time, SM.start_time)  # still open: as if it ended when it began
    if sort in _NULL_KEY:
        return func.coalesce(column, literal(_NULL_KEY[sort]))
    return column


def list_sessions(conn: Connection, tr: TimeRange, *, sort: str = "start_time", descending: bool = True,
                  after: PageCursor | None = None, limit: int = 200) -> SessionPage:
    """One keyset page of the range's sessions (no OFFSET at any depth):
    rows after ``after`` in (sort key, id) order, and the cursor of the next page."""
    if sort not in SESSION_SORTS:
        raise ValueError(f"cannot sort sessions by {sort!r}")
    key = _session_key(sort)
    where = _listed(tr)
    if after is not None:
        position, cursor = tuple_(key, SM.id), tuple_(literal(after.sort_value, type_=key.type), literal(after.row_id))
        where.append(position < cursor if descending else position > cursor)
    order = (key.desc(), SM.id.desc()) if descending else (key.asc(), SM.id.asc())
    rows = conn.execute(select(SM, key.label("k"), *session_cost_columns(conn)).where(*where).order_by(*order)
                        .limit(limit + 1)).mappings().all()
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = PageCursor(sort_value=rows[-1]["k"], row_id=rows[-1]["id"]) if more and rows else None
    return SessionPage(rows=tuple(session_row(r) for r in rows), next_cursor=next_cursor)


def session_cursor(row: SessionRow, sort: str) -> PageCursor:
    """The keyset position of ``row`` in a list sorted by ``sort`` (see :func:`list_sessions`)."""
    if row.row_id is None:
        raise ValueError("a session row without its id cannot start a page")
    if sort == "end_time":
        value: Any = row.end_time or row.start_time
    else:
        value = getattr(row, sort)
        if value is None:
            value = _NULL_KEY.get(sort)
    return PageCursor(sort_value=value, row_id=row.row_id)


def count_sessions(conn: Connection, tr: TimeRange) -> int:
    """The range's sessions: distinct sessions with an execution in it (rollups for whole hours)."""
    split = figure_split(conn, tr)
    parts = session_parts(split)
    return int(conn.execute(select(func.count(parts.c.session_id.distinct())), split.params()).scalar() or 0)
