"""One execution with its tool calls, span tree, workflow and session; one session with its executions."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from studio_analytics.analytics.executions import execution_model_columns, model_fields
from studio_analytics.analytics.results import (
    ExecutionDetail,
    ExecutionRow,
    SessionDetail,
    ToolCall,
    TraceSpan,
)
from studio_analytics.analytics.sessions import session_cost_columns, session_row
from studio_analytics.analytics.trace import execution_spans, legacy_spans
from studio_analytics.db.capabilities import has_model_calls, has_span_tree
from studio_analytics.db.models import AgentExecutionMetrics as AEM
from studio_analytics.db.models import ModelCallMetrics as MCM
from studio_analytics.db.models import SessionMetrics as SM
from studio_analytics.db.models import ToolUsageMetrics as TUM
from studio_analytics.db.models import WorkflowMetrics as WM
from studio_analytics.db.models import normalize_status

MAX_TOOL_CALLS = 2_000


def execution_detail(conn: Connection, execution_id: uuid.UUID) -> ExecutionDetail | None:
    """The execution with its tool calls, workflow, session and — on a database with
    the span tree — every span below it (see :mod:`studio_analytics.analytics.trace`)."""
    tree = has_span_tree(conn)
    extra = [AEM.parent_id, AEM.trace_id] if tree else []
    r = conn.execute(select(AEM, *extra).where(AEM.execution_id == execution_id)).mappings().one_or_none()
    if r is None:
        return None
    calls = conn.execute(
        select(TUM).where(TUM.execution_id == execution_id).order_by(TUM.start_time, TUM.id)
        .limit(MAX_TOOL_CALLS + 1)
    ).mappings().all()
    calls_truncated = len(calls) > MAX_TOOL_CALLS
    calls = calls[:MAX_TOOL_CALLS]
    workflow_id = workflow_type = None
    if r["correlation_id"]:
        try:
            wid = uuid.UUID(str(r["correlation_id"]))
        except ValueError:
            wid = None
        if wid is not None:
            w = conn.execute(select(WM.workflow_id, WM.workflow_type).where(WM.workflow_id == wid)).one_or_none()
            if w is not None:
                workflow_id, workflow_type = w.workflow_id, w.workflow_type
    session = None
    if r["session_id"]:
        s = conn.execute(select(SM, *session_cost_columns(conn)).where(SM.session_id == r["session_id"])
                         ).mappings().one_or_none()
        session = session_row(s) if s is not None else None
    tool_calls = tuple(
        ToolCall(
            usage_id=c["usage_id"], tool_name=c["tool_name"], start_time=c["start_time"], end_time=c["end_time"],
            duration_ms=c["duration_ms"], status=normalize_status(c["status"]).value,
            error_message=c["error_message"], external_api_called=c["external_api_called"],
            api_response_time_ms=c["api_response_time_ms"], api_status_code=c["api_status_code"],
            input_data=c["input_data"], output_data=c["output_data"],
        )
        for c in calls
    )
    status = normalize_status(r["status"]).value
    cost, unpriced_calls = None, 0
    if tree:
        spans, spans_truncated = execution_spans(conn, execution_id)
        cost, unpriced_calls = conn.execute(
            select(func.sum(MCM.cost_usd), func.count() - func.count(MCM.cost_usd))
            .where(MCM.execution_id == execution_id)).one()
    else:
        root = TraceSpan(span_id=r["execution_id"], parent_id=None, kind="execution", name=r["agent_name"],
                         start_time=r["start_time"], end_time=r["end_time"], duration_ms=r["duration_ms"],
                         status=status, error_message=r["error_message"], depth=0, input=r["query"],
                         output=r["response"], tokens_used=r["tokens_used"])
        spans, spans_truncated = legacy_spans(root, tool_calls), calls_truncated
    return ExecutionDetail(
        execution_id=r["execution_id"], agent_id=r["agent_id"], agent_name=r["agent_name"],
        start_time=r["start_time"], end_time=r["end_time"], duration_ms=r["duration_ms"],
        status=status, raw_status=r["status"], query=r["query"],
        response=r["response"], error_message=r["error_message"], tools_called=r["tools_called"],
        tool_count=int(r["tool_count"] or 0), retry_count=int(r["retry_count"] or 0),
        session_id=r["session_id"], user_id=r["user_id"], correlation_id=r["correlation_id"],
        tokens_used=r["tokens_used"], api_calls_count=int(r["api_calls_count"] or 0),
        tool_calls=tool_calls, workflow_id=workflow_id, workflow_type=workflow_type, session=session,
        spans=spans, spans_truncated=spans_truncated, parent_id=r["parent_id"] if tree else None,
        trace_id=r["trace_id"] if tree else None, cost_usd=None if cost is None else float(cost),
        unpriced_calls=int(unpriced_calls or 0),
    )


def session_detail(conn: Connection, session_id: str, *, limit: int = 500) -> SessionDetail | None:
    s = conn.execute(select(SM, *session_cost_columns(conn)).where(SM.session_id == session_id)
                     ).mappings().one_or_none()
    if s is None:
        return None
    models = has_model_calls(conn)
    rows = conn.execute(
        select(AEM.execution_id, AEM.agent_name, AEM.start_time, AEM.duration_ms, AEM.status, AEM.tool_count,
               AEM.tokens_used, AEM.session_id, AEM.user_id, AEM.error_message,
               *(execution_model_columns() if models else ()))
        .where(AEM.session_id == session_id).order_by(AEM.start_time, AEM.id).limit(limit + 1)
    ).all()
    agents = s["agents_used"] if isinstance(s["agents_used"], list) else []
    return SessionDetail(
        session=session_row(s), user_agent=s["user_agent"], ip_address=s["ip_address"],
        agents_used=tuple(sorted(str(a) for a in agents)),  # stored in no particular order
        executions=tuple(
            ExecutionRow(
                execution_id=r.execution_id, agent_name=r.agent_name, start_time=r.start_time,
                duration_ms=r.duration_ms, status=normalize_status(r.status).value, tool_count=int(r.tool_count or 0),
                tokens_used=r.tokens_used, session_id=r.session_id, user_id=r.user_id,
                error_message=(r.error_message or "")[:200] or None, **(model_fields(r) if models else {}),
            )
            for r in rows[:limit]
        ),
        executions_truncated=len(rows) > limit,
    )
