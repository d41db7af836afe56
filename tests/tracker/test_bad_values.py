"""One odd value from agent code never costs its batch: 500 good executions and one bad
one in the same batch all arrive, the bad one with its field cleaned (SQLite and PostgreSQL)."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

import pytest

from studio_analytics import tracker
from tests.tracker.conftest import (
    AgentExecutionMetrics,
    ToolUsageMetrics,
    WorkflowMetrics,
    count,
    rows,
)

BAD_TEXT = "bad\ud800text\x00"
TEXT_FIELDS = ("session_id", "user_id", "correlation_id", "agent_id", "agent_name", "query")


def _good(n: int) -> None:
    for i in range(n):
        with tracker.track_agent_execution(agent_name="good", query=f"q{i}", session_id=f"good-{i // 10}") as run:
            run.record_tokens(10)


def _bad_execution(**kwargs: Any) -> None:
    options: dict[str, Any] = {"agent_name": "bad", "session_id": "bad-session"}
    options.update(kwargs)
    with tracker.track_agent_execution(**options):
        pass


CASES: dict[str, Any] = {
    **{f"surrogate-{f}": (lambda f=f: _bad_execution(**{f: BAD_TEXT})) for f in TEXT_FIELDS},
    "surrogate-workflow-type": lambda: _with_workflow(workflow_type=BAD_TEXT),
    "surrogate-user-agent": lambda: _with_session(user_agent=BAD_TEXT),
    "surrogate-ip-address": lambda: _with_session(ip_address=BAD_TEXT),
    "surrogate-external-api": lambda: _with_tool(external_api_called=BAD_TEXT),
    "huge-tokens": lambda: _record(lambda run: run.record_tokens(2**70)),
    "string-tokens": lambda: _record(lambda run: run.record_tokens("12")),
    "float-tokens": lambda: _record(lambda run: run.record_tokens(3.7)),
    "decimal-tokens": lambda: _record(lambda run: run.record_tokens(Decimal("5"))),
    "nan-tokens": lambda: _record(lambda run: run.record_tokens(math.nan)),
    "huge-status": lambda: _with_tool(api=lambda call: call.record_api_call("x", 2**64, 1.0)),
    "nan-response-time": lambda: _with_tool(api=lambda call: call.record_api_call("x", 200, math.nan)),
    "inf-response-time": lambda: _with_tool(api=lambda call: call.record_api_call("x", 200, math.inf)),
    "nan-score": lambda: _with_workflow(scores={"user_satisfaction_score": math.nan,
                                                "task_completion_rate": math.inf}),
    "huge-score": lambda: _with_workflow(scores={"user_satisfaction_score": 10**400}),
    "huge-retries": lambda: _record(lambda run: setattr(run.span, "_retries", 2**63 + 5)),
}


def _record(action: Any) -> None:
    with tracker.track_agent_execution(agent_name="bad", session_id="bad-session") as run:
        action(run)


def _with_tool(external_api_called: str | None = None, api: Any = None) -> None:
    with tracker.track_agent_execution(agent_name="bad", session_id="bad-session"):
        with tracker.track_tool_usage(tool_name="bad-tool", external_api_called=external_api_called) as call:
            if api is not None:
                api(call)


def _with_workflow(workflow_type: str = "wf", scores: dict[str, Any] | None = None) -> None:
    with tracker.track_workflow(workflow_type=workflow_type, session_id="bad-session") as wf:
        if scores:
            wf.span.set_scores(**scores)
        with tracker.track_agent_execution(agent_name="bad"):
            pass


def _with_session(**kwargs: Any) -> None:
    with tracker.track_session(session_id="bad-session", **kwargs):
        with tracker.track_agent_execution(agent_name="bad"):
            pass


@pytest.mark.parametrize("case", sorted(CASES))
def test_one_bad_value_among_500_good_rows(tracked_any_db: str, case: str) -> None:
    _good(250)
    CASES[case]()
    _good(250)
    assert tracker.flush(30)
    st = tracker.stats()
    assert st.rejected == 0 and st.spool_pending == 0 and st.dropped == 0, st
    assert count(tracked_any_db, AgentExecutionMetrics) == 501
    bad = [r for r in rows(tracked_any_db, AgentExecutionMetrics) if r["agent_name"] != "good"]
    assert len(bad) == 1
    row = bad[0]
    for field in ("session_id", "user_id", "correlation_id", "agent_id", "agent_name", "query"):
        value = row[field]
        assert value is None or ("\ud800" not in value and "\x00" not in value)
    if case == "huge-tokens":
        assert row["tokens_used"] == 2**31 - 1
    if case in ("string-tokens", "decimal-tokens"):
        assert row["tokens_used"] in (12, 5)
    if case == "float-tokens":
        assert row["tokens_used"] == 3
    if case == "nan-tokens":
        assert row["tokens_used"] is None
    if case == "huge-retries":
        assert row["retry_count"] == 2**31 - 1
    if case.startswith("surrogate-") and case.removeprefix("surrogate-") in TEXT_FIELDS:
        assert row[case.removeprefix("surrogate-")] == "bad?text\ufffd"  # surrogate -> ?, NUL -> U+FFFD
    if case == "huge-status":
        (tool,) = rows(tracked_any_db, ToolUsageMetrics)
        assert tool["api_status_code"] == 2**31 - 1
    if case in ("nan-response-time", "inf-response-time"):
        (tool,) = rows(tracked_any_db, ToolUsageMetrics)
        assert tool["api_response_time_ms"] is None
    if case in ("nan-score", "huge-score"):
        (wf,) = rows(tracked_any_db, WorkflowMetrics)
        assert wf["user_satisfaction_score"] is None and wf["task_completion_rate"] is None


def test_token_totals_that_outgrow_their_column_are_capped(tracked_any_db: str) -> None:
    """total_tokens_used is a 32-bit INTEGER in the Agent Studio tables: a session (or a
    workflow) whose executions' tokens sum past it is capped, not a batch that fails."""
    from tests.tracker.conftest import SessionMetrics

    with tracker.track_workflow(workflow_type="big", session_id="big-session"):
        for _ in range(3):
            with tracker.track_agent_execution(agent_name="greedy", session_id="big-session") as run:
                run.record_tokens(2**31 - 1)
    _good(50)
    assert tracker.flush(30)
    s = tracker.stats()
    assert (s.rejected, s.dead_letters, s.spool_pending) == (0, 0, 0)
    (session,) = [r for r in rows(tracked_any_db, SessionMetrics) if r["session_id"] == "big-session"]
    (workflow,) = rows(tracked_any_db, WorkflowMetrics)
    assert session["total_queries"] == 3 and session["total_tokens_used"] == 2**31 - 1
    assert workflow["total_tokens_used"] == 2**31 - 1
    assert count(tracked_any_db, AgentExecutionMetrics) == 53
