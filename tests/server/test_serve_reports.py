"""Every endpoint's body is the real CLI's JSON for the same range, on SQLite, on
PostgreSQL and on an Agent Studio database; unknown items are 404 JSON."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select

from studio_analytics.db.engine import create_db_engine
from studio_analytics.db.models import AgentExecutionMetrics, SessionMetrics
from studio_analytics.server.app import REPORT_ROUTES
from tests.integration.test_agent_studio_compat import AGENT_STUDIO_DDL, EXEC_ERR, EXEC_OK, SEED
from tests.server.conftest import END, api_client

API = "/api/analytics"
#: (path, CLI report name, extra API parameters, the same as CLI options)
CASES: list[tuple[str, str, dict[str, str], list[str]]] = [
    *[(path, name, {}, []) for path, name, _ in REPORT_ROUTES],
    ("/cost", "cost", {}, []),
    ("/cost", "cost", {"by": "agent"}, ["--by", "agent"]),
    ("/cost", "cost", {"by": "day"}, ["--by", "day"]),
    ("/heatmap", "heatmap", {}, []),
    ("/health", "health", {}, []),
    ("/agents/usage", "agents", {"limit": "2"}, ["--limit", "2"]),
]


def _ids(case: tuple[str, str, dict[str, str], list[str]]) -> str:
    return case[0] + "".join(f"&{k}={v}" for k, v in case[2].items())


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_endpoint_equals_the_cli(case: tuple[str, str, dict[str, str], list[str]], demo_url: str,
                                 cli_json: Callable[..., Any]) -> None:
    path, name, extra, options = case
    with api_client(demo_url) as client:
        reply = client.get(API + path, params={"end_date": END, "days": "3", **extra})
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"] == "application/json"
    body = reply.json()
    expected = cli_json("report", name, "--db", demo_url, "--end", END, "--days", "3", *options)
    assert body == expected
    assert body["range"]["end"] == END and body["range"]["start"] == "2026-11-27T12:00:00+00:00"
    if name not in ("health", "heatmap", "summary"):
        assert body["data"] is not None


def test_explicit_bounds_equal_the_cli(demo_url: str, cli_json: Callable[..., Any]) -> None:
    with api_client(demo_url) as client:
        body = client.get(API + "/summary", params={"start_date": "2026-11-26", "end_date": "2026-11-29T06:30:00"}
                          ).json()
    assert body == cli_json("report", "summary", "--db", demo_url, "--start", "2026-11-26", "--end",
                            "2026-11-29T06:30:00")
    assert body["data"]["kpis"]["total_executions"] > 0


def test_alerts_equal_alerts_check(demo_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from studio_analytics.cli import run_cli

    with api_client(demo_url) as client:
        reply = client.get(API + "/alerts", params={"at": END})
    assert reply.status_code == 200, reply.text
    capsys.readouterr()
    code = run_cli(["alerts", "check", "--db", demo_url, "--at", END, "--format", "json"])
    assert code in (0, 1)  # 1: something fires, which the JSON says too
    expected = json.loads(capsys.readouterr().out)
    assert reply.json() == expected
    assert expected["observations"]


def test_execution_and_session_detail_equal_show(demo_url: str, cli_json: Callable[..., Any]) -> None:
    engine = create_db_engine(demo_url, read_only=True)
    with engine.connect() as conn:
        execution_id, session_id = conn.execute(
            select(AgentExecutionMetrics.execution_id, AgentExecutionMetrics.session_id)
            .where(AgentExecutionMetrics.session_id.is_not(None)).order_by(AgentExecutionMetrics.start_time).limit(1)
        ).one()
        assert conn.execute(select(SessionMetrics.session_id).where(SessionMetrics.session_id == session_id)
                            ).scalar() is not None
    engine.dispose()
    with api_client(demo_url) as client:
        execution = client.get(f"{API}/executions/{execution_id}")
        session = client.get(f"{API}/sessions/{session_id}")
        missing_execution = client.get(f"{API}/executions/{uuid.uuid4()}")
        missing_session = client.get(f"{API}/sessions/no-such-session")
        malformed = client.get(f"{API}/executions/not-a-uuid")
    assert execution.status_code == 200 and session.status_code == 200
    assert execution.json() == cli_json("show", "execution", str(execution_id), "--db", demo_url)
    assert session.json() == cli_json("show", "session", session_id, "--db", demo_url)
    assert execution.json()["data"]["execution_id"] == str(execution_id)
    assert missing_execution.status_code == 404 and "no execution" in missing_execution.json()["error"]
    assert missing_session.status_code == 404 and missing_session.json() == {
        "error": "no session no-such-session in this database"}
    assert malformed.status_code == 422 and malformed.json()["parameter"] == "execution_id"


@pytest.fixture
def agent_studio_url(pg_empty_url: str) -> str:
    engine = create_db_engine(pg_empty_url)
    with engine.begin() as conn:
        conn.exec_driver_sql(AGENT_STUDIO_DDL)
        conn.exec_driver_sql(SEED)
    engine.dispose()
    return pg_empty_url


@pytest.mark.postgres
def test_agent_studio_database(agent_studio_url: str, cli_json: Callable[..., Any]) -> None:
    """Agent Studio's own tables (no model calls, no rollups): the same bodies as the CLI,
    models and cost as ``data: null``."""
    window = {"start_date": "2026-11-20", "end_date": "2026-11-21"}
    cli_window = ["--start", "2026-11-20", "--end", "2026-11-21"]
    with api_client(agent_studio_url) as client:
        bodies = {}
        for path, name, extra, options in CASES:
            reply = client.get(API + path, params={**window, **extra})
            assert reply.status_code == 200, (path, reply.text)
            assert reply.json() == cli_json("report", name, "--db", agent_studio_url, *cli_window, *options), path
            bodies[path] = reply
        execution = client.get(f"{API}/executions/{EXEC_OK}")
        session = client.get(f"{API}/sessions/session_123")
    assert bodies["/models/usage"].json()["data"] is None and bodies["/cost"].json()["data"] is None
    agents = bodies["/agents/usage"].json()["data"]["rows"]
    assert [(r["agent_name"], r["executions"]) for r in agents] == [("CommandAgent", 3)]
    assert execution.json() == cli_json("show", "execution", str(EXEC_OK), "--db", agent_studio_url)
    assert session.json()["data"]["session"]["session_id"] == "session_123"
    assert {e["execution_id"] for e in session.json()["data"]["executions"]} >= {str(EXEC_OK), str(EXEC_ERR)}
