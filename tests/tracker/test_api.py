"""The tracking API: verbatim Agent Studio examples, nesting, status, re-raise, decorators."""

from __future__ import annotations

import asyncio
import contextvars
import threading
import uuid

import pytest

from studio_analytics import tracker
from studio_analytics.tracker import analytics_service
from tests.tracker.conftest import (
    AgentExecutionMetrics,
    SessionMetrics,
    ToolUsageMetrics,
    WorkflowMetrics,
    count,
    rows,
)


class _Agent:
    agent_id = uuid.uuid4()

    def execute(self, query: str) -> str:
        return f"answer to {query}"


class _Tool:
    def execute(self, input_data: dict) -> dict:
        return {"result": input_data["query"].upper()}


def execute_multi_agent_workflow() -> str:
    with tracker.track_agent_execution(agent_name="WebAgent", query="q1"):
        pass
    with tracker.track_agent_execution(agent_name="DataAgent", query="q2"):
        pass
    return "done"


def test_agent_studio_examples_run_verbatim(tracked_any_db: str) -> None:
    # The stand-ins the examples refer to (the agent, its tool, the variables in scope).
    agent, tool, query = _Agent(), _Tool(), "search for weather"
    input_data = {"query": "weather forecast"}
    # --- the three examples of the Agent Studio analytics design, unchanged ---
    with analytics_service.track_agent_execution(
        agent_id=agent.agent_id,
        agent_name="CommandAgent",
        query="search for weather",
        session_id="session_123",
        user_id="user_456"
    ) as execution_id:
        result = agent.execute(query)
        # Metrics are automatically collected

    with analytics_service.track_tool_usage(
        tool_name="web_search",
        execution_id=execution_id,
        input_data={"query": "weather forecast"},
        external_api_called="google_search"
    ) as usage_id:
        result = tool.execute(input_data)
        # Tool metrics are automatically collected

    with analytics_service.track_workflow(
        workflow_type="multi_agent",
        agents_involved=["WebAgent", "DataAgent"],
        session_id="session_123"
    ) as workflow_id:
        result = execute_multi_agent_workflow()
        # Workflow metrics are automatically collected
    # ---------------------------------------------------------------------------
    assert result == "done"
    assert tracker.flush(10)
    execs = {r["agent_name"]: r for r in rows(tracked_any_db, AgentExecutionMetrics)}
    assert execs["CommandAgent"]["execution_id"] == execution_id
    assert execs["CommandAgent"]["agent_id"] == str(agent.agent_id)
    assert execs["CommandAgent"]["status"] == "success"
    assert {execs["WebAgent"]["correlation_id"], execs["DataAgent"]["correlation_id"]} == {str(workflow_id)}
    (usage,) = rows(tracked_any_db, ToolUsageMetrics)
    assert usage["usage_id"] == usage_id and usage["execution_id"] == execution_id
    assert usage["status"] == "success" and usage["input_data"] == {"query": "weather forecast"}
    assert usage["external_api_called"] == "google_search"
    (wf,) = rows(tracked_any_db, WorkflowMetrics)
    assert wf["agent_count"] == 2 and wf["agents_involved"] == ["WebAgent", "DataAgent"]
    (session,) = rows(tracked_any_db, SessionMetrics)
    assert session["session_id"] == "session_123" and session["total_queries"] == 3


def test_exception_is_reraised_unchanged_and_recorded(tracked_db: str) -> None:
    error = ValueError("bad input 42")
    with pytest.raises(ValueError) as info, tracker.track_agent_execution(agent_name="A") as ex_id:
        raise error
    assert info.value is error
    assert info.tb.tb_frame.f_code.co_name == "test_exception_is_reraised_unchanged_and_recorded"
    assert tracker.flush(10)
    (ex,) = rows(tracked_db, AgentExecutionMetrics)
    assert ex["execution_id"] == ex_id
    assert ex["status"] == "failure" and ex["error_message"] == "ValueError: bad input 42"


def test_timeouts(tracked_db: str) -> None:
    with pytest.raises(TimeoutError), tracker.track_agent_execution(agent_name="T1"):
        raise TimeoutError("llm took too long")

    async def slow() -> None:
        async with tracker.track_agent_execution(agent_name="T2"):
            await asyncio.wait_for(asyncio.Event().wait(), 0.01)

    with pytest.raises(asyncio.TimeoutError):
        asyncio.run(slow())
    with tracker.track_agent_execution(agent_name="T3") as h:
        h.mark_timeout()
    assert tracker.flush(10)
    assert {r["agent_name"]: r["status"] for r in rows(tracked_db, AgentExecutionMetrics)} == {
        "T1": "timeout", "T2": "timeout", "T3": "timeout"
    }


