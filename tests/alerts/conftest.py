"""Fixtures the alert tests share."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pytest

from studio_analytics.db.engine import dispose_engines
from tests.alerts.alert_data import burst_base, write_bursts
from tests.pg_databases import pg_database


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def burst_db(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, datetime]]:
    """A module's database of failure bursts at known times (alert_data.write_bursts), and
    the time they are counted from; on SQLite and PostgreSQL."""
    base = burst_base()
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('bursts') / 'bursts.sqlite3'}"
        write_bursts(url, base)
        yield url, base
        return
    with pg_database(request.getfixturevalue("pg_server_url")) as url:
        write_bursts(url, base)
        yield url, base
    dispose_engines()
