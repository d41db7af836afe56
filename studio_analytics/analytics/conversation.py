"""A session read as a conversation: each execution's query and response, in order."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from studio_analytics.analytics.executions import execution_model_columns, model_fields
from studio_analytics.db.capabilities import has_model_calls
from studio_analytics.db.models import AgentExecutionMetrics as AEM
from studio_analytics.db.models import normalize_status

#: Characters of a query, response or error read for the thread; the execution dialog
#: shows the whole stored text (the tracker stores at most 16,384 by default).
TEXT_CHARS = 4_000


@dataclass(frozen=True, slots=True)
class ConversationTurn:
    """One execution as a message pair: what was asked, what the agent answered."""

    execution_id: uuid.UUID
    agent_name: str
    start_time: datetime
    duration_ms: float | None
    status: str  # normalised: success/failure/timeout/in_progress
    query: str | None  # at most TEXT_CHARS characters
    response: str | None
    error_message: str | None
    query_chars: int  # the stored lengths: more than shown when cut at TEXT_CHARS
    response_chars: int
    tokens_used: int | None
    #: of the execution's own model calls (None: no model calls, or no such table)
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: float | None = None  # None when none of its calls is priced
    unpriced_calls: int = 0


@dataclass(frozen=True, slots=True)
class SessionConversation:
    session_id: str
    turns: tuple[ConversationTurn, ...]  # by start time, the first ``limit``
    total_turns: int  # every execution of the session

    @property
    def more(self) -> int:
        """Executions after the last turn read."""
        return self.total_turns - len(self.turns)


def session_conversation(conn: Connection, session_id: str, *, limit: int = 500) -> SessionConversation:
    """The session's first ``limit`` executions by start time with their text (each cut
    at :data:`TEXT_CHARS`), tokens and cost, and how many there are in all."""
    models = has_model_calls(conn)
    mine = AEM.session_id == session_id
    total = int(conn.execute(select(func.count()).where(mine)).scalar() or 0)
    rows = conn.execute(
        select(AEM.execution_id, AEM.agent_name, AEM.start_time, AEM.duration_ms, AEM.status, AEM.tokens_used,
               func.substr(AEM.query, 1, TEXT_CHARS).label("query"),
               func.substr(AEM.response, 1, TEXT_CHARS).label("response"),
               func.substr(AEM.error_message, 1, TEXT_CHARS).label("error"),
               func.coalesce(func.length(AEM.query), 0).label("query_chars"),
               func.coalesce(func.length(AEM.response), 0).label("response_chars"),
               *(execution_model_columns() if models else ()))
        .where(mine).order_by(AEM.start_time, AEM.id).limit(limit)
    ).all()
    return SessionConversation(
        session_id=session_id, total_turns=max(total, len(rows)),
        turns=tuple(
            ConversationTurn(
                execution_id=r.execution_id, agent_name=r.agent_name, start_time=r.start_time,
                duration_ms=r.duration_ms, status=normalize_status(r.status).value, query=r.query,
                response=r.response, error_message=r.error, query_chars=int(r.query_chars),
                response_chars=int(r.response_chars), tokens_used=r.tokens_used,
                **(model_fields(r) if models else {}),
            )
            for r in rows
        ),
    )
