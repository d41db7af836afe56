"""Writes one batch to the metrics database in one transaction.

Rows are inserted with "ignore if the id exists" (so replays never duplicate), then the
session and workflow aggregates touched by the batch are recomputed *from the rows in
the database* — not counted in memory — so several processes writing for the same
session still agree. On PostgreSQL the session/workflow rows are locked first so two
concurrent batches cannot both compute from a stale view. Last, the rows that were
really inserted are added to the hourly rollups, in the same transaction.
"""

from __future__ import annotations

import json
import operator
import uuid
from collections.abc import Sequence
from operator import itemgetter
from typing import Any

from sqlalchemy import case, distinct, func, select, update
from sqlalchemy.engine import Connection, Engine

from studio_analytics.db.engine import create_db_engine
from studio_analytics.db.errors import SchemaMissingError
from studio_analytics.db.migrate import is_older_revision, schema_state, upgrade_database
from studio_analytics.db.models import (
    FAILURE_VALUES,
    SUCCESS_VALUES,
    TIMEOUT_VALUES,
    AgentExecutionMetrics,
    SessionMetrics,
    ToolUsageMetrics,
    WorkflowMetrics,
)
from studio_analytics.db.rollups import adjust_workflow_totals, apply_rollups, rollups_available
from studio_analytics.db.schema_state import SchemaKind
from studio_analytics.db.types import sqlite_time_text

Batch = dict[str, list[dict[str, Any]]]
AEM = AgentExecutionMetrics


class _RowsAlreadyPresent(Exception):
    """A fresh batch met ids already in the database: redo it, filtering them out."""


_KEYS = {"execution": "execution_id", "tool": "usage_id", "workflow": "workflow_id"}
_MODELS = {"execution": AgentExecutionMetrics, "tool": ToolUsageMetrics, "workflow": WorkflowMetrics}


class DatabaseSink:
    def __init__(self, db_url: str) -> None:
        self.db_url = db_url
        self.engine: Engine = create_db_engine(db_url)
        self._schema_ready = False
        self.rollups = False

    def close(self) -> None:
        self.engine.dispose()

    def ensure_schema(self) -> None:
        if self._schema_ready:
            return
        with self.engine.connect() as conn:
            state = schema_state(conn)
        if state.kind is SchemaKind.EMPTY or (state.kind is SchemaKind.STUDIO and is_older_revision(state.revision)):
            # Our own database at an older revision (say, before the rollups): bring it up.
            upgrade_database(self.engine)
        elif not state.readable:
            raise SchemaMissingError(
                f"The database is not a metrics database ({state.kind.value})",
                hint="point the tracker at an empty or a studio-analytics database",
            )
        with self.engine.connect() as conn:
            self.rollups = rollups_available(conn)
        self._schema_ready = True

    def write(self, batch: Batch, *, replay: bool = False) -> int:
        """Write one batch. ``replay``: it may have been written before (a spooled batch
        whose first commit's outcome was unknown), so ids already present are skipped
        before anything is counted in the rollups."""
        self.ensure_schema()
        try:
            return self._write(batch, skip_present=replay)
        except _RowsAlreadyPresent:
            return self._write(batch, skip_present=True)

    def _write(self, batch: Batch, *, skip_present: bool) -> int:
        executions = batch.get("execution", [])
        tools = batch.get("tool", [])
        workflows = [_workflow_row(w) for w in batch.get("workflow", [])]
        sessions = batch.get("session", [])
        with self.engine.begin() as conn:
            new: dict[str, list[dict[str, Any]]] = {}
            for kind, rows in (("execution", executions), ("tool", tools), ("workflow", workflows)):
                if skip_present:
                    rows = _not_present(conn, kind, rows)
                inserted = _insert_ignore(conn, _MODELS[kind], rows, _KEYS[kind])
                if inserted != len(rows) and inserted >= 0:
                    raise _RowsAlreadyPresent
                new[kind] = rows
            touched_sessions = _apply_sessions(conn, sessions, executions, workflows)
            _recompute_sessions(conn, list(touched_sessions))
            touched_workflows = {w["workflow_id"] for w in workflows}
            touched_workflows |= {wid for e in executions if (wid := _uuid_or_none(e.get("correlation_id")))}
            if self.rollups:
                _fill_tool_agents(conn, new["tool"])
                apply_rollups(conn, executions=new["execution"], tools=new["tool"], workflows=new["workflow"])
            for workflow_id in sorted(touched_workflows):
                _recompute_workflow(conn, workflow_id, rollups=self.rollups)
        return len(executions) + len(tools) + len(workflows) + len(sessions)


