"""Writes one batch to the metrics database in one transaction.

Rows are inserted with "ignore if the id exists" (so replays never duplicate), then the
session and workflow aggregates touched by the batch are recomputed *from the rows in
the database* — not counted in memory — so several processes writing for the same
session still agree. On PostgreSQL the session/workflow rows are locked first so two
concurrent batches cannot both compute from a stale view.
"""

from __future__ import annotations

import json
import operator
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any

from sqlalchemy import case, distinct, func, select, update
from sqlalchemy.engine import Connection, Engine

from studio_analytics.db.engine import create_db_engine
from studio_analytics.db.errors import SchemaMissingError
from studio_analytics.db.migrate import schema_state, upgrade_database
from studio_analytics.db.models import (
    FAILURE_VALUES,
    SUCCESS_VALUES,
    TIMEOUT_VALUES,
    AgentExecutionMetrics,
    SessionMetrics,
    ToolUsageMetrics,
    WorkflowMetrics,
)
from studio_analytics.db.rollups import apply_rollups
from studio_analytics.db.schema_state import SchemaKind

Batch = dict[str, list[dict[str, Any]]]
AEM = AgentExecutionMetrics


class DatabaseSink:
    def __init__(self, db_url: str) -> None:
        self.db_url = db_url
        self.engine: Engine = create_db_engine(db_url)
        self._schema_ready = False

    def close(self) -> None:
        self.engine.dispose()

    def ensure_schema(self) -> None:
        if self._schema_ready:
            return
        with self.engine.connect() as conn:
            state = schema_state(conn)
        if state.kind is SchemaKind.EMPTY:
            upgrade_database(self.engine)
        elif not state.readable:
            raise SchemaMissingError(
                f"The database is not a metrics database ({state.kind.value})",
                hint="point the tracker at an empty or a studio-analytics database",
            )
        self._schema_ready = True

    def write(self, batch: Batch) -> int:
        self.ensure_schema()
        executions = batch.get("execution", [])
        tools = batch.get("tool", [])
        workflows = batch.get("workflow", [])
        sessions = batch.get("session", [])
        with self.engine.begin() as conn:
            _insert_ignore(conn, AgentExecutionMetrics, executions, "execution_id")
            _insert_ignore(conn, ToolUsageMetrics, tools, "usage_id")
            _insert_ignore(conn, WorkflowMetrics, [_workflow_row(w) for w in workflows], "workflow_id")
            touched_sessions = _apply_sessions(conn, sessions, executions, workflows)
            _recompute_sessions(conn, list(touched_sessions))
            touched_workflows = {w["workflow_id"] for w in workflows}
            touched_workflows |= {wid for e in executions if (wid := _uuid_or_none(e.get("correlation_id")))}
            for workflow_id in sorted(touched_workflows):
                _recompute_workflow(conn, workflow_id)
            apply_rollups(conn, executions=executions, tools=tools, workflows=workflows)
        return len(executions) + len(tools) + len(workflows) + len(sessions)


def _insert_ignore(conn: Connection, model: Any, rows: Sequence[dict[str, Any]], key: str) -> None:
    """Bulk insert that skips ids already present (replays never duplicate).

    The statement is compiled once per table and dialect and the values converted here
    in one pass: SQLAlchemy's per-row type processing cost 3x the insert itself.
    """
    if not rows:
        return
    columns = tuple(rows[0])
    sql, special = _compiled_insert(conn.dialect.name, model.__table__.name, columns, key)
    getter = itemgetter(*columns)
    values = []
    for row in rows:
        v = list(getter(row))
        for i, convert in special:
            if v[i] is not None:
                v[i] = convert(v[i])
        values.append(tuple(v))
    conn.exec_driver_sql(sql, values)


_STATEMENTS: dict[tuple[str, str, tuple[str, ...], str], tuple[str, tuple[Any, ...]]] = {}
_JSON_COLUMNS = {"tools_called", "input_data", "output_data", "agents_involved", "agents_used"}
_UUID_COLUMNS = {"execution_id", "usage_id", "workflow_id"}
_TIME_COLUMNS = {"start_time", "end_time"}


