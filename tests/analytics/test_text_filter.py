"""The free-text filter matches what was typed literally: ``%``, ``_`` and ``\\`` are not
LIKE wildcards (SQLite and PostgreSQL), in the list, the export and the CLI."""

from __future__ import annotations

import csv
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert

from studio_analytics.analytics import error_signature, list_executions, time_range
from studio_analytics.analytics.results import ExecutionFilter
from studio_analytics.cli import run_cli
from studio_analytics.db.engine import create_db_engine
from studio_analytics.db.models import AgentExecutionMetrics

NOW = datetime.now(UTC)
QUERIES = ["plain question", "100% sure", "snake_case name", "C:\\temp\\file", "100 percent", "snakeXcase",
           "C:tempfile", "ends with backslash \\"]
#: typed text -> the queries it must match, and nothing else
EXPECTED = {
    "%": {"100% sure"},
    "_": {"snake_case name"},
    "\\": {"C:\\temp\\file", "ends with backslash \\"},
    "0% s": {"100% sure"},
    "e_c": {"snake_case name"},
    "\\t": {"C:\\temp\\file"},
    "SNAKE_": {"snake_case name"},  # still case-insensitive
}


@pytest.fixture
def texts(db_url: str) -> str:
    engine = create_db_engine(db_url)
    with engine.begin() as conn:
        conn.execute(insert(AgentExecutionMetrics), [
            dict(execution_id=uuid.uuid4(), agent_name="agent", start_time=NOW - timedelta(minutes=i + 1),
                 status="failure", tool_count=0, retry_count=0, api_calls_count=0, query=q, error_message=q)
            for i, q in enumerate(QUERIES)
        ])
    engine.dispose()
    return db_url


def _matching(url: str, text: str) -> set[str]:
    engine = create_db_engine(url, read_only=True)
    with engine.connect() as conn:
        page = list_executions(conn, time_range(days=1), filters=ExecutionFilter(text=text), limit=100)
    engine.dispose()
    by_message = {r.error_message for r in page.rows}
    return {q for q in QUERIES if q in by_message}


@pytest.mark.parametrize("text", EXPECTED)
def test_wildcards_are_literal(texts: str, text: str) -> None:
    assert _matching(texts, text) == EXPECTED[text]


def test_cli_export_text_filter_is_literal(texts: str, tmp_path: Path) -> None:
    out = tmp_path / "pct.csv"
    assert run_cli(["export", "executions", "-o", str(out), "--db", texts, "--days", "1", "--text", "%"]) == 0
    with out.open(newline="", encoding="utf-8") as f:
        assert [r["query"] for r in csv.DictReader(f)] == ["100% sure"]


def test_error_signature_with_a_trailing_backslash(texts: str) -> None:
    signature = error_signature("ends with backslash \\")
    engine = create_db_engine(texts, read_only=True)
    with engine.connect() as conn:
        page = list_executions(conn, time_range(days=1), filters=ExecutionFilter(error_signature=signature))
    engine.dispose()
    assert [r.error_message for r in page.rows] == ["ends with backslash \\"]
