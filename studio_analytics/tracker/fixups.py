"""Fix-up records applied in SQL, inside the batch's transaction, after its inserts.

A fix-up (``db.rows.FIXUP_FIELDS``) carries the columns of an execution, tool or model
row as they are known now — written before an ancestor span arrived (ingested
OpenTelemetry spans). Values are absolute, so applying one twice (a replayed spool batch)
changes nothing, and the rollups are adjusted by the difference between the stored row and
the new values, read in the same transaction: a tool's call moves from agent '' to its
agent in ``rollup_tool_agent_hourly``, a model call's share from '' to its agent in
``rollup_model_agent_hourly``, an execution's late tokens and tool calls are added to
``rollup_agent_hourly``. The 0004 rollups of sessions and users (which hold minima and
maxima) have the cells the row left and joined recomputed from the raw rows; a failed tool
call that moves to another execution moves its (failed execution, failed tool) pair in
``rollup_error_tool_hourly``. A fix-up whose row is not in the database (set aside as a dead
letter) does nothing. Sessions and workflows whose executions changed are returned for
the sink to recompute.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection

from studio_analytics.db.bulk import execute_values
from studio_analytics.db.figure_rollups import move_failed_tool_calls, refresh_figure_cells
from studio_analytics.db.models import FAILURE_VALUES, TIMEOUT_VALUES
from studio_analytics.db.rollups import adjust_agent_totals, move_model_calls, move_tool_calls
from studio_analytics.db.rows import Row, datetime_text, hour_of_text, pg_time

_KIND, _ID, _PARENT, _EXECUTION, _AGENT, _SESSION, _USER, _CORRELATION, _TOKENS, _TOOLS, _TOOL_COUNT = range(11)


def apply_fixups(conn: Connection, fixups: Sequence[Row], *, rollups: bool, extended: bool
                 ) -> tuple[set[str], set[uuid.UUID]]:
    """Apply these fix-ups (the last one for a row wins); returns the session ids and
    workflow ids whose aggregates must be recomputed."""
    latest: dict[tuple[str, str], Row] = {}
    for fix in fixups:
        latest[(fix[_KIND], fix[_ID])] = fix
    by_kind: dict[str, list[Row]] = {}
    for (kind, _), fix in latest.items():
        by_kind.setdefault(kind, []).append(fix)
    sessions: set[str] = set()
    workflows: set[uuid.UUID] = set()
    if by_kind.get("execution"):
        _fix_executions(conn, by_kind["execution"], sessions, workflows, rollups=rollups, extended=extended)
    if by_kind.get("tool"):
        _fix_tools(conn, by_kind["tool"], rollups=rollups, extended=extended)
    if by_kind.get("model") and extended:  # an Agent Studio database has no model calls
        _fix_models(conn, by_kind["model"], rollups=rollups)
    return sessions, workflows


def _fix_executions(conn: Connection, fixes: list[Row], sessions: set[str], workflows: set[uuid.UUID], *,
                    rollups: bool, extended: bool) -> None:
    stored = _stored(conn, "agent_execution_metrics", "execution_id",
                     "agent_name, start_time, session_id, user_id, correlation_id, tokens_used, tool_count",
                     [f[_ID] for f in fixes])
    updates, new_sessions, totals = [], [], []
    session_cells: set[tuple[int, str]] = set()
    user_cells: set[tuple[int, str]] = set()
    for fix in fixes:
        row = stored.get(fix[_ID])
        if row is None:
            continue
        agent, start, session, user, correlation, tokens, tool_count = row
        values = (fix[_SESSION], fix[_USER], fix[_CORRELATION], fix[_TOKENS], fix[_TOOLS], fix[_TOOL_COUNT] or 0)
        updates.append(((fix[_PARENT],) if extended else ()) + values + (fix[_ID],))
        if fix[_SESSION] != session:
            sessions.update(s for s in (session, fix[_SESSION]) if s)
            if fix[_SESSION]:
                new_sessions.append((fix[_SESSION], _param_time(conn, start), fix[_USER] or user, 0, 0, 0, 0, False))
        if fix[_CORRELATION] != correlation:
            workflows.update(w for w in (_uuid(correlation), _uuid(fix[_CORRELATION])) if w)
        if fix[_TOKENS] != tokens or (fix[_TOOL_COUNT] or 0) != (tool_count or 0):
            # Their session's and workflow's totals are summed from the executions.
            sessions.update(s for s in (fix[_SESSION],) if s)
            workflows.update(w for w in (_uuid(fix[_CORRELATION]),) if w)
        totals.append((agent, _time_text(start), (fix[_TOOL_COUNT] or 0) - (tool_count or 0),
                       (fix[_TOKENS] or 0) - (tokens or 0)))
        hour = hour_of_text(_time_text(start))
        if fix[_SESSION] != session:
            session_cells.update((hour, s) for s in (session, fix[_SESSION]) if s)
        if (fix[_SESSION], fix[_USER], fix[_TOKENS]) != (session, user, tokens):
            user_cells.update((hour, u or "") for u in (user, fix[_USER]))
    if not updates:
        return
    m = _mark(conn)
    parent = f"parent_id = {m}, " if extended else ""
    conn.exec_driver_sql(
        f"UPDATE agent_execution_metrics SET {parent}session_id = {m}, user_id = {m}, correlation_id = {m}, "
        f"tokens_used = {m}, tools_called = {m}, tool_count = {m} WHERE execution_id = {m}", updates)
    if new_sessions:
        execute_values(conn, (
            "INSERT INTO session_metrics (session_id, start_time, user_id, total_queries, successful_queries, "
            "failed_queries, unique_agents_count, is_active)", "ON CONFLICT (session_id) DO NOTHING"), new_sessions)
    if rollups:
        adjust_agent_totals(conn, totals)
        refresh_figure_cells(conn, sessions=session_cells, users=user_cells)


def _fix_tools(conn: Connection, fixes: list[Row], *, rollups: bool, extended: bool) -> None:
    stored = _stored(conn, "tool_usage_metrics", "usage_id", "tool_name, start_time, execution_id, status",
                     [f[_ID] for f in fixes])
    present = [f for f in fixes if f[_ID] in stored]
    if not present:
        return
    m = _mark(conn)
    parent = f"parent_id = {m}, " if extended else ""
    conn.exec_driver_sql(
        f"UPDATE tool_usage_metrics SET {parent}execution_id = {m} WHERE usage_id = {m}",
        [((f[_PARENT],) if extended else ()) + (f[_EXECUTION], f[_ID]) for f in present])
    if not rollups:
        return
    # The agent a call was rolled up under is its stored execution's (or '' without one).
    old_executions = sorted({_hex(stored[f[_ID]][2]) for f in present if stored[f[_ID]][2] is not None})
    agents = _stored(conn, "agent_execution_metrics", "execution_id", "agent_name", old_executions)
    moves, failed_moves = [], []
    for f in present:
        tool, start, execution, status = stored[f[_ID]]
        old = agents.get(_hex(execution), ("",))[0] if execution is not None else ""
        moves.append((_time_text(start), tool, old or "", f[_AGENT] or ""))
        old_execution = _hex(execution) if execution is not None else None
        if status in _FAILED and old_execution != f[_EXECUTION]:
            failed_moves.append((old_execution, f[_EXECUTION], tool))
    move_tool_calls(conn, moves)
    move_failed_tool_calls(conn, failed_moves)


def _fix_models(conn: Connection, fixes: list[Row], *, rollups: bool) -> None:
    stored = _stored(conn, "model_call_metrics", "call_id",
                     "model, start_time, agent_name, status, duration_ms, input_tokens, output_tokens, "
                     "cached_input_tokens, cost_usd, user_id", [f[_ID] for f in fixes])
    present = [f for f in fixes if f[_ID] in stored]
    if not present:
        return
    m = _mark(conn)
    conn.exec_driver_sql(
        f"UPDATE model_call_metrics SET parent_id = {m}, execution_id = {m}, agent_name = {m}, session_id = {m}, "
        f"user_id = {m} WHERE call_id = {m}",
        [(f[_PARENT], f[_EXECUTION], f[_AGENT], f[_SESSION], f[_USER], f[_ID]) for f in present])
    if rollups:
        moves, user_cells = [], set()
        for f in present:
            model, start, agent, status, d, n_in, n_out, n_cached, cost, user = stored[f[_ID]]
            moves.append((_time_text(start), model, agent or "", f[_AGENT] or "", status, d, n_in, n_out, n_cached,
                          cost))
            if (user or "") != (f[_USER] or ""):
                hour = hour_of_text(_time_text(start))
                user_cells.update((hour, u) for u in (user, f[_USER]) if u)
        move_model_calls(conn, moves)
        refresh_figure_cells(conn, model_users=user_cells)


_FAILED = frozenset(FAILURE_VALUES + TIMEOUT_VALUES)


# -- helpers ------------------------------------------------------------------------------
def _stored(conn: Connection, table: str, key: str, columns: str, ids: Sequence[str]) -> dict[str, tuple[Any, ...]]:
    """``{hex id: (columns...)}`` of the rows with these ids."""
    found: dict[str, tuple[Any, ...]] = {}
    if not ids:
        return found
    if conn.dialect.name == "postgresql":
        sql = f"SELECT {key}, {columns} FROM {table} WHERE {key} = ANY(%s::uuid[])"
        for i in range(0, len(ids), 5_000):
            for row in conn.exec_driver_sql(sql, (list(ids[i:i + 5_000]),)):
                found[_hex(row[0])] = tuple(row[1:])
        return found
    for i in range(0, len(ids), 500):
        chunk = ids[i:i + 500]
        sql = f"SELECT {key}, {columns} FROM {table} WHERE {key} IN ({', '.join('?' * len(chunk))})"
        for row in conn.exec_driver_sql(sql, tuple(chunk)):
            found[_hex(row[0])] = tuple(row[1:])
    return found


def _hex(value: Any) -> str:
    return value.hex if isinstance(value, uuid.UUID) else str(value).replace("-", "").lower()


def _mark(conn: Connection) -> str:
    return "?" if conn.dialect.name == "sqlite" else "%s"


def _time_text(value: Any) -> str:
    """A stored time as the wire text (SQLite gives text, PostgreSQL a datetime)."""
    return datetime_text(value) if isinstance(value, datetime) else str(value)


def _param_time(conn: Connection, value: Any) -> Any:
    return value if conn.dialect.name == "sqlite" or isinstance(value, datetime) else pg_time(str(value))


def _uuid(value: Any) -> uuid.UUID | None:
    if not value:
        return None
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


__all__ = ["apply_fixups"]
