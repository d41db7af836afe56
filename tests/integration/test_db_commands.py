"""`studio-analytics db upgrade|check` on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pytest

from studio_analytics.cli import run_cli
from studio_analytics.config import default_db_path


def test_upgrade_creates_then_reports_current(sqlite_file_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["db", "upgrade", "--db", sqlite_file_url]) == 0
    assert "upgraded none -> 0005" in capsys.readouterr().out
    assert run_cli(["db", "upgrade", "--db", sqlite_file_url]) == 0
    assert "already at revision 0005" in capsys.readouterr().out
    assert run_cli(["db", "check", "--db", sqlite_file_url, "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["kind"] == "studio" and report["up_to_date"] is True and report["missing_tables"] == []


def test_upgrade_default_database_in_data_folder(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["db", "upgrade"]) == 0
    assert default_db_path().exists()


def test_check_missing_file_is_one_clear_line(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["db", "check", "--db", str(tmp_path / "nope.sqlite3")]) == 1
    err = capsys.readouterr().err
    assert "SQLite file not found" in err and "Traceback" not in err
    assert not (tmp_path / "nope.sqlite3").exists()


@pytest.mark.postgres
def test_upgrade_postgres(pg_empty_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["db", "upgrade", "--db", pg_empty_url]) == 0
    assert "upgraded none -> 0005" in capsys.readouterr().out
    assert run_cli(["db", "check", "--db", pg_empty_url, "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["kind"] == "studio"


def test_rollups_behind_after_a_bulk_import_then_rebuilt(sqlite_db_url: str,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    from sqlalchemy import text

    from studio_analytics.db.engine import create_db_engine

    engine = create_db_engine(sqlite_db_url)
    with engine.begin() as conn:  # rows that did not come through the tracker's writer
        conn.execute(text("INSERT INTO agent_execution_metrics (execution_id, agent_name, start_time, duration_ms, "
                          "status, tool_count, retry_count, api_calls_count) VALUES "
                          "('e1', 'A', '2026-11-20 10:00:00.000000', 5.0, 'success', 0, 0, 0), "
                          "('e2', 'A', '2026-11-20 11:00:00.000000', 7.0, 'failure', 0, 0, 0)"))
    engine.dispose()
    assert run_cli(["db", "check", "--db", sqlite_db_url, "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["rollups_behind"]["agent_execution_metrics"] == 2
    assert run_cli(["db", "rebuild-rollups", "--db", sqlite_db_url]) == 0
    assert "rollup_agent_hourly" in capsys.readouterr().out
    assert run_cli(["db", "check", "--db", sqlite_db_url, "--format", "json"]) == 0
    assert set(json.loads(capsys.readouterr().out)["rollups_behind"].values()) == {0}


def test_session_sums_behind_after_a_bulk_import_then_rebuilt(sqlite_db_url: str,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    from sqlalchemy import text

    from studio_analytics.db.engine import create_db_engine
    from studio_analytics.tracker.sink import DatabaseSink

    sink = DatabaseSink(sqlite_db_url)
    sink.write({"execution": [_run("e1", "sess-a", "success"), _run("e2", "sess-b", "failure")]})
    sink.close()
    assert run_cli(["db", "check", "--db", sqlite_db_url, "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["session_sums_behind"] == 0
    engine = create_db_engine(sqlite_db_url)
    with engine.begin() as conn:  # another program adds a run to a session the writer summed up
        conn.execute(text("INSERT INTO agent_execution_metrics (execution_id, agent_name, start_time, status, "
                          "session_id, tool_count, retry_count, api_calls_count) VALUES "
                          "('e3', 'A', '2026-11-20 12:00:00.000000', 'success', 'sess-a', 0, 0, 0)"))
    engine.dispose()
    assert run_cli(["db", "check", "--db", sqlite_db_url]) == 0
    assert "\nsession_sums_behind  1\n" in capsys.readouterr().out  # the names in one column
    assert run_cli(["db", "rebuild-rollups", "--db", sqlite_db_url]) == 0
    assert "session sums rebuilt for 2 sessions" in capsys.readouterr().out
    assert run_cli(["db", "check", "--db", sqlite_db_url, "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["session_sums_behind"] == 0
    engine = create_db_engine(sqlite_db_url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT total_queries, successful_queries FROM session_metrics "
                                 "WHERE session_id = 'sess-a'")).one() == (2, 2)
    engine.dispose()


def _run(execution_id: str, session: str, status: str) -> dict[str, object]:
    """An execution as the tracker hands it to the writer, with the fields this test reads."""
    import uuid
    from datetime import UTC, datetime

    return dict(execution_id=uuid.uuid5(uuid.NAMESPACE_URL, execution_id), agent_id=None, agent_name="A",
                start_time=datetime(2026, 11, 20, 10, tzinfo=UTC), end_time=None, duration_ms=None, status=status,
                query=None, response=None, error_message=None, tools_called=[], tool_count=0, retry_count=0,
                session_id=session, user_id=None, correlation_id=None, tokens_used=None, api_calls_count=0)
