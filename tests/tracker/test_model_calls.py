"""Model calls and the span tree as the tracker writes them: usage, cost, parents, traces."""

from __future__ import annotations

import asyncio
import contextvars
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from studio_analytics import tracker
from studio_analytics.db.engine import create_db_engine
from studio_analytics.db.models import AgentExecutionMetrics, ModelCallMetrics, ToolUsageMetrics
from studio_analytics.db.rows import EXECUTION_COLUMNS, TOOL_COLUMNS
from studio_analytics.pricing import current_prices
from studio_analytics.tracker.spool import Spool, encode_batch
from tests.tracker.conftest import configure_fast

AEM, TUM, MCM = AgentExecutionMetrics, ToolUsageMetrics, ModelCallMetrics


def _fetch(url: str, *columns: Any) -> list[Any]:
    engine = create_db_engine(url)
    with engine.connect() as conn:
        out = list(conn.execute(select(*columns)).all())
    engine.dispose()
    return out


def _spans(url: str) -> dict[uuid.UUID, dict[str, Any]]:
    """Every tree span by id: kind, name, parent_id, trace_id, execution_id."""
    out: dict[uuid.UUID, dict[str, Any]] = {}
    for r in _fetch(url, AEM.execution_id, AEM.agent_name, AEM.parent_id, AEM.trace_id):
        out[r[0]] = {"kind": "execution", "name": r[1], "parent": r[2], "trace": r[3], "execution": None}
    for r in _fetch(url, TUM.usage_id, TUM.tool_name, TUM.parent_id, TUM.trace_id, TUM.execution_id):
        out[r[0]] = {"kind": "tool", "name": r[1], "parent": r[2], "trace": r[3], "execution": r[4]}
    for r in _fetch(url, MCM.call_id, MCM.model, MCM.parent_id, MCM.trace_id, MCM.execution_id):
        out[r[0]] = {"kind": "model", "name": r[1], "parent": r[2], "trace": r[3], "execution": r[4]}
    return out


def test_usage_cost_and_tokens_reach_the_execution(tracked_any_db: str) -> None:
    price = current_prices().lookup("gpt-4o-mini", "openai")
    assert price is not None
    with tracker.track_session(session_id="s-1", user_id="alice"):
        with tracker.track_agent_execution(agent_name="Planner", query="plan a trip") as run:
            run.record_tokens(7)  # recorded directly: kept beside the model calls' tokens
            with tracker.track_model_call(model="gpt-4o-mini", provider="openai",
                                          input=[{"role": "user", "content": "plan"}]) as call:
                call.first_token()
                call.record_usage(input_tokens=1_000, output_tokens=120, cached_input_tokens=400)
                call.record_usage(output_tokens=30, reasoning_tokens=10)  # adds
                call.set_response({"content": "ok"})
            with tracker.track_tool_usage(tool_name="search"):
                with tracker.track_model_call(model="in-house-ft-v2", operation="embeddings") as emb:
                    emb.record_usage(input_tokens=50)
            with tracker.track_model_call(model="gpt-4o") as billed:
                billed.record_usage(input_tokens=10, output_tokens=10)
                billed.set_cost(0.5)
    assert tracker.flush(10)
    calls = {r.model: r for r in _fetch(tracked_any_db, MCM)}
    mini = calls["gpt-4o-mini"]
    assert (mini.input_tokens, mini.output_tokens, mini.cached_input_tokens, mini.reasoning_tokens) == (1000, 150, 400,
                                                                                                         10)
    assert mini.cost_usd == pytest.approx(price.cost(1000, 150, 400)) and mini.cost_source == "price_table"
    assert mini.time_to_first_token_ms is not None and 0 <= mini.time_to_first_token_ms <= mini.duration_ms
    assert mini.request == [{"role": "user", "content": "plan"}] and mini.response == {"content": "ok"}
    assert (mini.session_id, mini.user_id, mini.agent_name, mini.status) == ("s-1", "alice", "Planner", "success")
    unpriced = calls["in-house-ft-v2"]
    assert unpriced.cost_usd is None and unpriced.cost_source is None  # unpriced, never $0
    assert unpriced.operation == "embeddings" and unpriced.agent_name == "Planner"
    assert (calls["gpt-4o"].cost_usd, calls["gpt-4o"].cost_source) == (0.5, "recorded")
    (tokens,) = _fetch(tracked_any_db, AEM.tokens_used)[0]
    assert tokens == 7 + 1150 + 50 + 20


