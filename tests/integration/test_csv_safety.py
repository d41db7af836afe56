"""CSV exports are safe to open in a spreadsheet, private, and never left half-written."""

from __future__ import annotations

import csv
import os
import shutil
import stat
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert

from studio_analytics.analytics import time_range
from studio_analytics.cli import run_cli
from studio_analytics.db.engine import create_db_engine
from studio_analytics.db.models import AgentExecutionMetrics, SessionMetrics
from studio_analytics.export.csv_export import ExportCancelled, stream_table_csv, write_rows_csv

NOW = datetime.now(UTC)
#: Stored text -> what a spreadsheet-safe export writes.
HOSTILE = {
    "=HYPERLINK(\"http://evil\",\"x\")": "'=HYPERLINK(\"http://evil\",\"x\")",
    "+1+cmd|' /C calc'!A0": "'+1+cmd|' /C calc'!A0",
    "-2+3": "'-2+3",
    "-3.5": "'-3.5",  # negative numbers stored as text are prefixed too (OWASP)
    "@SUM(A1:A9)": "'@SUM(A1:A9)",
    "\tleading tab": "'\tleading tab",
    "\rleading CR": "'\rleading CR",
    "plain = text": "plain = text",
    "'already quoted": "'already quoted",
}


def _insert(url: str, rows: list[dict[str, object]]) -> None:
    engine = create_db_engine(url)
    with engine.begin() as conn:
        conn.execute(insert(AgentExecutionMetrics), rows)
    engine.dispose()


def _row(i: int, **values: object) -> dict[str, object]:
    base: dict[str, object] = dict(execution_id=uuid.uuid4(), agent_name=f"agent-{i}", start_time=NOW - timedelta(minutes=i),
                                   status="success", tool_count=0, retry_count=0, api_calls_count=0, query=f"q{i}")
    return base | values


@pytest.fixture
def hostile(db_url: str) -> str:
    """One execution per hostile text, in the query, error and agent-name columns; a
    negative duration and token count stored as numbers."""
    _insert(db_url, [_row(i, agent_name=text, query=text, error_message=text, session_id=text,
                          duration_ms=-3.5, tokens_used=-7)
                     for i, text in enumerate(HOSTILE)])
    return db_url


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_formulas_are_neutralised_in_every_text_column(hostile: str, tmp_path: Path) -> None:
    out = tmp_path / "safe.csv"
    engine = create_db_engine(hostile, read_only=True)
    with engine.connect() as conn:
        stream_table_csv(conn, "executions", time_range(days=1), out)
    engine.dispose()
    rows = _read(out)
    assert len(rows) == len(HOSTILE)
    for row in rows:
        stored = next(k for k, v in HOSTILE.items() if v == row["query"])
        assert row["agent_name"] == row["error_message"] == row["session_id"] == HOSTILE[stored]
        assert row["duration_ms"] == "-3.5" and row["tokens_used"] == "-7"  # numbers stay numbers


