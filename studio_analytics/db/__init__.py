"""Database layer: models, engines, migrations. Imports no Qt and nothing above it.

The names below are loaded on first use: the tracker imports ``db.rows`` on the
agent's thread, and must not pay for importing SQLAlchemy there.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "create_db_engine": "studio_analytics.db.engine",
    "get_engine": "studio_analytics.db.engine",
    "translate_error": "studio_analytics.db.engine",
    "DatabaseError": "studio_analytics.db.errors",
    "AgentExecutionMetrics": "studio_analytics.db.models",
    "SessionMetrics": "studio_analytics.db.models",
    "Status": "studio_analytics.db.models",
    "ToolUsageMetrics": "studio_analytics.db.models",
    "WorkflowMetrics": "studio_analytics.db.models",
    "normalize_status": "studio_analytics.db.models",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'studio_analytics.db' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = sorted(_EXPORTS)
