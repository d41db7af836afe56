"""Fixtures of the REST API tests: demo databases on both dialects, the application in
process (Starlette's TestClient: real ASGI, real database), and the real CLI's JSON to
compare with."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from starlette.testclient import TestClient

from studio_analytics.cli import run_cli
from studio_analytics.demo.generator import backfill
from studio_analytics.server.app import create_app
from studio_analytics.server.runner import ApiServer
from studio_analytics.server.settings import ServeSettings
from tests.pg_databases import pg_database

#: Every range of these tests ends here, so the CLI and the API see the same instant;
#: the demo data end a little before it (``DEMO_END_NS``).
END = "2026-11-30T12:00:00+00:00"
DEMO_END_NS = 1_796_036_400 * 10**9  # 2026-11-30T11:00:00Z



@pytest.fixture(scope="module")
def demo_sqlite(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A module's demo file whose history ends at a fixed time (ranges pinned to END see
    the same rows whatever the day the suite runs)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('demo') / 'demo.sqlite3'}"
    backfill(url, executions=1200, days=5, seed=19, end_ns=DEMO_END_NS)
    return url


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def demo_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """The demo file, then a PostgreSQL database with the same kind of history."""
    if request.param == "sqlite":
        yield request.getfixturevalue("demo_sqlite")
        return
    with pg_database(request.getfixturevalue("pg_server_url")) as url:
        backfill(url, executions=400, days=5, seed=19, end_ns=DEMO_END_NS)
        yield url


@pytest.fixture(scope="module")
def empty_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A module's SQLite file with the current schema and no rows."""
    from studio_analytics.db.engine import create_db_engine
    from studio_analytics.db.migrate import upgrade_database

    url = f"sqlite:///{tmp_path_factory.mktemp('empty') / 'metrics.sqlite3'}"
    engine = create_db_engine(url)
    upgrade_database(engine)
    engine.dispose()
    return url


@contextmanager
def running_server(db_url: str, *, host: str = "127.0.0.1", **settings: Any) -> Iterator[ApiServer]:
    """The real server (Uvicorn on an ephemeral port) in a background thread."""
    server = ApiServer(ServeSettings(db_url=db_url, **settings), host=host, port=0, access_log=False).start()
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def api_client(db_url: str, **settings: Any) -> Iterator[TestClient]:
    """The application on ``db_url`` in this process; the lifespan runs (the query pool
    is closed at the end). Unexpected errors come back as the 500 a client would get."""
    app = create_app(ServeSettings(db_url=db_url, **settings))
    with TestClient(app, base_url="http://127.0.0.1:8000", raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def cli_json(capsys: pytest.CaptureFixture[str]) -> Callable[..., Any]:
    """``cli_json("report", "agents", "--db", url, ...)``: the parsed JSON the real CLI
    prints (``--format json`` added), checked to exit as expected."""

    def run(*args: str, code: int = 0) -> Any:
        capsys.readouterr()
        assert run_cli([*args, "--format", "json"]) == code, capsys.readouterr().err
        return json.loads(capsys.readouterr().out)

    return run
