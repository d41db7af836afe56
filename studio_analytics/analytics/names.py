"""Names to complete a filter with: a bounded, distinct list from the database.

Agents, tools and models come from the hourly rollups when the database has them (far
fewer rows than the raw tables); users and workflow types from their indexed raw
columns. Every list is ``DISTINCT … LIMIT``: a completion never reads all rows out.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from studio_analytics.analytics.executions import LIKE_ESCAPE, contains
from studio_analytics.db.capabilities import has_model_calls
from studio_analytics.db.models import AgentExecutionMetrics as AEM
from studio_analytics.db.models import ModelCallMetrics as MCM
from studio_analytics.db.models import ToolUsageMetrics as TUM
from studio_analytics.db.models import WorkflowMetrics as WM
from studio_analytics.db.rollup_models import AgentHourlyRollup, ModelHourlyRollup, ToolHourlyRollup
from studio_analytics.db.rollups import rollups_available

NAME_KINDS = ("agent", "tool", "user", "model", "workflow")
COMPLETION_LIMIT = 50


def _column(conn: Connection, kind: str) -> Any | None:
    """The column the names of ``kind`` are read from; None: this database has none."""
    rolled = rollups_available(conn)
    if kind == "agent":
        return AgentHourlyRollup.agent_name if rolled else AEM.agent_name
    if kind == "tool":
        return ToolHourlyRollup.tool_name if rolled else TUM.tool_name
    if kind == "model":
        if not has_model_calls(conn):
            return None
        return ModelHourlyRollup.model if rolled else MCM.model
    if kind == "user":
        return AEM.user_id
    if kind == "workflow":
        return WM.workflow_type
    raise ValueError(f"no names of kind {kind!r}; one of {', '.join(NAME_KINDS)}")


def list_names(conn: Connection, kind: str, text: str = "", *, limit: int = COMPLETION_LIMIT) -> tuple[str, ...]:
    """Up to ``limit`` distinct names of ``kind`` containing ``text`` (case-insensitive,
    ``%`` and ``_`` literal), in alphabetical order whatever the case."""
    column = _column(conn, kind)
    if column is None:
        return ()
    stmt = (select(column).where(column.is_not(None), column != "").group_by(column)
            .order_by(func.lower(column), column).limit(limit))
    if text:
        stmt = stmt.where(column.ilike(contains(text), escape=LIKE_ESCAPE))
    return tuple(conn.execute(stmt).scalars())
