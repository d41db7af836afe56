"""Shared fixtures: an isolated data folder per test, real SQLite files, real PostgreSQL.

PostgreSQL tests run when ``STUDIO_ANALYTICS_TEST_PG_URL`` names a server (``.ci/run``
sets it). Outside CI they skip if it is unset or the server is down; in CI they fail.
Each test gets its own freshly created database, dropped afterwards.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Test modules are imported before any fixture runs (a module-level build_config() finds
# the default spool folder): even then, nothing may touch this user's own folders.
os.environ["STUDIO_ANALYTICS_HOME"] = tempfile.mkdtemp(prefix="studio-analytics-collect-")
os.environ["XDG_CONFIG_HOME"] = os.path.join(os.environ["STUDIO_ANALYTICS_HOME"], "xdg-config")

from sqlalchemy import create_engine, make_url, text  # noqa: E402

from studio_analytics.db.engine import create_db_engine, dispose_engines  # noqa: E402
from studio_analytics.db.migrate import upgrade_database  # noqa: E402
from tests.pg_databases import pg_database  # noqa: E402

PG_ENV = "STUDIO_ANALYTICS_TEST_PG_URL"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Slow tests first: the suite is spread over workers file by file (pytest-xdist,
    in collection order), and a two-minute soak handed out last would run alone at the end.
    The hang tests are not marked slow on purpose: they measure how fast the tracker
    spools, and must not start beside the soak's four agent processes."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)  # stable: the rest keep their order


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Every test gets its own STUDIO_ANALYTICS_HOME; nothing touches the user's data."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("STUDIO_ANALYTICS_HOME", str(home))
    # Qt's settings (window state, columns, saved views) too, in this process and in
    # the windows tests start as subprocesses: tests run side by side (pytest-xdist).
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "xdg-config"))
    qtcore = sys.modules.get("PySide6.QtCore")
    if qtcore is not None:
        for fmt in (qtcore.QSettings.Format.NativeFormat, qtcore.QSettings.Format.IniFormat):
            qtcore.QSettings.setPath(fmt, qtcore.QSettings.Scope.UserScope, str(home / "qt-settings"))
    monkeypatch.delenv("STUDIO_ANALYTICS_DB", raising=False)
    monkeypatch.delenv("STUDIO_ANALYTICS_DISABLED", raising=False)
    yield str(home)
    dispose_engines()


@pytest.fixture
def sqlite_file_url(tmp_path) -> str:
    """URL of a SQLite file that does not exist yet."""
    return f"sqlite:///{tmp_path / 'metrics.sqlite3'}"


@pytest.fixture
def sqlite_db_url(sqlite_file_url: str) -> str:
    """URL of a SQLite file with the current schema."""
    engine = create_db_engine(sqlite_file_url)
    upgrade_database(engine)
    engine.dispose()
    return sqlite_file_url


@pytest.fixture(scope="session")
def pg_server_url() -> str:
    url = os.environ.get(PG_ENV)
    if not url:
        if in_ci():
            pytest.fail(f"{PG_ENV} is not set in CI; .ci/run must set it")
        pytest.skip(f"{PG_ENV} not set: no PostgreSQL server for this run")
    try:
        engine = create_engine(make_url(url).set(drivername="postgresql+psycopg"), connect_args={"connect_timeout": 5})
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as e:  # noqa: BLE001
        if in_ci():
            pytest.fail(f"PostgreSQL at {url} is unreachable in CI: {e}")
        pytest.skip(f"PostgreSQL at {url} is unreachable: {e}")
    return url


@pytest.fixture
def pg_empty_url(pg_server_url: str) -> Iterator[str]:
    """URL of a new, empty PostgreSQL database, dropped after the test."""
    with pg_database(pg_server_url) as url:
        yield url


@pytest.fixture
def pg_db_url(pg_empty_url: str) -> str:
    """URL of a new PostgreSQL database with the current schema."""
    engine = create_db_engine(pg_empty_url)
    upgrade_database(engine)
    engine.dispose()
    return pg_empty_url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> str:
    """The current schema on each dialect in turn."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_db_url")
    return request.getfixturevalue("pg_db_url")