def test_raw_csv_flag_writes_the_stored_text(hostile: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    safe, raw = tmp_path / "safe.csv", tmp_path / "raw.csv"
    assert run_cli(["export", "executions", "-o", str(safe), "--db", hostile, "--days", "1"]) == 0
    assert run_cli(["export", "executions", "-o", str(raw), "--db", hostile, "--days", "1", "--raw-csv"]) == 0
    assert sorted(r["query"] for r in _read(safe)) == sorted(HOSTILE.values())
    assert sorted(r["query"] for r in _read(raw)) == sorted(HOSTILE)
    capsys.readouterr()
    with pytest.raises(SystemExit):
        run_cli(["export", "--help"])
    assert "--raw-csv" in capsys.readouterr().out


def test_view_rows_are_neutralised_unless_raw(tmp_path: Path) -> None:
    @dataclass(frozen=True)
    class Row:
        name: str
        value: float

    rows = [Row("=1+1", -2.0), Row("@me", 3.0)]
    write_rows_csv(tmp_path / "v.csv", rows)
    write_rows_csv(tmp_path / "raw.csv", rows, escape_formulas=False)
    assert [(r["name"], r["value"]) for r in _read(tmp_path / "v.csv")] == [("'=1+1", "-2.0"), ("'@me", "3.0")]
    assert [r["name"] for r in _read(tmp_path / "raw.csv")] == ["=1+1", "@me"]


def test_other_tables_are_neutralised_too(db_url: str, tmp_path: Path) -> None:
    engine = create_db_engine(db_url)
    with engine.begin() as conn:
        conn.execute(insert(SessionMetrics), [dict(session_id="=evil()", user_id="+x", start_time=NOW - timedelta(hours=1),
                                                   total_queries=1)])
    engine.dispose()
    out = tmp_path / "s.csv"
    assert run_cli(["export", "sessions", "-o", str(out), "--db", db_url, "--days", "1"]) == 0
    (row,) = _read(out)
    assert (row["session_id"], row["user_id"]) == ("'=evil()", "'+x")


@pytest.fixture
def open_umask() -> Iterator[None]:
    old = os.umask(0)  # the most permissive umask: the file must still be private
    try:
        yield
    finally:
        os.umask(old)


def test_export_file_is_private_and_replaces_the_old_one(sqlite_db_url: str, tmp_path: Path, open_umask: None) -> None:
    (tmp_path / "exports").mkdir()
    out = tmp_path / "exports" / "out.csv"
    out.write_text("old")
    out.chmod(0o644)
    _insert(sqlite_db_url, [_row(1)])
    assert run_cli(["export", "executions", "-o", str(out), "--db", sqlite_db_url]) == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert [r["query"] for r in _read(out)] == ["q1"]
    assert [p.name for p in out.parent.iterdir()] == ["out.csv"]  # no temporary file left


def test_cancel_keeps_the_previous_file(sqlite_db_url: str, tmp_path: Path) -> None:
    _insert(sqlite_db_url, [_row(i) for i in range(5_000)])
    (tmp_path / "exports").mkdir()
    out = tmp_path / "exports" / "out.csv"
    out.write_text("previous export\n")
    engine = create_db_engine(sqlite_db_url, read_only=True)
    with engine.connect() as conn, pytest.raises(ExportCancelled):
        stream_table_csv(conn, "executions", time_range(days=30), out, progress=lambda d, t: d < 2_000)
    engine.dispose()
    assert out.read_text() == "previous export\n"
    assert [p.name for p in out.parent.iterdir()] == ["out.csv"]


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 64 KiB tmpfs: writes past it fail with ENOSPC."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root and mount(8)")
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        pytest.skip(f"mount -t tmpfs is not permitted here: {proc.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def test_full_disk_leaves_no_partial_file(sqlite_db_url: str, tiny_disk: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    _insert(sqlite_db_url, [_row(i, query="x" * 200) for i in range(2_000)])  # ~500 KB of CSV
    out = tiny_disk / "out.csv"
    out.write_text("previous export\n")
    capsys.readouterr()
    assert run_cli(["export", "executions", "-o", str(out), "--db", sqlite_db_url]) == 1
    err = capsys.readouterr().err
    assert err.strip() == f"error: {out}: No space left on device"
    assert "Database error" not in err and "Traceback" not in err
    assert [p.name for p in tiny_disk.iterdir()] == ["out.csv"]  # the temporary file is gone
    assert out.read_text() == "previous export\n"  # and the old export is intact


def test_missing_folder_is_a_file_error_not_a_database_error(sqlite_db_url: str, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "no" / "such" / "out.csv"
    assert run_cli(["export", "executions", "-o", str(out), "--db", sqlite_db_url]) == 1
    assert capsys.readouterr().err.strip() == f"error: {out}: No such file or directory"
    assert run_cli(["export", "executions", "-o", str(tmp_path), "--db", sqlite_db_url]) == 1
    assert capsys.readouterr().err.strip() == f"error: {tmp_path}: Is a directory"