def test_failed_model_call_reraises_and_is_recorded(tracked_db: str) -> None:
    class RateLimitError(Exception):
        pass

    with tracker.track_agent_execution(agent_name="A"):
        with pytest.raises(RateLimitError):
            with tracker.track_model_call(model="gpt-4o-mini"):
                raise RateLimitError("429 Too Many Requests")
        with pytest.raises(TimeoutError):
            with tracker.track_model_call(model="gpt-4o-mini"):
                raise TimeoutError("read timed out")
    assert tracker.flush(10)
    got = sorted((r.status, r.error_message, r.cost_usd) for r in _fetch(tracked_db, MCM))
    # A rejected request of a priced model costs $0 (not billed); a timed-out one is unknown.
    assert got == [("failure", "RateLimitError: 429 Too Many Requests", 0.0),
                   ("timeout", "TimeoutError: read timed out", None)]


def test_decorator_and_async(tracked_db: str) -> None:
    @tracker.track_model("gpt-4o-mini", provider="openai")
    def complete(prompt: str) -> str:
        return prompt.upper()

    @tracker.track_model("gpt-4o", operation="chat")
    async def acomplete(prompt: str) -> str:
        await asyncio.sleep(0)
        return prompt

    async def agent() -> None:
        async with tracker.track_agent_execution(agent_name="Async"):
            async with tracker.track_model_call(model="o4-mini") as call:
                call.record_usage(input_tokens=3, output_tokens=4)
            await acomplete("x")

    assert complete("a") == "A"
    asyncio.run(agent())
    assert tracker.flush(10)
    rows = {r.model: r for r in _fetch(tracked_db, MCM.model, MCM.provider, MCM.execution_id, MCM.agent_name)}
    assert rows["gpt-4o-mini"].provider == "openai" and rows["gpt-4o-mini"].execution_id is None
    assert rows["o4-mini"].agent_name == "Async" and rows["gpt-4o"].agent_name == "Async"


def test_tree_of_nested_blocks_tasks_and_threads(tracked_any_db: str) -> None:
    """agent → tool → sub-agent → tool → model (depth 4), sub-agents in asyncio tasks
    and in threads with a copied context: every row has its enclosing span as parent."""
    ids: dict[str, uuid.UUID] = {}

    def sub_agent(name: str) -> None:
        with tracker.track_agent_execution(agent_name=name) as sub:
            ids[name] = sub
            with tracker.track_tool_usage(tool_name=f"{name}.lookup") as tool:
                ids[f"{name}.lookup"] = tool
                with tracker.track_model_call(model="gpt-4o-mini") as call:
                    ids[f"{name}.model"] = call
                    call.record_usage(input_tokens=10, output_tokens=5)

    async def async_sub_agent(name: str) -> None:
        await asyncio.sleep(0)
        sub_agent(name)

    with tracker.track_workflow(workflow_type="research") as wf:
        with tracker.track_agent_execution(agent_name="Root") as root:
            with tracker.track_tool_usage(tool_name="delegate") as delegate:
                sub_agent("Nested")

                async def fan_out() -> None:
                    await asyncio.gather(async_sub_agent("TaskA"), async_sub_agent("TaskB"))

                asyncio.run(fan_out())
                threads = [threading.Thread(target=contextvars.copy_context().run, args=(sub_agent, f"Thread{i}"))
                           for i in range(2)]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
    assert tracker.flush(10)
    spans = _spans(tracked_any_db)
    assert len(spans) == 2 + 5 * 3
    assert spans[root]["parent"] is None and spans[delegate]["parent"] == root
    for name in ("Nested", "TaskA", "TaskB", "Thread0", "Thread1"):
        sub, lookup, model = ids[name], ids[f"{name}.lookup"], ids[f"{name}.model"]
        assert spans[sub]["parent"] == delegate, name
        assert spans[lookup]["parent"] == sub and spans[lookup]["execution"] == sub, name
        assert spans[model]["parent"] == lookup and spans[model]["execution"] == sub, name
    # One trace: the workflow's; sub-agents share the caller's workflow and tokens stay their own.
    assert {s["trace"] for s in spans.values()} == {wf}
    tokens = dict(_fetch(tracked_any_db, AEM.agent_name, AEM.tokens_used))
    assert tokens["Root"] is None and tokens["TaskA"] == 15
    correlation = {r[0] for r in _fetch(tracked_any_db, AEM.correlation_id)}
    assert correlation == {str(wf)}


