"""Reading the revision-0004 rollups (sessions, users, error groups) for a range.

Like :mod:`~studio_analytics.analytics.rollup_sources`: whole UTC hours from the rollup
tables, the partial hours at the ends from raw rows, one ``UNION ALL`` per figure. The
rollups hold one row per (hour, session) and per (hour, user, session), so distinct
sessions are an exact ``COUNT(DISTINCT)`` over the parts. Without the tables (an Agent Studio database, ours
before 0004, a connection told to read raw rows) the whole range is read from raw rows
by the same statements, so every figure has one definition.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, case, func, literal, select, union_all
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from studio_analytics.analytics.results import TimeRange
from studio_analytics.analytics.rollup_sources import (
    RangeSplit,
    hours_within,
    raw_only,
    split_range,
    within,
)
from studio_analytics.analytics.sql import is_failure, is_finished, is_success, is_timeout
from studio_analytics.db.figure_rollups import figure_rollups_available as _tables_present
from studio_analytics.db.models import AgentExecutionMetrics as AEM
from studio_analytics.db.rollup_models import SessionHourlyRollup, UserHourlyRollup
from studio_analytics.db.rollups import rollups_available


def figure_rollups_available(conn: Connection) -> bool:
    """The 0004 rollups exist and the connection reads rollups at all."""
    return rollups_available(conn) and _tables_present(conn)


def figure_split(conn: Connection, tr: TimeRange) -> RangeSplit:
    """How to read ``tr`` for these figures: whole hours from the 0004 rollups when there
    are some, else everything from raw rows."""
    return split_range(conn, tr) if figure_rollups_available(conn) else raw_only(tr)


def count_sessions_in_range(split: RangeSplit | None) -> Any:
    """Scalar subquery: the distinct sessions with an execution in the range. ``split``:
    the range's split when its whole hours come from the rollups; None reads the raw
    rows of [``r_start``, ``r_end``) (bound parameters)."""
    if split is None:
        return (select(func.count(AEM.session_id.distinct()))
                .where(AEM.start_time >= bindparam("r_start"), AEM.start_time < bindparam("r_end"),
                       AEM.session_id.isnot(None), AEM.session_id != "").scalar_subquery())
    u = session_parts(split)
    return select(func.count(u.c.session_id.distinct())).scalar_subquery()


def session_parts(split: RangeSplit) -> Any:
    """Subquery, one row per (part, session) of the executions with a session:
    ``session_id``, ``executions``, ``successes``, ``finished``, ``first_start``,
    ``last_end``. Aggregate it once more by session."""
    def raw(where: ColumnElement[bool]) -> Any:
        last_end = func.max(case((AEM.end_time > AEM.start_time, AEM.end_time), else_=AEM.start_time))
        return select(
            AEM.session_id.label("session_id"), func.count().label("executions"),
            func.sum(is_success(AEM.status)).label("successes"), func.sum(is_finished(AEM.status)).label("finished"),
            func.min(AEM.start_time).label("first_start"), last_end.label("last_end"),
        ).where(where, AEM.session_id.isnot(None), AEM.session_id != "").group_by(AEM.session_id)

    r = SessionHourlyRollup
    rolled = select(r.session_id.label("session_id"), r.executions.label("executions"),
                    r.successes.label("successes"), r.finished.label("finished"),
                    r.first_start.label("first_start"), r.last_end.label("last_end"))
    return _parts(split, raw, rolled, r.hour)


def user_parts(split: RangeSplit) -> Any:
    """Subquery, one row per (part, user, session): ``user_id`` ('' for executions without
    a user, then with session ''), ``session_id`` ('' for none), ``executions``,
    ``failures`` (failed or timed out), ``finished``, ``tokens``, ``last_start``."""
    has_user = AEM.user_id.isnot(None) & (AEM.user_id != "")
    user = case((has_user, AEM.user_id), else_=literal(""))
    session = case((has_user, func.coalesce(AEM.session_id, literal(""))), else_=literal(""))

    def raw(where: ColumnElement[bool]) -> Any:
        return select(
            user.label("user_id"), session.label("session_id"), func.count().label("executions"),
            func.sum(is_failure(AEM.status) + is_timeout(AEM.status)).label("failures"),
            func.sum(is_finished(AEM.status)).label("finished"),
            func.coalesce(func.sum(AEM.tokens_used), 0).label("tokens"), func.max(AEM.start_time).label("last_start"),
        ).where(where).group_by(user, session)

    r = UserHourlyRollup
    rolled = select(r.user_id.label("user_id"), r.session_id.label("session_id"), r.executions.label("executions"),
                    r.failures.label("failures"), r.finished.label("finished"), r.tokens.label("tokens"),
                    r.last_start.label("last_start"))
    return _parts(split, raw, rolled, r.hour)


def _parts(split: RangeSplit, raw: Any, rolled: Any, hour: Any) -> Any:
    parts = [raw(within(AEM.start_time, i)) for i in range(len(split.edges))]
    if split.hours is not None:
        parts.append(rolled.where(hours_within(hour, split)))
    return (union_all(*parts) if len(parts) > 1 else parts[0]).subquery()


__all__ = ["count_sessions_in_range", "figure_rollups_available", "figure_split", "session_parts", "user_parts"]
