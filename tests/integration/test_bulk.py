"""execute_values: many rows in few statements, on both dialects, with exact rowcounts."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from studio_analytics.db import bulk
from studio_analytics.db.engine import create_db_engine


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_url(request: pytest.FixtureRequest) -> str:
    return request.getfixturevalue("sqlite_file_url" if request.param == "sqlite" else "pg_empty_url")


def test_rows_span_several_statements_and_conflicts_are_counted(any_url: str,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    engine = create_db_engine(any_url)
    dialect = engine.dialect.name
    monkeypatch.setitem(bulk._MAX_PARAMS, dialect, 10)  # SQLite: 3 rows of 3 values per statement
    statement = ("INSERT INTO bulk_t (k, v, note)", "ON CONFLICT (k) DO NOTHING")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE bulk_t (k INTEGER PRIMARY KEY, v TEXT, note TEXT)"))
        assert bulk.execute_values(conn, statement, [(i, f"v{i}", None) for i in range(10)]) == 10
        # 5 new, 5 already there: the count says so even across statement boundaries
        assert bulk.execute_values(conn, statement, [(i, "again", "x") for i in range(5, 15)]) == 5
        assert bulk.execute_values(conn, statement, []) == 0
        rows = conn.execute(text("SELECT k, v FROM bulk_t ORDER BY k")).all()
    engine.dispose()
    assert [k for k, _ in rows] == list(range(15))
    assert dict(rows)[7] == "v7" and dict(rows)[12] == "again"
