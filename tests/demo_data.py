"""Demo data on both dialects for query tests: one SQLite file per module, and a fresh
PostgreSQL database per test (smaller, since PostgreSQL tests create theirs each time)."""

from __future__ import annotations

from typing import Any

import pytest

from studio_analytics.demo.generator import backfill


def demo_fixtures(*, executions: int, days: int, seed: int, pg_executions: int) -> tuple[Any, Any]:
    """``(demo_sqlite, demo_url)`` fixtures: a module's SQLite demo file, and a
    parametrised URL that is that file or a PostgreSQL database with the same kind of
    data. Assign both in the test module: ``demo_sqlite, demo_url = demo_fixtures(...)``."""

    @pytest.fixture(scope="module")
    def demo_sqlite(tmp_path_factory: pytest.TempPathFactory) -> str:
        url = f"sqlite:///{tmp_path_factory.mktemp('demo') / 'demo.sqlite3'}"
        backfill(url, executions=executions, days=days, seed=seed)
        return url

    @pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
    def demo_url(request: pytest.FixtureRequest) -> str:
        if request.param == "sqlite":
            return request.getfixturevalue("demo_sqlite")
        url = request.getfixturevalue("pg_empty_url")
        backfill(url, executions=pg_executions, days=days, seed=seed)
        return url

    return demo_sqlite, demo_url
