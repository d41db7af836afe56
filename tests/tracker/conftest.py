"""Tracker fixtures: a configured tracker writing to a real database, shut down after."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from studio_analytics import tracker
from studio_analytics.db.engine import create_db_engine
from studio_analytics.db.models import (
    AgentExecutionMetrics,
    SessionMetrics,
    ToolUsageMetrics,
    WorkflowMetrics,
)


def configure_fast(url: str, spool: Path, **kwargs: object) -> None:
    options: dict[str, object] = {"flush_interval_s": 0.05, "exit_timeout_s": 5.0, **kwargs}
    tracker.configure(db_url=url, spool_path=str(spool), **options)  # type: ignore[arg-type]


@pytest.fixture
def spool_file(tmp_path: Path) -> Path:
    return tmp_path / "spool.sqlite3"


@pytest.fixture
def tracked_db(sqlite_file_url: str, spool_file: Path) -> Iterator[str]:
    """A tracker writing to a fresh SQLite file (created by the tracker itself)."""
    configure_fast(sqlite_file_url, spool_file)
    yield sqlite_file_url
    tracker.shutdown(5)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def tracked_any_db(request: pytest.FixtureRequest, spool_file: Path) -> Iterator[str]:
    url = request.getfixturevalue("sqlite_file_url" if request.param == "sqlite" else "pg_empty_url")
    configure_fast(url, spool_file)
    yield url
    tracker.shutdown(5)


def count(url: str, model: object) -> int:
    engine = create_db_engine(url)
    with engine.connect() as conn:
        n = conn.execute(select(func.count()).select_from(model)).scalar()  # type: ignore[arg-type]
    engine.dispose()
    return int(n or 0)


def rows(url: str, model: object) -> list[dict]:
    engine = create_db_engine(url)
    with engine.connect() as conn:
        out = [dict(r) for r in conn.execute(select(model)).mappings()]  # type: ignore[call-overload]
    engine.dispose()
    return out


def raw(url: str, sql: str) -> list[tuple]:
    engine = create_db_engine(url)
    with engine.connect() as conn:
        out = [tuple(r) for r in conn.execute(text(sql))]
    engine.dispose()
    return out


__all__ = [
    "AgentExecutionMetrics", "SessionMetrics", "ToolUsageMetrics", "WorkflowMetrics",
    "configure_fast", "count", "raw", "rows",
]
