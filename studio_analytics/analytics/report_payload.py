"""The ``studio-analytics/report/v1`` JSON: one code path for ``studio-analytics report``,
``studio-analytics show`` and the REST API of ``studio-analytics serve``, so their bodies
cannot drift apart.

Shape: ``{"schema": SCHEMA, "report": NAME, "range": {...}, "data": ...}`` with ISO 8601
UTC times, UUIDs as strings and NaN/infinity as null; a detail (one execution or session)
is ``{"schema", "report": "execution"|"session", "data"}``.
"""

from __future__ import annotations

import dataclasses
import math
import uuid
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy.engine import Connection, Engine

from studio_analytics.analytics.agents import agent_usage
from studio_analytics.analytics.detail import execution_detail, session_detail
from studio_analytics.analytics.errors import error_analysis
from studio_analytics.analytics.health import database_health
from studio_analytics.analytics.heatmap import usage_heatmap
from studio_analytics.analytics.kpis import summary_kpis
from studio_analytics.analytics.models import cost_breakdown, model_usage
from studio_analytics.analytics.results import TimeRange
from studio_analytics.analytics.series import time_series
from studio_analytics.analytics.sessions import session_activity
from studio_analytics.analytics.tools import tool_usage
from studio_analytics.analytics.users import user_activity
from studio_analytics.analytics.workflows import workflow_performance

SCHEMA = "studio-analytics/report/v1"
REPORTS = ("summary", "agents", "tools", "workflows", "errors", "sessions", "health", "models", "cost", "users",
           "heatmap")
DETAILS = ("execution", "session")
DEFAULT_LIMIT = 100


def to_jsonable(value: Any) -> Any:
    """Result dataclasses, numpy arrays and scalars, datetimes, UUIDs and enums as plain
    JSON values; NaN and infinity as None (JSON has neither)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return [to_jsonable(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        return to_jsonable(value.item())
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if hasattr(value, "value") and isinstance(getattr(value, "value", None), str):  # enums
        return value.value
    return value


def report_data(conn: Connection, name: str, tr: TimeRange, limit: int = DEFAULT_LIMIT, by: str | None = None,
                user: str | None = None) -> Any:
    """The result objects of report ``name`` (any of :data:`REPORTS` but ``health``,
    which needs the engine: :func:`health_data`)."""
    if name == "users":
        return user_activity(conn, tr, limit=limit)
    if name == "heatmap":  # weekdays and hours in UTC, like every time in a report
        return usage_heatmap(conn, tr, user_id=user)
    if name == "models":
        return model_usage(conn, tr, limit=limit)
    if name == "cost":
        return cost_breakdown(conn, tr, by=by or "model", limit=limit)
    if name == "summary":
        return {"kpis": summary_kpis(conn, tr), "series": time_series(conn, tr)}
    if name == "agents":
        return agent_usage(conn, tr, limit=limit)
    if name == "tools":
        return tool_usage(conn, tr, limit=limit)
    if name == "workflows":
        return workflow_performance(conn, tr, limit=limit)
    if name == "errors":
        return error_analysis(conn, tr, limit=limit)
    if name == "sessions":
        return session_activity(conn, tr, limit=limit)
    raise ValueError(f"unknown report {name!r}; use one of {', '.join(REPORTS)}")


def health_data(engine: Engine, url: str) -> Any:
    """``report health``: whole-table counts; never raises (a failure is ``ok=False``)."""
    return database_health(engine, url)


def wrap_payload(name: str, tr: TimeRange, data: Any) -> dict[str, Any]:
    """The report/v1 document of ``data`` (result objects or already plain values)."""
    return {
        "schema": SCHEMA, "report": name,
        "range": {"start": tr.start.isoformat(), "end": tr.end.isoformat(), "bucket": tr.bucket.value,
                  "label": tr.label},
        "data": to_jsonable(data),
    }


def report_payload(conn: Connection, name: str, tr: TimeRange, *, limit: int = DEFAULT_LIMIT, by: str | None = None,
                   user: str | None = None) -> dict[str, Any]:
    """Report ``name`` over ``tr`` as its report/v1 document."""
    return wrap_payload(name, tr, report_data(conn, name, tr, limit, by, user))


def detail_payload(conn: Connection, kind: str, key: uuid.UUID | str) -> dict[str, Any] | None:
    """One execution (``key`` a UUID) or session (its id) as ``studio-analytics show``
    prints it; None when there is no such item."""
    item = execution_detail(conn, key) if kind == "execution" else session_detail(conn, str(key))  # type: ignore[arg-type]
    if item is None:
        return None
    return {"schema": SCHEMA, "report": kind, "data": to_jsonable(item)}