def test_traces_start_below_the_session(tracked_db: str) -> None:
    with tracker.track_session(session_id="s"):
        with tracker.track_agent_execution(agent_name="First") as first:
            pass
        with tracker.track_model_call(model="gpt-4o-mini") as loose:
            pass
    assert tracker.flush(10)
    spans = _spans(tracked_db)
    assert spans[first]["trace"] == first and spans[loose]["trace"] == loose
    assert _fetch(tracked_db, MCM.session_id) == [("s",)]


def test_capture_content_off_and_redaction(sqlite_file_url: str, spool_file: Path) -> None:
    configure_fast(sqlite_file_url, spool_file, capture_content=False)
    with tracker.track_model_call(model="gpt-4o-mini", input="secret prompt") as call:
        call.set_response("secret answer")
        call.record_usage(1, 1)
    assert tracker.flush(10)
    tracker.shutdown(5)
    assert _fetch(sqlite_file_url, MCM.request, MCM.response) == [(None, None)]
    configure_fast(sqlite_file_url, spool_file)
    key = "sk-proj-" + "A1b2C3d4E5f6G7h8I9j0" * 3
    with tracker.track_model_call(model="gpt-4o-mini", input={"api_key": "hunter2", "text": f"use {key}"}):
        pass
    assert tracker.flush(10)
    tracker.shutdown(5)
    stored = [r[0] for r in _fetch(sqlite_file_url, MCM.request) if r[0] is not None][0]
    assert stored["api_key"] == "[REDACTED]" and key not in stored["text"]


def test_sampling_follows_the_execution(sqlite_file_url: str, spool_file: Path) -> None:
    configure_fast(sqlite_file_url, spool_file, sample_rate=0.0)
    with tracker.track_agent_execution(agent_name="A") as run:
        with tracker.track_model_call(model="gpt-4o-mini") as call:
            call.record_usage(5, 5)
    assert isinstance(run, uuid.UUID) and isinstance(call, uuid.UUID)
    assert tracker.flush(10)
    tracker.shutdown(5)
    assert tracker.stats().written == 0


def test_spooled_batches_of_the_previous_layout_replay(sqlite_file_url: str, spool_file: Path) -> None:
    """A spool written before 0003 (format 2: no parent and trace ids) still replays."""
    execution = (uuid.uuid4().hex, None, "Old", "2026-11-30 10:00:00.000000", "2026-11-30 10:00:01.000000", 1000.0,
                 "success", "q", None, None, "[]", 0, 0, "s", None, None, 12, 0)
    tool = (uuid.uuid4().hex, "calc", execution[0], "2026-11-30 10:00:00.100000", "2026-11-30 10:00:00.200000",
            100.0, "success", None, None, None, None, None, None, "Old")
    assert len(execution) == len(EXECUTION_COLUMNS) - 2 and len(tool) == len(TOOL_COLUMNS) - 2 + 1
    spool = Spool(sqlite_file_url, spool_file)
    payload = encode_batch({"execution": [execution], "tool": [tool]}).replace('"format": 3', '"format": 2')
    spool._conn().execute("INSERT INTO spool_batches (target, created_at, row_count, payload) VALUES (?, 0, 2, ?)",
                          (spool.target, payload))
    spool.close()
    configure_fast(sqlite_file_url, spool_file)
    assert tracker.flush(10)
    tracker.shutdown(5)
    assert _fetch(sqlite_file_url, AEM.agent_name, AEM.parent_id) == [("Old", None)]
    assert _fetch(sqlite_file_url, TUM.tool_name, TUM.execution_id, TUM.parent_id) == [
        ("calc", uuid.UUID(execution[0]), None)]


