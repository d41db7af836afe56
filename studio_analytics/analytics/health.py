"""Health: can we connect, which schema, how many rows, how big, how new."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from studio_analytics.analytics.results import Health
from studio_analytics.db.engine import safe_url, translate_error
from studio_analytics.db.migrate import database_size_bytes, schema_state
from studio_analytics.db.models import (
    AgentExecutionMetrics,
    SessionMetrics,
    ToolUsageMetrics,
    WorkflowMetrics,
)

_TABLES = (AgentExecutionMetrics, ToolUsageMetrics, WorkflowMetrics, SessionMetrics)


def database_health(engine: Engine, url: str | None = None) -> Health:
    """Never raises: a failure comes back as ``ok=False`` with a message and a hint."""
    shown = safe_url(url or engine.url)
    dialect = engine.dialect.name
    try:
        with engine.connect() as conn:
            state = schema_state(conn)
            if not state.readable:
                return Health(
                    ok=False, dialect=dialect, url=shown, schema_kind=state.kind.value,
                    schema_revision=state.revision, row_counts={}, database_size_bytes=None,
                    newest_row_time=None,
                    message="This database has no studio-analytics metrics tables",
                    hint="run `studio-analytics db upgrade --db URL` to create them",
                )
            counts = {
                model.__tablename__: int(conn.execute(select(func.count()).select_from(model)).scalar() or 0)
                for model in _TABLES
            }
            newest = conn.execute(
                select(AgentExecutionMetrics.start_time).order_by(AgentExecutionMetrics.start_time.desc()).limit(1)
            ).scalar()
            size = database_size_bytes(conn)
    except Exception as e:  # noqa: BLE001 - reported, not raised
        err = translate_error(e, url or engine.url)
        return Health(
            ok=False, dialect=dialect, url=shown, schema_kind="unknown", schema_revision=None,
            row_counts={}, database_size_bytes=None, newest_row_time=None,
            message=err.message, hint=err.hint,
        )
    return Health(
        ok=True, dialect=dialect, url=shown, schema_kind=state.kind.value,
        schema_revision=state.revision, row_counts=counts, database_size_bytes=size,
        newest_row_time=newest if isinstance(newest, datetime) else None,
    )
