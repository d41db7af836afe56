"""Health: can we connect, which schema, how many rows, how big, how new."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, bindparam, func, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.sql.elements import ColumnElement

from studio_analytics.analytics.results import Health, TimeRange
from studio_analytics.analytics.rollup_sources import cached_statement, combined, split_range, zsum
from studio_analytics.db.capabilities import has_model_calls
from studio_analytics.db.engine import safe_url, translate_error
from studio_analytics.db.migrate import database_size_bytes, schema_state
from studio_analytics.db.models import (
    AgentExecutionMetrics,
    ModelCallMetrics,
    SessionMetrics,
    ToolUsageMetrics,
    WorkflowMetrics,
)
from studio_analytics.db.rollup_models import (
    AgentHourlyRollup,
    ModelHourlyRollup,
    ToolHourlyRollup,
    WorkflowHourlyRollup,
)

_TABLES = (AgentExecutionMetrics, ToolUsageMetrics, WorkflowMetrics, SessionMetrics)


def failed_health(url: str, message: str, hint: str = "", dialect: str = "") -> Health:
    return Health(ok=False, dialect=dialect, url=safe_url(url), schema_kind="unknown", schema_revision=None,
                  row_counts={}, database_size_bytes=None, newest_row_time=None, message=message, hint=hint)


def database_health(engine: Engine, url: str | None = None) -> Health:
    """Whole-table row counts (the CLI, the connection test). Never raises: a failure
    comes back as ``ok=False`` with a message and a hint."""
    try:
        with engine.connect() as conn:
            return connection_health(conn, str(url or engine.url))
    except Exception as e:  # noqa: BLE001 - reported, not raised
        err = translate_error(e, url or engine.url)
        return failed_health(str(url or engine.url), err.message, err.hint, engine.dialect.name)


def connection_health(conn: Connection, url: str, tr: TimeRange | None = None) -> Health:
    """Health read on ``conn`` (inside the caller's read transaction). With ``tr`` the
    row counts are the range's, from the rollups: a count(*) over whole tables took
    seconds on a cold million-row file, and is not what the status bar should say.
    Raises on a database error; a database without our tables is ``ok=False``."""
    shown = safe_url(url)
    dialect = conn.dialect.name
    state = schema_state(conn)
    if not state.readable:
        return Health(
            ok=False, dialect=dialect, url=shown, schema_kind=state.kind.value,
            schema_revision=state.revision, row_counts={}, database_size_bytes=None,
            newest_row_time=None,
            message="This database has no studio-analytics metrics tables",
            hint="run `studio-analytics db upgrade --db URL` to create them",
        )
    tables = _TABLES + ((ModelCallMetrics,) if has_model_calls(conn) else ())
    if tr is None:
        counts = {
            model.__tablename__: int(conn.execute(select(func.count()).select_from(model)).scalar() or 0)
            for model in tables
        }
    else:
        counts = range_row_counts(conn, tr)
    newest = conn.execute(
        select(AgentExecutionMetrics.start_time).order_by(AgentExecutionMetrics.start_time.desc()).limit(1)
    ).scalar()
    return Health(
        ok=True, dialect=dialect, url=shown, schema_kind=state.kind.value,
        schema_revision=state.revision, row_counts=counts, database_size_bytes=database_size_bytes(conn),
        newest_row_time=newest if isinstance(newest, datetime) else None, counts_range=tr,
    )


def range_row_counts(conn: Connection, tr: TimeRange) -> dict[str, int]:
    """Rows of each metrics table in ``tr``, in one statement: whole hours from the
    rollups, the partial hours at the ends from raw rows (as the KPIs count them, so
    the executions figure equals the KPIs' total). Sessions: those open at some
    moment of the range, as the "Sessions in range" card counts them."""
    split = split_range(conn, tr)
    models = has_model_calls(conn)

    def build() -> Any:
        def part(raw_model: Any, rollup_model: Any, rollup_count: Any) -> Any:
            def raw(where: ColumnElement[bool]) -> Select[Any]:
                return select(func.count().label("n")).select_from(raw_model).where(where)

            u = combined(split, raw, raw_model.start_time, select(rollup_count.label("n")), rollup_model.hour)
            return select(zsum(u.c.n)).scalar_subquery()

        sm = SessionMetrics
        sessions = select(func.count()).select_from(sm).where(
            (sm.end_time >= bindparam("r_start")) | (sm.end_time.is_(None) & (sm.start_time >= bindparam("r_start"))),
            sm.start_time < bindparam("r_end"),
        ).scalar_subquery()
        counts = [part(AgentExecutionMetrics, AgentHourlyRollup, AgentHourlyRollup.executions),
                  part(ToolUsageMetrics, ToolHourlyRollup, ToolHourlyRollup.calls),
                  part(WorkflowMetrics, WorkflowHourlyRollup, WorkflowHourlyRollup.runs), sessions]
        if models:
            counts.append(part(ModelCallMetrics, ModelHourlyRollup, ModelHourlyRollup.calls))
        return select(*counts)

    stmt = cached_statement(("range_counts", conn.dialect.name, split.shape, models), build)
    row = conn.execute(stmt, {**split.params(), "r_start": tr.start, "r_end": tr.end}).one()
    tables = _TABLES + ((ModelCallMetrics,) if models else ())
    return {model.__tablename__: int(n or 0) for model, n in zip(tables, row, strict=True)}
