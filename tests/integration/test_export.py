"""CSV export: row counts equal the database's, content survives, cancel removes the file."""

from __future__ import annotations

import csv
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select

from studio_analytics.analytics import time_range
from studio_analytics.analytics.results import ExecutionFilter
from studio_analytics.cli import run_cli
from studio_analytics.db.engine import create_db_engine
from studio_analytics.db.models import AgentExecutionMetrics
from studio_analytics.export.csv_export import ExportCancelled, stream_table_csv

NOW = datetime.now(UTC)


@pytest.fixture
def filled(db_url: str) -> str:
    engine = create_db_engine(db_url)
    with engine.begin() as conn:
        conn.execute(insert(AgentExecutionMetrics), [
            dict(execution_id=uuid.uuid4(), agent_name="A" if i % 2 else "B", start_time=NOW - timedelta(hours=i),
                 status="success" if i % 3 else "failure", tool_count=0, retry_count=0, api_calls_count=0,
                 query=("x" * 10_000_000) if i == 7 else f'q "{i}", with, commas\nand lines',
                 tools_called=["t", {"nested": i}])
            for i in range(5_000)
        ])
    engine.dispose()
    return db_url


def test_export_equals_the_database(filled: str, tmp_path: Path) -> None:
    out = tmp_path / "ex.csv"
    tr = time_range(days=365)
    engine = create_db_engine(filled, read_only=True)
    seen: list[tuple[int, int | None]] = []
    with engine.connect() as conn:
        n = stream_table_csv(conn, "executions", tr, out, progress=lambda d, t: seen.append((d, t)) or True)
        expected = conn.execute(select(func.count()).select_from(AgentExecutionMetrics)).scalar()
        only_a = stream_table_csv(conn, "executions", tr, tmp_path / "a.csv", filters=ExecutionFilter(agent_name="A"))
    engine.dispose()
    csv.field_size_limit(20_000_000)  # the 10 MB query is one field
    with out.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert n == len(rows) == expected == 5_000 and only_a == 2_500
    assert seen[-1] == (5_000, 5_000) and len(seen) >= 3  # progress per 2,000-row batch
    sample = next(r for r in rows if r["query"].startswith('q "3"'))
    assert sample["query"] == 'q "3", with, commas\nand lines'
    assert json.loads(sample["tools_called"]) == ["t", {"nested": 3}]
    assert max(len(r["query"]) for r in rows) == 10_000_000


def test_cancel_removes_the_partial_file(filled: str, tmp_path: Path) -> None:
    out = tmp_path / "cancelled.csv"
    engine = create_db_engine(filled, read_only=True)
    with engine.connect() as conn, pytest.raises(ExportCancelled):
        stream_table_csv(conn, "executions", time_range(days=365), out, progress=lambda d, t: d < 2_000)
    engine.dispose()
    assert not out.exists()


def test_export_command(filled: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cli.csv"
    assert run_cli(["export", "executions", "-o", str(out), "--db", filled, "--days", "365", "--status", "failure"]) == 0
    assert "wrote 1,667 executions rows" in capsys.readouterr().out
    assert run_cli(["export", "sessions", "-o", str(tmp_path / "s.csv"), "--db", filled]) == 0
    assert run_cli(["export", "tools", "-o", str(tmp_path / "t.csv"), "--db", str(tmp_path / "none.sqlite3")]) == 1
