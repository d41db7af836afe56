"""`studio-analytics report`: stable JSON equal to the analytics functions; clear errors."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from studio_analytics.analytics import (
    agent_usage,
    cost_breakdown,
    execution_detail,
    list_executions,
    model_usage,
    time_range,
)
from studio_analytics.cli import run_cli
from studio_analytics.commands.report import REPORTS, SCHEMA, to_jsonable
from studio_analytics.db.engine import create_db_engine
from tests.analytics.model_data import without_revision_0003


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


# -- model calls: report models, report cost, the trace tree in show ----------------------
def _json(capsys: pytest.CaptureFixture[str], argv: list[str]) -> dict:
    capsys.readouterr()
    assert run_cli(argv) == 0
    return json.loads(capsys.readouterr().out)


def _range_of(payload: dict) -> Any:
    return time_range(start_date=payload["range"]["start"], end_date=payload["range"]["end"])


def test_report_models_equals_model_usage(demo_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    payload = _json(capsys, ["report", "models", "--db", demo_db, "--format", "json", "--start", "2000-01-01"])
    engine = create_db_engine(demo_db, read_only=True)
    with engine.connect() as conn:
        expected = model_usage(conn, _range_of(payload))
    engine.dispose()
    assert expected is not None and expected.rows, "the demo makes model calls"
    assert payload["data"] == to_jsonable(expected)
    assert any(r["cost_usd"] is None and r["unpriced_calls"] == r["calls"] for r in payload["data"]["rows"])
    assert set(payload["data"]["series"]["by_model"]) <= {r["model"] for r in payload["data"]["rows"]} | {"other"}
    capsys.readouterr()
    assert run_cli(["report", "models", "--db", demo_db, "--start", "2000-01-01"]) == 0
    table = capsys.readouterr().out
    assert "unpriced" in table and "no price" in table and expected.rows[0].model in table


@pytest.mark.parametrize("by", ["model", "agent", "user", "session", "day"])
def test_report_cost_by_each_key(by: str, demo_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["report", "cost", "--by", by, "--db", demo_db, "--start", "2000-01-01", "--end", "2100-01-01"]
    payload = _json(capsys, [*argv, "--format", "json"])
    engine = create_db_engine(demo_db, read_only=True)
    with engine.connect() as conn:
        expected = cost_breakdown(conn, _range_of(payload), by=by)
    engine.dispose()
    assert expected is not None and payload["data"] == to_jsonable(expected) and payload["data"]["by"] == by
    capsys.readouterr()
    assert run_cli([*argv, "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [(r["key"], int(r["calls"]), r["cost_usd"]) for r in rows] == [
        (r.key, r.calls, "" if r.cost_usd is None else repr(r.cost_usd)) for r in expected.rows]
    assert run_cli(argv) == 0
    assert f"by {by}" in capsys.readouterr().out


def test_cost_options_are_checked(demo_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["report", "agents", "--by", "model", "--db", demo_db]) == 2
    assert "--by goes with report cost" in capsys.readouterr().err
    assert run_cli(["report", "agents", "--format", "csv", "--db", demo_db]) == 2
    assert "--format csv is for report models and report cost" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        run_cli(["report", "cost", "--by", "planet", "--db", demo_db])


def test_reports_without_model_calls_say_so(sqlite_db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    url = without_revision_0003(sqlite_db_url)
    for name in ("models", "cost"):
        assert _json(capsys, ["report", name, "--db", url, "--format", "json"])["data"] is None
        assert run_cli(["report", name, "--db", url]) == 0
        assert "no model calls in this database" in capsys.readouterr().out


def test_show_execution_prints_the_trace_tree(demo_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    engine = create_db_engine(demo_db, read_only=True)
    with engine.connect() as conn:
        page = list_executions(conn, time_range(days=30), limit=1000).rows
        details = (execution_detail(conn, r.execution_id) for r in page if r.tool_count)
        detail = next(d for d in details if d is not None and max(s.depth for s in d.spans) >= 2)
    engine.dispose()
    ident = str(detail.execution_id)
    data = _json(capsys, ["show", "execution", ident, "--db", demo_db, "--format", "json"])["data"]
    assert data["spans"] == to_jsonable(detail.spans)
    assert data["spans_truncated"] is False and data["cost_usd"] == detail.cost_usd
    assert run_cli(["show", "execution", ident, "--db", demo_db]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    first = next(i for i, line in enumerate(lines) if line.lstrip().startswith("trace ("))
    tree = lines[first + 1:first + 1 + len(detail.spans)]
    assert len(tree) == len(detail.spans)
    for line, span in zip(tree, detail.spans, strict=True):
        indent = len(line) - len(line.lstrip())
        assert indent == 4 + 2 * span.depth and line.split()[:2] == [span.kind, span.name.split()[0]]
        if span.kind == "model":
            assert ("unpriced" if span.cost_usd is None else "$") in line
