"""Sessions' aggregates from running sums, at a cost per batch that does not grow with the session.

A session's row in ``session_metrics`` holds figures over all its executions (count,
successes, failures, distinct agents, mean duration, tokens, first start, last end). The
writer used to compute them again from every execution of each session a batch touched:
a session of 30,000 runs cost each batch a read of 30,000 rows inside its write
transaction, and a long-lived session slowed every writer sharing the database.

Now ``session_totals`` keeps those counts and sums per session and ``session_agents`` its
distinct agent names (migration 0005). For each batch the writer:

1. adds the batch's new executions to their sessions' totals (:func:`add_executions`);
   a session that has no totals row yet (new, bulk-loaded, restored, or from before
   0005) gets it from its raw executions instead, which already include the batch;
2. recomputes from the raw rows the totals of sessions a fix-up moved executions out of
   or into (:func:`rebuild_totals`: minima cannot be subtracted);
3. sets the touched sessions' aggregates from their totals (:func:`update_sessions`).

A prune deletes a session's totals with the session (:func:`delete_totals_of`); a session
that keeps some executions keeps its totals, so its figures stay as they were.
Nothing here commits.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import case, delete, func, or_, select
from sqlalchemy.engine import Connection

from studio_analytics.db.bulk import execute_values
from studio_analytics.db.capabilities import tables_present_once
from studio_analytics.db.models import (
    FAILURE_VALUES,
    SUCCESS_VALUES,
    TIMEOUT_VALUES,
    AgentExecutionMetrics,
    SessionAgent,
    SessionTotals,
)
from studio_analytics.db.rows import Row, pg_time, position

_INT32_MAX = 2**31 - 1  # session_metrics.total_tokens_used is Agent Studio's INTEGER
#: agents_used holds the first this many names (in name order); the count is exact
AGENTS_LISTED = 200
_TABLES = (SessionTotals.__tablename__, SessionAgent.__tablename__)
_SUCCESS = frozenset(SUCCESS_VALUES)
_FAILED = frozenset(FAILURE_VALUES + TIMEOUT_VALUES)
_FIELDS = tuple(position("execution", c) for c in (
    "session_id", "agent_name", "status", "duration_ms", "tokens_used", "start_time", "end_time"))
_SUMS = ("executions", "successes", "failures", "timed", "duration_sum", "tokened", "tokens_sum")
_COLUMNS = ("session_id", *_SUMS, "first_start", "last_end")


def totals_available(conn: Connection) -> bool:
    """The 0005 tables exist (kept per DBAPI connection once found)."""
    return tables_present_once(conn, "studio_analytics.session_totals", _TABLES)


def _status_in(values: Sequence[str]) -> str:
    return "status IN (" + ", ".join(f"'{v}'" for v in values) + ")"


def _ids(conn: Connection, ids: Sequence[str]) -> tuple[str, tuple[Any, ...]]:
    if conn.dialect.name == "postgresql":
        return "= ANY(%s)", (list(ids),)
    return f"IN ({', '.join('?' * len(ids))})", tuple(ids)


def _chunks(ids: Sequence[str], size: int = 500) -> Iterable[list[str]]:
    for i in range(0, len(ids), size):
        yield list(ids[i:i + size])


def lock_sessions(conn: Connection, session_ids: Sequence[str]) -> None:
    """PostgreSQL: lock the sessions' rows in id order, so that concurrent writers take
    their turns per session (and never deadlock) before reading its totals."""
    if conn.dialect.name == "postgresql" and session_ids:
        conn.exec_driver_sql("SELECT 1 FROM session_metrics WHERE session_id = ANY(%s) ORDER BY session_id "
                             "FOR UPDATE", (sorted(session_ids),))


def add_executions(conn: Connection, executions: Sequence[Row]) -> set[str]:
    """Add executions just inserted (wire rows) to their sessions' totals and agents;
    returns their sessions. Sessions without a totals row get theirs from the raw rows."""
    by_session: dict[str, list[Any]] = {}
    agents: set[tuple[str, str]] = set()
    for sid, agent, status, d, tokens, start, end in ((r[i] for i in _FIELDS) for r in executions):
        if not sid:
            continue
        acc = by_session.get(sid)
        if acc is None:
            acc = by_session[sid] = [0, 0, 0, 0, 0.0, 0, 0, start, end]
        acc[0] += 1
        acc[1] += status in _SUCCESS
        acc[2] += status in _FAILED
        if d is not None:
            acc[3] += 1
            acc[4] += d
        if tokens is not None:
            acc[5] += 1
            acc[6] += tokens
        acc[7] = min(acc[7], start)
        if end is not None and (acc[8] is None or end > acc[8]):
            acc[8] = end
        if agent is not None:
            agents.add((sid, agent))
    if not by_session:
        return set()
    sessions = sorted(by_session)
    present: set[str] = set()
    for chunk in _chunks(sessions):
        where, params = _ids(conn, chunk)
        present.update(r[0] for r in conn.exec_driver_sql(
            f"SELECT session_id FROM session_totals WHERE session_id {where}", params))
    missing = [s for s in sessions if s not in present]
    if missing:
        rebuild_totals(conn, missing)  # from the raw rows, this batch's among them
    if present:
        time = (lambda t: t) if conn.dialect.name == "sqlite" else (lambda t: pg_time(t) if t else None)
        rows = [(sid, *by_session[sid][:7], time(by_session[sid][7]), time(by_session[sid][8]))
                for sid in sessions if sid in present]
        execute_values(conn, _add_statement(conn.dialect.name), rows)
        pairs = sorted(p for p in agents if p[0] in present)
        if pairs:
            execute_values(conn, ("INSERT INTO session_agents (session_id, agent_name)",
                                  "ON CONFLICT (session_id, agent_name) DO NOTHING"), pairs)
    return set(sessions)


def _add_statement(dialect: str) -> tuple[str, str]:
    t = "session_totals"
    adds = [f"{c} = {t}.{c} + excluded.{c}" for c in _SUMS]
    earlier = f"CASE WHEN excluded.first_start < {t}.first_start THEN excluded.first_start ELSE {t}.first_start END"
    later = (f"CASE WHEN {t}.last_end IS NULL OR excluded.last_end > {t}.last_end THEN "
             f"coalesce(excluded.last_end, {t}.last_end) ELSE {t}.last_end END")
    return (f"INSERT INTO {t} ({', '.join(_COLUMNS)})",
            f"ON CONFLICT (session_id) DO UPDATE SET {', '.join(adds)}, first_start = {earlier}, last_end = {later}")


def rebuild_totals(conn: Connection, session_ids: Sequence[str]) -> None:
    """These sessions' totals and agents again from their raw executions (a session with
    none left gets no totals row)."""
    sessions = sorted({s for s in session_ids if s})
    if not sessions:
        return
    t, a = SessionTotals, SessionAgent
    conn.execute(delete(t).where(t.session_id.in_(sessions)))
    conn.execute(delete(a).where(a.session_id.in_(sessions)))
    aem = AgentExecutionMetrics
    for chunk in _chunks(sessions):
        where, params = _ids(conn, chunk)
        conn.exec_driver_sql(
            f"INSERT INTO session_totals ({', '.join(_COLUMNS)}) "
            f"SELECT session_id, count(*), sum(CASE WHEN {_status_in(SUCCESS_VALUES)} THEN 1 ELSE 0 END), "
            f"sum(CASE WHEN {_status_in(FAILURE_VALUES + TIMEOUT_VALUES)} THEN 1 ELSE 0 END), "
            "count(duration_ms), coalesce(sum(duration_ms), 0), count(tokens_used), coalesce(sum(tokens_used), 0), "
            f"min(start_time), max(end_time) FROM {aem.__tablename__} WHERE session_id {where} GROUP BY session_id",
            params)
        conn.exec_driver_sql(
            f"INSERT INTO session_agents (session_id, agent_name) SELECT DISTINCT session_id, agent_name "
            f"FROM {aem.__tablename__} WHERE session_id {where} AND agent_name IS NOT NULL", params)


def update_sessions(conn: Connection, session_ids: Sequence[str]) -> None:
    """Set the sessions' aggregates in ``session_metrics`` from their totals: one UPDATE
    whose cost grows with the sessions' agents, not their executions."""
    sessions = sorted({s for s in session_ids if s})
    statement = _UPDATE_SQLITE if conn.dialect.name == "sqlite" else _UPDATE_PG
    for chunk in _chunks(sessions):
        where, params = _ids(conn, chunk)
        conn.exec_driver_sql(statement.format(where=where), params)