def test_handle_records_what_the_agent_learns(tracked_db: str) -> None:
    with tracker.track_agent_execution(agent_name="A", query="q", session_id="s") as run:
        assert isinstance(run, uuid.UUID) and uuid.UUID(str(run)) == run and run.version == 7
        run.retry()
        run.retry()
        run.record_tokens(100)
        run.record_api_call("openai", 200, 350.0)
        with tracker.track_tool_usage(tool_name="calc") as call:
            call.record_tokens(5)  # attributed to the execution
            call.record_api_call("wolfram", 503, 80.5)
            call.set_output({"answer": 42})
        with tracker.track_tool_usage(tool_name="search", external_api_called="bing"):
            pass
        run.set_response("forty-two")
    assert tracker.flush(10)
    (ex,) = rows(tracked_db, AgentExecutionMetrics)
    assert (ex["retry_count"], ex["tokens_used"], ex["api_calls_count"], ex["tool_count"]) == (2, 105, 3, 2)
    assert ex["tools_called"] == ["calc", "search"] and ex["response"] == "forty-two"
    assert ex["duration_ms"] >= 0 and ex["end_time"] >= ex["start_time"]
    calc = next(r for r in rows(tracked_db, ToolUsageMetrics) if r["tool_name"] == "calc")
    assert (calc["external_api_called"], calc["api_status_code"], calc["api_response_time_ms"]) == ("wolfram", 503, 80.5)
    assert calc["output_data"] == {"answer": 42}


def test_decorators_sync_and_async(tracked_db: str) -> None:
    @tracker.track_tool("web_search")
    def search(q: str) -> str:
        return q * 2

    @tracker.track_tool("async_search")
    async def asearch(q: str) -> str:
        await asyncio.sleep(0)
        return q

    @tracker.track_agent("CommandAgent")
    def run(q: str) -> str:
        return search(q) + asyncio.run(asearch(q))

    @tracker.track_agent("AsyncAgent")
    async def arun() -> None:
        raise KeyError("k")

    assert run("x") == "xxx"
    with pytest.raises(KeyError):
        asyncio.run(arun())
    assert search.__name__ == "search"
    assert tracker.flush(10)
    execs = {r["agent_name"]: r for r in rows(tracked_db, AgentExecutionMetrics)}
    assert execs["CommandAgent"]["tools_called"] == ["web_search", "async_search"]
    assert execs["AsyncAgent"]["status"] == "failure"
    assert count(tracked_db, ToolUsageMetrics) == 2


def test_nesting_across_asyncio_tasks_and_copied_context_threads(tracked_db: str) -> None:
    async def tool(name: str) -> None:
        async with tracker.track_tool_usage(tool_name=name):
            await asyncio.sleep(0)

    async def main() -> uuid.UUID:
        async with tracker.track_agent_execution(agent_name="Parallel") as ex:
            await asyncio.gather(*(tool(f"t{i}") for i in range(5)))
            return ex

    ex_id = asyncio.run(main())

    def in_thread() -> None:
        with tracker.track_tool_usage(tool_name="threaded"):
            pass

    with tracker.track_agent_execution(agent_name="Threads") as ex2:
        ctx = contextvars.copy_context()
        t = threading.Thread(target=ctx.run, args=(in_thread,))
        t.start()
        t.join()
    assert tracker.current_span() is None
    assert tracker.flush(10)
    by_exec: dict[uuid.UUID, int] = {}
    for r in rows(tracked_db, ToolUsageMetrics):
        by_exec[r["execution_id"]] = by_exec.get(r["execution_id"], 0) + 1
    assert by_exec == {ex_id: 5, ex2: 1}
    execs = {r["agent_name"]: r for r in rows(tracked_db, AgentExecutionMetrics)}
    assert execs["Parallel"]["tool_count"] == 5 and execs["Threads"]["tool_count"] == 1


def test_session_and_workflow_inheritance(tracked_db: str) -> None:
    with tracker.track_session(session_id="sess-1", user_id="alice", user_agent="cli/1.0", ip_address="10.0.0.7"):
        with tracker.track_workflow(workflow_type="research", agents_involved=["Web", "Writer"]) as wf:
            with tracker.track_agent_execution(agent_name="Web") as a:
                a.record_tokens(10)
                with tracker.track_tool_usage(tool_name="fetch"):
                    pass
            with pytest.raises(RuntimeError), tracker.track_agent_execution(agent_name="Writer") as b:
                b.record_tokens(5)
                raise RuntimeError("no")
    assert tracker.flush(10)
    execs = rows(tracked_db, AgentExecutionMetrics)
    assert {(e["session_id"], e["user_id"], e["correlation_id"]) for e in execs} == {("sess-1", "alice", str(wf))}
    (w,) = rows(tracked_db, WorkflowMetrics)
    assert (w["agent_count"], w["total_tool_calls"], w["total_tokens_used"], w["session_id"]) == (2, 1, 15, "sess-1")
    (s,) = rows(tracked_db, SessionMetrics)
    assert (s["total_queries"], s["successful_queries"], s["failed_queries"], s["unique_agents_count"]) == (2, 1, 1, 2)
    assert sorted(s["agents_used"]) == ["Web", "Writer"] and s["total_tokens_used"] == 15
    assert s["is_active"] is False and s["end_time"] is not None
    assert (s["user_agent"], s["ip_address"]) == ("cli/1.0", "10.0.0.7")