def _not_present(conn: Connection, kind: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if not rows:
        return rows
    column = getattr(_MODELS[kind], _KEYS[kind])
    present: set[uuid.UUID] = set()
    ids = [r[_KEYS[kind]] for r in rows]
    for i in range(0, len(ids), 500):
        present.update(conn.execute(select(column).where(column.in_(ids[i:i + 500]))).scalars())
    return [r for r in rows if r[_KEYS[kind]] not in present]


def _fill_tool_agents(conn: Connection, tools: list[dict[str, Any]]) -> None:
    """Tools attached to an execution by id (not nested in its span) do not know its
    agent: look it up when the execution's row is already in the database."""
    wanted = {t["execution_id"] for t in tools if t.get("agent_name") is None and t.get("execution_id") is not None}
    if not wanted:
        return
    ids = sorted(wanted)
    agents: dict[uuid.UUID, str] = {}
    for i in range(0, len(ids), 500):
        for execution_id, agent_name in conn.execute(
            select(AEM.execution_id, AEM.agent_name).where(AEM.execution_id.in_(ids[i:i + 500]))
        ):
            agents[execution_id] = agent_name
    for t in tools:
        if t.get("agent_name") is None and t.get("execution_id") in agents:
            t["agent_name"] = agents[t["execution_id"]]


def _insert_ignore(conn: Connection, model: Any, rows: Sequence[dict[str, Any]], key: str) -> int:
    """Bulk insert that skips ids already present (replays never duplicate); returns
    how many rows were inserted (-1 if the driver cannot tell).

    The statement is compiled once per table and dialect and the values converted here
    in one pass: SQLAlchemy's per-row type processing cost 3x the insert itself.
    """
    if not rows:
        return 0
    table_columns = model.__table__.columns
    columns = tuple(c for c in rows[0] if c in table_columns)  # rows may carry extra keys
    sql, special = _compiled_insert(conn.dialect.name, model.__table__.name, columns, key)
    getter = itemgetter(*columns)
    values = []
    for row in rows:
        v = list(getter(row))
        for i, convert in special:
            if v[i] is not None:
                v[i] = convert(v[i])
        values.append(tuple(v))
    return conn.exec_driver_sql(sql, values).rowcount


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


def _json_text(value: Any) -> str:
    return "[]" if value == [] else json.dumps(value, ensure_ascii=False)


def _converter(dialect: str, column: str) -> Any:
    """The conversion a column's values need for the driver, or None."""
    if dialect == "sqlite":
        if column in _UUID_COLUMNS:
            return operator.attrgetter("hex")
        if column in _TIME_COLUMNS:
            return sqlite_time_text
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
    # One grouped query: counts, times and the distinct agent names (as a JSON array).
    names = (func.json_agg(distinct(AEM.agent_name)) if conn.dialect.name == "postgresql"
             else func.json_group_array(distinct(AEM.agent_name)))
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
            names,
        ).where(AEM.session_id.in_(ids)).group_by(AEM.session_id)
    ).all()
    updates = []
    for sid, total, ok, failed, unique_agents, avg_ms, tokens, first, last, agent_names in aggregates:
        row = existing.get(sid)
        if row is None:
            continue
        start = min(t for t in (row.start_time, first) if t is not None)
        ends = [t for t in (row.end_time, last) if t is not None]
        end = max(ends) if ends else None
        updates.append({
            "sid": sid, "total_queries": int(total), "successful_queries": int(ok),
            "failed_queries": int(failed), "unique_agents_count": int(unique_agents),
            "agents_used": _agent_list(agent_names),
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


def _agent_list(value: Any) -> list[str]:
    """Sorted distinct agent names (at most 200) from the aggregate's JSON array."""
    names = json.loads(value) if isinstance(value, str) else (value or [])
    return sorted(n for n in names if n is not None)[:200]


def _recompute_workflow(conn: Connection, workflow_id: uuid.UUID, *, rollups: bool) -> None:
    wm = WorkflowMetrics
    current = select(wm.agents_involved, wm.workflow_type, wm.start_time, wm.agent_count, wm.total_tool_calls,
                     wm.total_api_calls, wm.total_tokens_used).where(wm.workflow_id == workflow_id)
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
    new = (int(agents) if n else len(involved), int(tools), int(apis), int(tokens) if tokens is not None else None)
    old = (existing.agent_count, existing.total_tool_calls, existing.total_api_calls, existing.total_tokens_used)
    if new == old:
        return
    conn.execute(
        update(WorkflowMetrics).where(WorkflowMetrics.workflow_id == workflow_id).values(
            agent_count=new[0], total_tool_calls=new[1], total_api_calls=new[2], total_tokens_used=new[3],
        )
    )
    if rollups:
        adjust_workflow_totals(
            conn, workflow_type=existing.workflow_type, start_time=existing.start_time,
            agent_count=new[0] - (old[0] or 0), tool_calls=new[1] - (old[1] or 0), api_calls=new[2] - (old[2] or 0),
            tokens=(new[3] or 0) - (old[3] or 0),
        )


def _uuid_or_none(value: Any) -> uuid.UUID | None:
    if not value:
        return None
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


__all__ = ["Batch", "DatabaseSink"]