def delete_totals_of(conn: Connection, sessions: Any) -> None:
    """Delete the totals and agents of the sessions ``sessions`` selects (a SELECT of
    session ids: those a prune deletes, in its transaction)."""
    if not totals_available(conn):
        return
    conn.execute(delete(SessionTotals).where(SessionTotals.session_id.in_(sessions)))
    conn.execute(delete(SessionAgent).where(SessionAgent.session_id.in_(sessions)))


def _never_pruned() -> Any:
    """Sessions none of whose executions can have been pruned: their first start is at or
    after the oldest raw execution's (a prune deletes everything before its cutoff). Their
    totals must equal a count over their raw rows; a session that ran across a cutoff
    keeps totals that count its pruned executions too, so it cannot be compared."""
    oldest = select(func.min(AgentExecutionMetrics.start_time)).scalar_subquery()
    return SessionTotals.first_start >= oldest


def totals_drift(conn: Connection) -> int:
    """Sessions never pruned whose totals differ from their raw executions (count,
    successes, failures, timed runs, runs with tokens, token sum): 0 when in step.
    Sessions with no totals row yet get one from their raw rows when next written."""
    aem, t = AgentExecutionMetrics, SessionTotals
    raw = select(aem.session_id.label("sid"), func.count().label("n"),
                 func.sum(case((aem.status.in_(SUCCESS_VALUES), 1), else_=0)).label("ok"),
                 func.sum(case((aem.status.in_(FAILURE_VALUES + TIMEOUT_VALUES), 1), else_=0)).label("failed"),
                 func.count(aem.duration_ms).label("timed"), func.count(aem.tokens_used).label("tokened"),
                 func.coalesce(func.sum(aem.tokens_used), 0).label("tokens")).where(
        aem.session_id.isnot(None), aem.session_id != "").group_by(aem.session_id).subquery()
    differs = or_(raw.c.sid.is_(None), t.executions != raw.c.n, t.successes != raw.c.ok,
                  t.failures != raw.c.failed, t.timed != raw.c.timed, t.tokened != raw.c.tokened,
                  t.tokens_sum != raw.c.tokens)
    return int(conn.execute(select(func.count()).select_from(t.__table__.outerjoin(raw, t.session_id == raw.c.sid))
                            .where(_never_pruned(), differs)).scalar() or 0)


