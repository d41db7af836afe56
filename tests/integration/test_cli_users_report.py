"""`studio-analytics report users` and `report heatmap`: the analytics layer's figures as
JSON, CSV and a table."""

from __future__ import annotations

import csv
import io
import json

import pytest

from studio_analytics.analytics import time_range
from studio_analytics.analytics.heatmap import usage_heatmap
from studio_analytics.analytics.users import user_activity
from studio_analytics.cli import run_cli
from studio_analytics.commands.report import to_jsonable
from studio_analytics.db.engine import create_db_engine


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('users') / 'demo.sqlite3'}"
    assert run_cli(["demo", "--db", url, "--executions", "200", "--days", "2", "--seed", "8"]) == 0
    return url


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    capsys.readouterr()
    assert run_cli(list(args)) == 0
    return capsys.readouterr().out


def test_users_and_heatmap_json_equal_the_analytics_layer(demo_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    users = json.loads(_run(capsys, "report", "users", "--db", demo_db, "--format", "json", "--limit", "4"))
    user = users["data"]["rows"][0]["user_id"]
    heat = json.loads(_run(capsys, "report", "heatmap", "--db", demo_db, "--format", "json", "--user", user))
    with create_db_engine(demo_db, read_only=True).connect() as conn:
        tr = time_range(start_date=users["range"]["start"], end_date=users["range"]["end"])
        assert users["data"] == to_jsonable(user_activity(conn, tr, limit=4))
        tr = time_range(start_date=heat["range"]["start"], end_date=heat["range"]["end"])
        assert heat["data"] == to_jsonable(usage_heatmap(conn, tr, user_id=user))
    assert len(users["data"]["rows"]) == 4 < users["data"]["total_rows"]
    assert sum(map(sum, heat["data"]["executions"])) == users["data"]["rows"][0]["executions"]


def test_users_csv_and_the_tables(demo_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    rows = list(csv.DictReader(io.StringIO(_run(capsys, "report", "users", "--db", demo_db, "--format", "csv"))))
    assert rows and {"user_id", "sessions", "p95_duration_ms", "cost_usd", "unpriced_calls"} <= set(rows[0])
    table = _run(capsys, "report", "heatmap", "--db", demo_db)
    assert "executions by weekday and hour (UTC), all users" in table and "\n  Sun " in table
    capsys.readouterr()
    assert run_cli(["report", "users", "--db", demo_db, "--user", "x"]) != 0
    assert "--user goes with report heatmap" in capsys.readouterr().err