def test_open_session_is_active(tracked_db: str) -> None:
    with tracker.track_session(session_id="live", user_id="bob"):
        with tracker.track_agent_execution(agent_name="A"):
            pass
        assert tracker.flush(10)
        (s,) = rows(tracked_db, SessionMetrics)
        assert s["is_active"] is True and s["total_queries"] == 1
    assert tracker.flush(10)
    assert rows(tracked_db, SessionMetrics)[0]["is_active"] is False


def test_disabled_by_environment(monkeypatch: pytest.MonkeyPatch, sqlite_file_url: str, spool_file) -> None:
    monkeypatch.setenv("STUDIO_ANALYTICS_DISABLED", "1")
    tracker.configure(db_url=sqlite_file_url, spool_path=str(spool_file))
    with pytest.raises(ZeroDivisionError), tracker.track_agent_execution(agent_name="A") as ex:
        assert isinstance(ex, uuid.UUID)
        1 / 0  # noqa: B018
    assert tracker.flush(1)
    assert tracker.stats().enqueued == 0
    tracker.shutdown(1)
    from pathlib import Path

    assert not Path(sqlite_file_url.removeprefix("sqlite:///")).exists()


def test_writer_thread_starts_with_the_first_row(sqlite_file_url: str, spool_file) -> None:
    """Lazy start: with nothing spooled for this database (the spool holds a batch for
    another one), configure() starts no thread; the first tracked row does."""
    from studio_analytics.tracker.spool import Spool
    from tests.tracker.conftest import configure_fast

    def writers() -> set[threading.Thread]:
        return {t for t in threading.enumerate() if t.name == "studio-analytics-writer"}

    other = Spool("sqlite:////elsewhere/metrics.sqlite3", spool_file)
    other.put({"session": [("s", "2026-11-26 10:00:00.000000", None, None, None, None, True)]})
    other.close()
    before = writers()
    configure_fast(sqlite_file_url, spool_file)
    try:
        assert writers() - before == set()
        with tracker.track_agent_execution(agent_name="A"):
            pass
        assert len(writers() - before) == 1
        assert tracker.flush(10)
    finally:
        tracker.shutdown(5)


def test_privacy_options(sqlite_file_url: str, spool_file) -> None:
    from tests.tracker.conftest import configure_fast

    configure_fast(sqlite_file_url, spool_file, capture_content=False, anonymize_users=True,
                   user_salt="pepper", redact=[r"ACME-\d+"])
    with pytest.raises(PermissionError), tracker.track_agent_execution(
        agent_name="A", query="secret question", user_id="carol"
    ) as run:
        run.set_response("secret answer")
        with tracker.track_tool_usage(tool_name="t", input_data={"card": "4111"}):
            pass
        raise PermissionError("token=abcdef123456 for ACME-991")
    assert tracker.flush(10)
    (ex,) = rows(sqlite_file_url, AgentExecutionMetrics)
    assert ex["query"] is None and ex["response"] is None
    assert ex["user_id"].startswith("u_") and "carol" not in ex["user_id"]
    assert "abcdef123456" not in ex["error_message"] and "ACME-991" not in ex["error_message"]
    assert "[REDACTED]" in ex["error_message"]
    (tool,) = rows(sqlite_file_url, ToolUsageMetrics)
    assert tool["input_data"] is None
    tracker.shutdown(5)


def test_sample_rate_zero_writes_nothing_but_still_works(sqlite_file_url: str, spool_file) -> None:
    from tests.tracker.conftest import configure_fast

    configure_fast(sqlite_file_url, spool_file, sample_rate=0.0)
    with tracker.track_agent_execution(agent_name="A"), tracker.track_tool_usage(tool_name="t"):
        pass
    assert tracker.flush(5)
    assert tracker.stats().enqueued == 0
    tracker.shutdown(5)


def test_session_aggregates_from_rows_across_batches(tracked_any_db: str) -> None:
    """Aggregates are recomputed from all of a session's rows, whichever batch they came
    in; a session with more agents than agents_used holds keeps the count exact."""
    for batch in range(3):
        for i in range(70):
            with tracker.track_agent_execution(agent_name=f"agent{batch * 70 + i:03d}", session_id="wide") as run:
                run.record_tokens(2)
        assert tracker.flush(10)
    with pytest.raises(ValueError), tracker.track_agent_execution(agent_name="agent000", session_id="wide"):
        raise ValueError("boom")
    assert tracker.flush(10)
    (s,) = rows(tracked_any_db, SessionMetrics)
    execs = rows(tracked_any_db, AgentExecutionMetrics)
    assert (s["total_queries"], s["successful_queries"], s["failed_queries"]) == (211, 210, 1)
    assert s["unique_agents_count"] == 210 and s["total_tokens_used"] == 420
    assert s["agents_used"] == [f"agent{i:03d}" for i in range(200)]  # capped, in name order
    assert s["average_response_time_ms"] == pytest.approx(sum(e["duration_ms"] for e in execs) / 211)
    assert s["start_time"] == min(e["start_time"] for e in execs)
    assert s["end_time"] == max(e["end_time"] for e in execs)
    span_ms = (s["end_time"] - s["start_time"]).total_seconds() * 1000
    assert s["duration_ms"] == pytest.approx(span_ms, abs=0.1)
