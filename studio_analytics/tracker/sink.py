"""Writes one batch to the metrics database in one transaction.

Rows are inserted with "ignore if the id exists" (so replays never duplicate), then the
session and workflow aggregates touched by the batch are recomputed *from the rows in
the database* — not counted in memory — so several processes writing for the same
session still agree. On PostgreSQL the session/workflow rows are locked first so two
concurrent batches cannot both compute from a stale view.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import case, distinct, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
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
            for session_id in sorted(touched_sessions):
                _recompute_session(conn, session_id)
            touched_workflows = {w["workflow_id"] for w in workflows}
            touched_workflows |= {wid for e in executions if (wid := _uuid_or_none(e.get("correlation_id")))}
            for workflow_id in sorted(touched_workflows):
                _recompute_workflow(conn, workflow_id)
            apply_rollups(conn, executions=executions, tools=tools, workflows=workflows)
        return len(executions) + len(tools) + len(workflows) + len(sessions)


def _insert_ignore(conn: Connection, model: Any, rows: Sequence[dict[str, Any]], key: str) -> None:
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        stmt = postgresql.insert(model).on_conflict_do_nothing(index_elements=[key])
    else:
        stmt = sqlite.insert(model).on_conflict_do_nothing(index_elements=[key])
    conn.execute(stmt, list(rows))


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


def _recompute_session(conn: Connection, session_id: str) -> None:
    current = select(SessionMetrics.start_time, SessionMetrics.end_time, SessionMetrics.is_active).where(
        SessionMetrics.session_id == session_id
    )
    if conn.dialect.name == "postgresql":
        current = current.with_for_update()
    existing = conn.execute(current).one_or_none()
    if existing is None:
        return
    agg = conn.execute(
        select(
            func.count(),
            func.coalesce(func.sum(case((AEM.status.in_(SUCCESS_VALUES), 1), else_=0)), 0),
            func.coalesce(func.sum(case((AEM.status.in_(FAILURE_VALUES + TIMEOUT_VALUES), 1), else_=0)), 0),
            func.count(distinct(AEM.agent_name)),
            func.avg(AEM.duration_ms),
            func.sum(AEM.tokens_used),
            func.min(AEM.start_time),
            func.max(AEM.end_time),
        ).where(AEM.session_id == session_id)
    ).one()
    total, ok, failed, unique_agents, avg_ms, tokens, first, last = agg
    agents = conn.execute(
        select(AEM.agent_name).distinct().where(AEM.session_id == session_id).order_by(AEM.agent_name).limit(200)
    ).scalars().all()
    start = min(t for t in (existing.start_time, first) if t is not None)
    ends = [t for t in (existing.end_time, last) if t is not None]
    end = max(ends) if ends else None
    conn.execute(
        update(SessionMetrics).where(SessionMetrics.session_id == session_id).values(
            total_queries=int(total), successful_queries=int(ok), failed_queries=int(failed),
            unique_agents_count=int(unique_agents), agents_used=list(agents),
            average_response_time_ms=float(avg_ms) if avg_ms is not None else None,
            total_tokens_used=int(tokens) if tokens is not None else None,
            start_time=start, end_time=end,
            duration_ms=(end - start).total_seconds() * 1000 if end is not None else None,
        )
    )


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
