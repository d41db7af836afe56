"""Read-only engines refuse writes; every bad input gives its typed error."""

from __future__ import annotations

import socket
import sqlite3
import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import insert, make_url, text

from studio_analytics.db import engine as engine_mod
from studio_analytics.db.engine import create_db_engine, get_engine, translate_error
from studio_analytics.db.errors import (
    AuthenticationError,
    DatabaseLockedError,
    DatabaseNotFoundError,
    NotADatabaseError,
    ReadOnlyError,
    SchemaMissingError,
    ServerUnreachableError,
    UnsupportedURLError,
)
from studio_analytics.db.models import AgentExecutionMetrics
from studio_analytics.db.schema_state import SchemaKind, require_metrics_tables


def _row() -> dict:
    return dict(
        execution_id=uuid.uuid4(), agent_name="A", start_time=datetime.now(UTC), status="success",
        tool_count=0, retry_count=0, api_calls_count=0,
    )


def _error_of(url: str, *, read_only: bool = True, sql: str = "SELECT 1") -> Exception:
    try:
        engine = create_db_engine(url, read_only=read_only)
        with engine.connect() as conn:
            conn.execute(text(sql))
    except Exception as e:  # noqa: BLE001
        return translate_error(e, url)
    raise AssertionError("expected an error")


def test_read_only_engine_refuses_writes(db_url: str) -> None:
    ro = create_db_engine(db_url, read_only=True)
    with ro.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM agent_execution_metrics")).scalar() == 0
    with pytest.raises(Exception) as info, ro.begin() as conn:
        conn.execute(insert(AgentExecutionMetrics), [_row()])
    assert isinstance(translate_error(info.value, db_url), ReadOnlyError)
    with create_db_engine(db_url).connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM agent_execution_metrics")).scalar() == 0


def test_read_only_sqlite_never_creates_the_file(tmp_path) -> None:
    path = tmp_path / "absent.sqlite3"
    with pytest.raises(DatabaseNotFoundError):
        create_db_engine(f"sqlite:///{path}", read_only=True)
    assert not path.exists()


def test_file_that_is_not_a_database(tmp_path) -> None:
    path = tmp_path / "notes.sqlite3"
    path.write_bytes(b"this is a text file, not SQLite\n" * 200)
    assert isinstance(_error_of(f"sqlite:///{path}"), NotADatabaseError)


def test_database_without_our_tables(tmp_path) -> None:
    path = tmp_path / "other.sqlite3"
    with sqlite3.connect(path) as c:
        c.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY)")
    engine = create_db_engine(f"sqlite:///{path}", read_only=True)
    with engine.connect() as conn, pytest.raises(SchemaMissingError) as info:
        require_metrics_tables(conn)
    assert "db upgrade" in info.value.hint


def test_empty_database_is_reported_missing_tables(sqlite_file_url: str) -> None:
    engine = create_db_engine(sqlite_file_url)
    with engine.connect() as conn, pytest.raises(SchemaMissingError):
        require_metrics_tables(conn)


def test_locked_sqlite_file(sqlite_db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    path = make_url(sqlite_db_url).database
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("PRAGMA journal_mode=DELETE")  # WAL would let readers in; lock hard
    holder.execute("BEGIN EXCLUSIVE")
    try:

        monkeypatch.setattr(engine_mod, "SQLITE_BUSY_TIMEOUT_MS", 50)  # keep the test fast
        err = _error_of(sqlite_db_url, read_only=False, sql="SELECT count(*) FROM session_metrics")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert isinstance(err, DatabaseLockedError)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_server() -> None:
    err = _error_of(f"postgresql://postgres@127.0.0.1:{_closed_port()}/postgres")
    assert isinstance(err, ServerUnreachableError)
    assert "127.0.0.1" in err.url and "is PostgreSQL running" in err.hint


def test_password_is_masked_in_errors() -> None:
    err = _error_of(f"postgresql://postgres:s3cret@127.0.0.1:{_closed_port()}/postgres")
    assert "s3cret" not in err.url and "s3cret" not in str(err)


def test_unsupported_url() -> None:
    with pytest.raises(UnsupportedURLError):
        create_db_engine("mysql://root@localhost/x")


@pytest.mark.postgres
def test_bad_credentials(pg_server_url: str) -> None:
    url = make_url(pg_server_url).set(username=f"nobody_{uuid.uuid4().hex[:6]}", password="x")
    assert isinstance(_error_of(url.render_as_string(hide_password=False)), AuthenticationError)


@pytest.mark.postgres
def test_missing_postgres_database(pg_server_url: str) -> None:
    url = make_url(pg_server_url).set(database=f"absent_{uuid.uuid4().hex[:8]}")
    assert isinstance(_error_of(url.render_as_string(hide_password=False)), DatabaseNotFoundError)


@pytest.mark.postgres
def test_postgres_without_our_tables(pg_empty_url: str) -> None:
    engine = create_db_engine(pg_empty_url, read_only=True)
    with engine.connect() as conn, pytest.raises(SchemaMissingError):
        require_metrics_tables(conn)
    engine.dispose()


def test_engines_are_cached_per_url_and_mode(sqlite_db_url: str) -> None:
    assert get_engine(sqlite_db_url) is get_engine(sqlite_db_url)
    assert get_engine(sqlite_db_url, read_only=True) is not get_engine(sqlite_db_url)
    with get_engine(sqlite_db_url, read_only=True).connect() as conn:
        assert require_metrics_tables(conn).kind is SchemaKind.STUDIO


def test_sqlite_pragmas(sqlite_db_url: str) -> None:
    with create_db_engine(sqlite_db_url).connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA synchronous")).scalar() == 1  # NORMAL
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() >= 1000
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
