"""Demo data on both dialects for query tests: one SQLite file and one PostgreSQL
database per module (the PostgreSQL one smaller: it is filled over a connection)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from studio_analytics.demo.generator import backfill
from tests.pg_databases import pg_database


def demo_fixtures(*, executions: int, days: int, seed: int, pg_executions: int) -> tuple[Any, Any]:
    """``(demo_sqlite, demo_url)`` fixtures: a module's SQLite demo file, and a
    parametrised URL that is that file or the module's PostgreSQL database with the same
    kind of data. Both are shared by the module's tests, as the SQLite file always was.
    Assign both in the test module: ``demo_sqlite, demo_url = demo_fixtures(...)``."""

    @pytest.fixture(scope="module")
    def demo_sqlite(tmp_path_factory: pytest.TempPathFactory) -> str:
        url = f"sqlite:///{tmp_path_factory.mktemp('demo') / 'demo.sqlite3'}"
        backfill(url, executions=executions, days=days, seed=seed)
        return url

    @pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
    def demo_url(request: pytest.FixtureRequest) -> Iterator[str]:
        if request.param == "sqlite":
            yield request.getfixturevalue("demo_sqlite")
            return
        with pg_database(request.getfixturevalue("pg_server_url")) as url:
            backfill(url, executions=pg_executions, days=days, seed=seed)
            yield url

    return demo_sqlite, demo_url
