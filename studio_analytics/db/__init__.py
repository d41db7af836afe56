"""Database layer: models, engines, migrations. Imports no Qt and nothing above it."""

from studio_analytics.db.engine import create_db_engine, get_engine, translate_error
from studio_analytics.db.errors import DatabaseError
from studio_analytics.db.models import (
    AgentExecutionMetrics,
    SessionMetrics,
    Status,
    ToolUsageMetrics,
    WorkflowMetrics,
    normalize_status,
)

__all__ = [
    "AgentExecutionMetrics",
    "DatabaseError",
    "SessionMetrics",
    "Status",
    "ToolUsageMetrics",
    "WorkflowMetrics",
    "create_db_engine",
    "get_engine",
    "normalize_status",
    "translate_error",
]
