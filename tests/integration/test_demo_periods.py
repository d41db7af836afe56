"""`studio-analytics demo`: two periods by default, nothing in the future, --live adds no history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from studio_analytics.analytics import summary_kpis, time_range
from studio_analytics.cli import run_cli
from studio_analytics.db.engine import create_db_engine
from tests.tracker.conftest import raw


def _as_utc(value: object) -> datetime:
    dt = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt


def test_default_demo_covers_a_previous_period(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'demo.sqlite3'}"
    assert run_cli(["demo", "--db", url, "--executions", "400", "--seed", "5"]) == 0
    first = _as_utc(raw(url, "SELECT min(start_time) FROM agent_execution_metrics")[0][0])
    assert first < datetime.now(UTC) - timedelta(days=10)
    engine = create_db_engine(url, read_only=True)
    with engine.connect() as conn:
        kpis = summary_kpis(conn, time_range(preset="7d"))
    engine.dispose()
    # The first launch shows changes on the cards, not "no previous period".
    assert kpis.previous_executions >= 20 and kpis.queries_per_hour.change is not None


def test_demo_writes_nothing_in_the_future(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'short.sqlite3'}"
    # 200 runs in four minutes: sessions of several minutes would run past "now".
    assert run_cli(["demo", "--db", url, "--executions", "200", "--days", "0.003", "--seed", "9"]) == 0
    now = datetime.now(UTC)
    for table in ("agent_execution_metrics", "tool_usage_metrics", "model_call_metrics", "session_metrics"):
        latest_start, latest_end = raw(url, f"SELECT max(start_time), max(end_time) FROM {table}")[0]
        assert _as_utc(latest_start) <= now and _as_utc(latest_end) <= now, table
    total = raw(url, "SELECT count(*) FROM agent_execution_metrics")[0][0]
    capsys.readouterr()
    assert run_cli(["report", "summary", "--db", url, "--format", "json"]) == 0
    import json

    assert json.loads(capsys.readouterr().out)["data"]["kpis"]["total_executions"] == total


def test_live_on_a_seeded_database_adds_no_history(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    from studio_analytics.demo import generator

    url = f"sqlite:///{tmp_path / 'seeded.sqlite3'}"
    assert run_cli(["demo", "--db", url, "--executions", "60", "--seed", "1"]) == 0
    before = raw(url, "SELECT count(*) FROM agent_execution_metrics")[0][0]
    went_live: list[str] = []
    monkeypatch.setattr(generator, "live", lambda db_url, **_kw: went_live.append(db_url) or 0)
    assert run_cli(["demo", "--db", url, "--live"]) == 0
    assert went_live == [url]
    assert raw(url, "SELECT count(*) FROM agent_execution_metrics")[0][0] == before
