"""Session activity: how many, how long, how busy, how successful, and who."""

from __future__ import annotations

from typing import Any

import numpy as np
from sqlalchemy import func, literal, select, tuple_
from sqlalchemy.engine import Connection

from studio_analytics.analytics.results import (
    PageCursor,
    SessionActivity,
    SessionPage,
    SessionRow,
    TimeRange,
)
from studio_analytics.analytics.sql import bucket_epoch, in_range, rate
from studio_analytics.analytics.timerange import BUCKET_SECONDS, bucket_starts
from studio_analytics.db.capabilities import has_model_calls
from studio_analytics.db.models import ModelCallMetrics as MCM
from studio_analytics.db.models import SessionMetrics as SM

SESSION_SORTS = {"session_id", "user_id", "start_time", "end_time", "duration_ms", "total_queries",
                 "successful_queries", "failed_queries", "unique_agents_count", "average_response_time_ms",
                 "total_tokens_used"}


def session_activity(conn: Connection, tr: TimeRange, *, sort: str = "start_time", descending: bool = True,
                     limit: int = 200) -> SessionActivity:
    if sort not in SESSION_SORTS:
        raise ValueError(f"cannot sort sessions by {sort!r}")
    where = in_range(SM.start_time, tr)
    total, active, avg_ms, avg_q, ok, queries = conn.execute(
        select(func.count(), func.coalesce(func.sum(func.cast(SM.is_active, _int())), 0), func.avg(SM.duration_ms),
               func.avg(SM.total_queries), func.coalesce(func.sum(SM.successful_queries), 0),
               func.coalesce(func.sum(SM.total_queries), 0)).where(where)
    ).one()
    top_users = conn.execute(
        select(SM.user_id, func.count()).where(where, SM.user_id.isnot(None)).group_by(SM.user_id)
        .order_by(func.count().desc(), SM.user_id).limit(10)
    ).all()
    size = BUCKET_SECONDS[tr.bucket]
    bucket = bucket_epoch(conn, SM.start_time, size).label("b")
    starts = bucket_starts(tr)
    index = {b: i for i, b in enumerate(starts)}
    started = np.zeros(len(starts), dtype=np.int64)
    for b, n in conn.execute(select(bucket, func.count()).where(where).group_by(bucket)):
        if int(b) in index:
            started[index[int(b)]] = n
    # The order of list_sessions, so ``recent`` is its first page and the window pages on from it.
    key = _session_key(sort)
    order = (key.desc(), SM.id.desc()) if descending else (key.asc(), SM.id.asc())
    recent = conn.execute(select(SM, *session_cost_columns(conn)).where(where).order_by(*order).limit(limit)).mappings()
    return SessionActivity(
        active_sessions=int(active), total_sessions=int(total),
        avg_duration_ms=None if avg_ms is None else float(avg_ms),
        avg_queries_per_session=None if avg_q is None else float(avg_q),
        success_rate=rate(ok, queries), top_users=tuple((u, int(n)) for u, n in top_users),
        bucket_starts=np.asarray(starts, dtype=np.float64), sessions_started=started,
        recent=tuple(session_row(r) for r in recent),
    )


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
    """One keyset page of the sessions that started in ``tr`` (no OFFSET at any depth):
    rows after ``after`` in (sort key, id) order, and the cursor of the next page."""
    if sort not in SESSION_SORTS:
        raise ValueError(f"cannot sort sessions by {sort!r}")
    key = _session_key(sort)
    where = [in_range(SM.start_time, tr)]
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
    return int(conn.execute(select(func.count()).select_from(SM).where(in_range(SM.start_time, tr))).scalar() or 0)


def _int() -> object:
    from sqlalchemy import Integer

    return Integer()