AGENT_STUDIO_SQLITE = """
CREATE TABLE agent_execution_metrics (id INTEGER PRIMARY KEY, execution_id CHAR(32) NOT NULL UNIQUE,
  agent_id VARCHAR, agent_name VARCHAR NOT NULL, start_time DATETIME NOT NULL, end_time DATETIME,
  duration_ms INTEGER, status VARCHAR NOT NULL, query TEXT, response TEXT, error_message TEXT, tools_called JSON,
  tool_count INTEGER, retry_count INTEGER, session_id VARCHAR, user_id VARCHAR, correlation_id VARCHAR,
  tokens_used INTEGER, api_calls_count INTEGER);
CREATE TABLE tool_usage_metrics (id INTEGER PRIMARY KEY, usage_id CHAR(32) NOT NULL UNIQUE, tool_name VARCHAR NOT NULL,
  execution_id CHAR(32), start_time DATETIME NOT NULL, end_time DATETIME, duration_ms INTEGER, status VARCHAR NOT NULL,
  input_data JSON, output_data JSON, error_message TEXT, external_api_called VARCHAR, api_response_time_ms INTEGER,
  api_status_code INTEGER);
CREATE TABLE workflow_metrics (id INTEGER PRIMARY KEY, workflow_id CHAR(32) NOT NULL UNIQUE,
  workflow_type VARCHAR NOT NULL, start_time DATETIME NOT NULL, end_time DATETIME, duration_ms INTEGER,
  status VARCHAR NOT NULL, agents_involved JSON, agent_count INTEGER, total_tool_calls INTEGER,
  total_api_calls INTEGER, total_tokens_used INTEGER, session_id VARCHAR, user_id VARCHAR,
  user_satisfaction_score FLOAT, task_completion_rate FLOAT);
CREATE TABLE session_metrics (id INTEGER PRIMARY KEY, session_id VARCHAR NOT NULL UNIQUE, start_time DATETIME NOT NULL,
  end_time DATETIME, duration_ms INTEGER, user_id VARCHAR, user_agent VARCHAR, ip_address VARCHAR,
  total_queries INTEGER, successful_queries INTEGER, failed_queries INTEGER, agents_used JSON,
  unique_agents_count INTEGER, average_response_time_ms FLOAT, total_tokens_used INTEGER, is_active BOOLEAN);
"""


def test_agent_studio_database_keeps_model_calls_as_dead_letters(sqlite_file_url: str, spool_file: Path) -> None:
    """An Agent Studio database is never altered: executions and tools go in without our
    columns; model calls, which it has no table for, are kept as dead letters (counted,
    listed by `db check`), never silently dropped."""
    engine = create_db_engine(sqlite_file_url)
    with engine.begin() as conn:
        for statement in AGENT_STUDIO_SQLITE.split(";"):
            if statement.strip():
                conn.exec_driver_sql(statement)
    engine.dispose()
    configure_fast(sqlite_file_url, spool_file)
    with tracker.track_agent_execution(agent_name="Legacy") as run:
        with tracker.track_tool_usage(tool_name="calc"):
            pass
        with tracker.track_model_call(model="gpt-4o-mini") as call:
            call.record_usage(3, 4)
    assert tracker.flush(10)
    stats = tracker.stats()
    tracker.shutdown(5)
    assert (stats.written, stats.dead_letters, stats.rejected, stats.dropped) == (2, 1, 1, 0)
    engine = create_db_engine(sqlite_file_url)
    with engine.connect() as conn:
        names = {r[0] for r in conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert names == {"agent_execution_metrics", "tool_usage_metrics", "workflow_metrics", "session_metrics"}
        assert conn.exec_driver_sql("SELECT agent_name, tokens_used FROM agent_execution_metrics").all() == [
            ("Legacy", 7)]
        assert conn.exec_driver_sql("SELECT execution_id FROM tool_usage_metrics").scalar() == run.hex
    engine.dispose()
    (_, kind, error), = Spool(sqlite_file_url, spool_file).dead_letters()
    assert kind == "model" and "model_call_metrics" in error