def rebuild_unpruned_totals(conn: Connection) -> int:
    """The totals and aggregates of every session never pruned, again from their raw
    executions (``db rebuild-rollups``); sessions that ran across a prune's cutoff keep
    theirs, the only record of their pruned executions. Returns how many were rebuilt."""
    sessions = list(conn.execute(select(SessionTotals.session_id).where(_never_pruned())
                                 .order_by(SessionTotals.session_id)).scalars())
    for chunk in _chunks(sessions):
        rebuild_totals(conn, chunk)
        update_sessions(conn, chunk)
    return len(sessions)


def _update(dialect: str) -> str:
    s = "session_metrics"
    new_start = f"CASE WHEN {s}.start_time <= t.first_start THEN {s}.start_time ELSE t.first_start END"
    new_end = (f"CASE WHEN t.last_end IS NULL OR {s}.end_time >= t.last_end THEN coalesce({s}.end_time, t.last_end) "
               "ELSE t.last_end END")
    listed = (f"SELECT agent_name FROM session_agents WHERE session_agents.session_id = t.session_id "
              f"ORDER BY agent_name LIMIT {AGENTS_LISTED}")
    if dialect == "sqlite":
        names = f"(SELECT json_group_array(agent_name) FROM ({listed}))"
        # Whole seconds, then the fraction: julianday() would keep milliseconds only.
        duration = " - ".join(
            f"(CAST(strftime('%s', {v}) AS INTEGER) * 1000.0 + CAST(substr({v}, 20) AS REAL) * 1000.0)"
            for v in (new_end, new_start))
    else:
        names = f"(SELECT coalesce(jsonb_agg(agent_name ORDER BY agent_name), '[]'::jsonb) FROM ({listed}) listed)"
        duration = f"extract(epoch FROM ({new_end}) - ({new_start})) * 1000.0"
    return (
        f"UPDATE {s} SET total_queries = t.executions, successful_queries = t.successes, "
        "failed_queries = t.failures, "
        "unique_agents_count = (SELECT count(*) FROM session_agents WHERE session_agents.session_id = t.session_id), "
        f"agents_used = {names}, "
        "average_response_time_ms = CASE WHEN t.timed > 0 THEN t.duration_sum / t.timed END, "
        f"total_tokens_used = CASE WHEN t.tokened = 0 THEN NULL WHEN t.tokens_sum > {_INT32_MAX} THEN {_INT32_MAX} "
        "ELSE t.tokens_sum END, "
        f"start_time = {new_start}, end_time = {new_end}, duration_ms = {duration} "
        f"FROM session_totals t WHERE {s}.session_id = t.session_id AND t.session_id {{where}}")


_UPDATE_SQLITE = _update("sqlite")
_UPDATE_PG = _update("postgresql")

__all__ = ["AGENTS_LISTED", "add_executions", "delete_totals_of", "lock_sessions", "rebuild_totals",
           "rebuild_unpruned_totals", "totals_available", "totals_drift", "update_sessions"]