def _compiled_insert(dialect: str, table: str, columns: tuple[str, ...], key: str) -> tuple[str, tuple[Any, ...]]:
    cache_key = (dialect, table, columns, key)
    hit = _STATEMENTS.get(cache_key)
    if hit is not None:
        return hit
    marker = "?" if dialect == "sqlite" else "%s"
    sql = (f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join([marker] * len(columns))}) "
           f"ON CONFLICT ({key}) DO NOTHING")
    special = tuple((i, f) for i, c in enumerate(columns) if (f := _converter(dialect, c)) is not None)
    _STATEMENTS[cache_key] = (sql, special)
    return sql, special


def _sqlite_time(value: datetime) -> str:
    # The text SQLAlchemy's SQLite DateTime reads and writes: naive UTC, microseconds.
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.isoformat(" ", "microseconds")[:26]


def _json_text(value: Any) -> str:
    return "[]" if value == [] else json.dumps(value, ensure_ascii=False)


def _converter(dialect: str, column: str) -> Any:
    """The conversion a column's values need for the driver, or None."""
    if dialect == "sqlite":
        if column in _UUID_COLUMNS:
            return operator.attrgetter("hex")
        if column in _TIME_COLUMNS:
            return _sqlite_time
        if column in _JSON_COLUMNS:
            return _json_text
        return None
    if column in _JSON_COLUMNS:
        from psycopg.types.json import Jsonb

        return Jsonb
    return None


def _workflow_row(w: dict[str, Any]) -> dict[str, Any]:
    row = {k: v for k, v in w.items() if k != "error_message"}
    involved = row.get("agents_involved")
    row.setdefault("agent_count", len(involved) if isinstance(involved, list) else 0)
    row.setdefault("total_tool_calls", 0)
    row.setdefault("total_api_calls", 0)
    return row


def _apply_sessions(conn: Connection, sessions: list[dict[str, Any]], executions: list[dict[str, Any]],
                    workflows: list[dict[str, Any]]) -> set[str]:
    touched: set[str] = set()
    first_seen: dict[str, dict[str, Any]] = {}
    for row in [*executions, *workflows]:
        sid = row.get("session_id")
        if sid and (sid not in first_seen or row["start_time"] < first_seen[sid]["start_time"]):
            first_seen[sid] = {"session_id": sid, "start_time": row["start_time"], "user_id": row.get("user_id")}
    for s in sessions:
        first_seen.setdefault(s["session_id"], {"session_id": s["session_id"], "start_time": s["start_time"],
                                                "user_id": s.get("user_id")})
    if first_seen:
        defaults = {"total_queries": 0, "successful_queries": 0, "failed_queries": 0,
                    "unique_agents_count": 0, "is_active": False}
        # Sessions the agent never opened explicitly are recorded as ended.
        explicit = {s["session_id"] for s in sessions}
        rows = [{**defaults, **r, "is_active": r["session_id"] in explicit} for r in first_seen.values()]
        _insert_ignore(conn, SessionMetrics, rows, "session_id")
        touched |= set(first_seen)
    for s in sessions:  # explicit enter/exit events, in order
        values: dict[str, Any] = {"is_active": s["is_active"]}
        for key in ("user_id", "user_agent", "ip_address"):
            if s.get(key) is not None:
                values[key] = s[key]
        if s.get("end_time") is not None:
            values["end_time"] = s["end_time"]
        conn.execute(update(SessionMetrics).where(SessionMetrics.session_id == s["session_id"]).values(**values))
    return touched


