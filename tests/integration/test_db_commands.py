"""`studio-analytics db upgrade|check` on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pytest

from studio_analytics.cli import run_cli
from studio_analytics.config import default_db_path


def test_upgrade_creates_then_reports_current(sqlite_file_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["db", "upgrade", "--db", sqlite_file_url]) == 0
    assert "upgraded none -> 0002" in capsys.readouterr().out
    assert run_cli(["db", "upgrade", "--db", sqlite_file_url]) == 0
    assert "already at revision 0002" in capsys.readouterr().out
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
    assert "upgraded none -> 0002" in capsys.readouterr().out
    assert run_cli(["db", "check", "--db", pg_empty_url, "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["kind"] == "studio"
