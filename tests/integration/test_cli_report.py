"""`studio-analytics report`: stable JSON equal to the analytics functions; clear errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from studio_analytics.analytics import agent_usage, time_range
from studio_analytics.cli import run_cli
from studio_analytics.commands.report import REPORTS, SCHEMA
from studio_analytics.db.engine import create_db_engine


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('cli') / 'demo.sqlite3'}"
    assert run_cli(["demo", "--db", url, "--executions", "300", "--days", "3", "--seed", "5"]) == 0
    return url


@pytest.mark.parametrize("name", REPORTS)
def test_every_report_has_the_documented_shape(name: str, demo_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert run_cli(["report", name, "--db", demo_db, "--format", "json", "--days", "7"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["schema"] == SCHEMA and payload["report"] == name
    assert set(payload["range"]) == {"start", "end", "bucket", "label"}
    assert payload["data"]
    assert run_cli(["report", name, "--db", demo_db]) == 0  # the table form prints too
    assert capsys.readouterr().out.strip()


def test_json_numbers_equal_the_analytics_layer(demo_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert run_cli(["report", "agents", "--db", demo_db, "--format", "json", "--start", "2000-01-01"]) == 0
    payload = json.loads(capsys.readouterr().out)
    engine = create_db_engine(demo_db, read_only=True)
    with engine.connect() as conn:
        expected = agent_usage(conn, time_range(start_date=payload["range"]["start"], end_date=payload["range"]["end"]))
    engine.dispose()
    assert [(r["agent_name"], r["executions"], r["p95_duration_ms"]) for r in payload["data"]["rows"]] == [
        (r.agent_name, r.executions, r.p95_duration_ms) for r in expected.rows
    ]


def test_errors_are_one_line_without_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["report", "agents", "--db", str(tmp_path / "missing.sqlite3")]) == 1
    err = capsys.readouterr().err
    assert "not found" in err and "Traceback" not in err
    assert run_cli(["report", "agents", "--db", "postgresql://x@127.0.0.1:1/db"]) == 1
    assert "Cannot reach" in capsys.readouterr().err
    assert run_cli(["report", "agents", "--start", "2026-02-01", "--end", "2026-01-01"]) == 2


def test_entry_point_in_a_subprocess(demo_db: str) -> None:
    exe = Path(sys.executable).with_name("studio-analytics")
    proc = subprocess.run([str(exe), "report", "summary", "--db", demo_db, "--format", "json"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["data"]["kpis"]["total_executions"] >= 0


def test_show_execution_and_session(demo_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    from studio_analytics.analytics import execution_detail, list_executions

    engine = create_db_engine(demo_db, read_only=True)
    with engine.connect() as conn:
        row = max(list_executions(conn, time_range(days=30), limit=300).rows, key=lambda r: r.tool_count)
        detail = execution_detail(conn, row.execution_id)
    engine.dispose()
    capsys.readouterr()
    assert run_cli(["show", "execution", str(row.execution_id), "--db", demo_db, "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)["data"]
    assert data["execution_id"] == str(row.execution_id)
    assert [c["tool_name"] for c in data["tool_calls"]] == [c.tool_name for c in detail.tool_calls]
    assert run_cli(["show", "session", detail.session_id, "--db", demo_db]) == 0
    assert detail.session_id in capsys.readouterr().out
    assert run_cli(["show", "execution", "not-a-uuid", "--db", demo_db]) == 2
    assert run_cli(["show", "session", "nope", "--db", demo_db]) == 1
    assert "no session nope" in capsys.readouterr().err