def _recompute_sessions(conn: Connection, session_ids: Sequence[str]) -> None:
    """Set each session's aggregates from its execution rows, in one grouped query."""
    if not session_ids:
        return
    ids = sorted(session_ids)
    current = select(SessionMetrics.session_id, SessionMetrics.start_time, SessionMetrics.end_time).where(
        SessionMetrics.session_id.in_(ids)
    ).order_by(SessionMetrics.session_id)
    if conn.dialect.name == "postgresql":
        current = current.with_for_update()  # one batch at a time per session, in id order
    existing = {r.session_id: r for r in conn.execute(current)}
    aggregates = conn.execute(
        select(
            AEM.session_id,
            func.count(),
            func.coalesce(func.sum(case((AEM.status.in_(SUCCESS_VALUES), 1), else_=0)), 0),
            func.coalesce(func.sum(case((AEM.status.in_(FAILURE_VALUES + TIMEOUT_VALUES), 1), else_=0)), 0),
            func.count(distinct(AEM.agent_name)),
            func.avg(AEM.duration_ms),
            func.sum(AEM.tokens_used),
            func.min(AEM.start_time),
            func.max(AEM.end_time),
        ).where(AEM.session_id.in_(ids)).group_by(AEM.session_id)
    ).all()
    agents: dict[str, list[str]] = {}
    for sid, name in conn.execute(
        select(AEM.session_id, AEM.agent_name).distinct().where(AEM.session_id.in_(ids))
        .order_by(AEM.session_id, AEM.agent_name)
    ):
        if len(agents.setdefault(sid, [])) < 200:
            agents[sid].append(name)
    updates = []
    for sid, total, ok, failed, unique_agents, avg_ms, tokens, first, last in aggregates:
        row = existing.get(sid)
        if row is None:
            continue
        start = min(t for t in (row.start_time, first) if t is not None)
        ends = [t for t in (row.end_time, last) if t is not None]
        end = max(ends) if ends else None
        updates.append({
            "sid": sid, "total_queries": int(total), "successful_queries": int(ok),
            "failed_queries": int(failed), "unique_agents_count": int(unique_agents),
            "agents_used": agents.get(sid, []),
            "average_response_time_ms": float(avg_ms) if avg_ms is not None else None,
            "total_tokens_used": int(tokens) if tokens is not None else None,
            "start_time": start, "end_time": end,
            "duration_ms": (end - start).total_seconds() * 1000 if end is not None else None,
        })
    if updates:
        # One compiled UPDATE for all sessions, values converted like the inserts'.
        columns = tuple(k for k in updates[0] if k != "sid")
        marker = "?" if conn.dialect.name == "sqlite" else "%s"
        sql = (f"UPDATE session_metrics SET {', '.join(f'{c} = {marker}' for c in columns)} "
               f"WHERE session_id = {marker}")
        convert = {c: _converter(conn.dialect.name, c) for c in columns}
        conn.exec_driver_sql(sql, [
            tuple((convert[c](u[c]) if convert[c] is not None and u[c] is not None else u[c]) for c in columns)
            + (u["sid"],)
            for u in updates
        ])


def _recompute_workflow(conn: Connection, workflow_id: uuid.UUID) -> None:
    current = select(WorkflowMetrics.agents_involved).where(WorkflowMetrics.workflow_id == workflow_id)
    if conn.dialect.name == "postgresql":
        current = current.with_for_update()
    existing = conn.execute(current).one_or_none()
    if existing is None:
        return  # the workflow's own row arrives later and triggers this again
    n, agents, tools, apis, tokens = conn.execute(
        select(
            func.count(), func.count(distinct(AEM.agent_name)), func.coalesce(func.sum(AEM.tool_count), 0),
            func.coalesce(func.sum(AEM.api_calls_count), 0), func.sum(AEM.tokens_used),
        ).where(AEM.correlation_id == str(workflow_id))
    ).one()
    involved = existing.agents_involved if isinstance(existing.agents_involved, list) else []
    conn.execute(
        update(WorkflowMetrics).where(WorkflowMetrics.workflow_id == workflow_id).values(
            agent_count=int(agents) if n else len(involved),
            total_tool_calls=int(tools), total_api_calls=int(apis),
            total_tokens_used=int(tokens) if tokens is not None else None,
        )
    )


def _uuid_or_none(value: Any) -> uuid.UUID | None:
    if not value:
        return None
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


__all__ = ["Batch", "DatabaseSink"]
