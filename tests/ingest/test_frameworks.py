"""Real agent frameworks, run offline, their spans exported in process: what lands in the
database matches the spans the framework produced (captured beside ours in memory)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pydantic_ai import Agent, InstrumentationSettings, ModelRetry, RunContext
from pydantic_ai.models.test import TestModel

from studio_analytics.ingest.ids import row_id
from studio_analytics.otel import StudioSpanExporter, instrument
from tests.ingest.spanlib import assert_rollups_match_rebuild, executions, fetch, models, tools


@pytest.fixture
def provider(db_url: str, tmp_path: Path) -> Iterator[tuple[TracerProvider, InMemorySpanExporter, StudioSpanExporter]]:
    """A tracer provider exporting to our database and, beside it, to memory."""
    tp = TracerProvider()
    memory = InMemorySpanExporter()
    tp.add_span_processor(SimpleSpanProcessor(memory))
    ours = instrument(db_url, tracer_provider=tp, spool_path=str(tmp_path / "spool.sqlite3"),
                      flush_interval_s=0.05)
    yield tp, memory, ours
    tp.shutdown()


def _flush(tp: TracerProvider, ours: StudioSpanExporter) -> None:
    assert tp.force_flush(30_000)
    assert ours.force_flush(30_000)


def _hex(span: ReadableSpan) -> str:
    return f"{row_id(span.context.trace_id, span.context.span_id):032x}"


def _kinds(spans: list[ReadableSpan], classify: Any) -> dict[int, tuple[str, ReadableSpan]]:
    return {s.context.span_id: (classify(s), s) for s in spans}


def _nearest(kinds: dict[int, tuple[str, ReadableSpan]], span: ReadableSpan, wanted: set[str]) -> ReadableSpan | None:
    """The nearest ancestor of ``span`` whose kind is wanted, from the captured spans."""
    parent = span.parent
    while parent is not None:
        kind, up = kinds[parent.span_id]
        if kind in wanted:
            return up
        parent = up.parent
    return None


def _check_against_spans(url: str, spans: list[ReadableSpan], classify: Any) -> None:
    """Every execution, tool and model row as the captured spans say: ids, parents,
    agents, statuses, tokens (an execution's = its own model calls')."""
    kinds = _kinds(spans, classify)
    ex, tl, md = executions(url), tools(url), models(url)
    tree = {"execution", "tool", "model"}
    expected_tokens: dict[str, int | None] = {}
    for kind, span in kinds.values():
        parent = _nearest(kinds, span, tree)
        owner = _nearest(kinds, span, {"execution"})
        status = "failure" if span.status.status_code.name == "ERROR" else "success"
        if kind == "execution":
            row = ex.pop(_hex(span))
            assert row["parent_id"] == (parent and _hex(parent))
            assert row["status"] == status, span.name
            expected_tokens.setdefault(_hex(span), None)  # no model call of its own: no count
        elif kind == "tool":
            row = tl.pop(_hex(span))
            assert (row["parent_id"], row["execution_id"]) == (parent and _hex(parent), owner and _hex(owner))
            assert row["status"] == status, span.name
        elif kind == "model":
            row = md.pop(_hex(span))
            assert (row["parent_id"], row["execution_id"]) == (parent and _hex(parent), owner and _hex(owner))
            n = (row["input_tokens"] or 0) + (row["output_tokens"] or 0)
            assert n > 0
            if owner is not None:
                expected_tokens[_hex(owner)] = (expected_tokens.get(_hex(owner)) or 0) + n
    assert (ex, tl, md) == ({}, {}, {}), "rows that no span of the framework explains"
    stored = {k: v["tokens_used"] for k, v in executions(url).items()}
    assert stored == expected_tokens


# -- pydantic-ai --------------------------------------------------------------------------
def _genai_kind(span: ReadableSpan) -> str:
    op = (span.attributes or {}).get("gen_ai.operation.name")
    return {"invoke_agent": "execution", "execute_tool": "tool", "chat": "model"}.get(str(op), "link")


@pytest.fixture
def instrumented_pydantic_ai(provider: Any) -> Iterator[Any]:
    tp = provider[0]
    Agent.instrument_all(InstrumentationSettings(tracer_provider=tp))
    yield provider
    Agent.instrument_all(False)


def test_pydantic_ai_agent_with_tools_and_a_sub_agent(instrumented_pydantic_ai: Any, db_url: str) -> None:
    tp, memory, ours = instrumented_pydantic_ai
    researcher = Agent(TestModel(), name="researcher")
    lead = Agent(TestModel(), name="lead")
    attempts = {"n": 0}

    @lead.tool_plain
    def get_weather(city: str) -> str:
        return f"sunny in {city}"

    @lead.tool_plain
    def flaky(x: int) -> str:
        attempts["n"] += 1
        if attempts["n"] == 1:
            raise ModelRetry("try again")
        return "ok"

    @lead.tool
    async def ask_researcher(ctx: RunContext[None], topic: str) -> str:
        result = await researcher.run(f"research {topic}", usage=ctx.usage)
        return str(result.output)

    result = lead.run_sync("what is the weather?")
    assert result.output
    _flush(tp, ours)
    spans = list(memory.get_finished_spans())
    assert sum(_genai_kind(s) == "execution" for s in spans) == 2
    _check_against_spans(db_url, spans, _genai_kind)
    by_name = {r["agent_name"]: r for r in executions(db_url).values()}
    assert set(by_name) == {"lead", "researcher"}
    ask = next(t for t in tools(db_url).values() if t["tool_name"] == "ask_researcher")
    assert by_name["researcher"]["parent_id"] == ask["usage_id"]  # the sub-agent sits under the tool
    statuses = sorted((t["tool_name"], t["status"]) for t in tools(db_url).values())
    assert statuses == [("ask_researcher", "success"), ("flaky", "failure"), ("flaky", "success"),
                        ("get_weather", "success")]
    retry = next(t for t in tools(db_url).values() if t["status"] == "failure")
    assert retry["error_message"] == "ToolRetryError: try again"
    conversation = {s.attributes.get("gen_ai.conversation.id") for s in spans if _genai_kind(s) == "execution"}
    assert {r["session_id"] for r in by_name.values()} <= conversation
    assert ours.stats().unresolved == 0
    assert_rollups_match_rebuild(db_url)


def test_pydantic_ai_run_that_raises(instrumented_pydantic_ai: Any, db_url: str) -> None:
    tp, memory, ours = instrumented_pydantic_ai
    agent = Agent(TestModel(), name="fragile")

    @agent.tool_plain
    def explode(x: int) -> str:
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        agent.run_sync("go")
    _flush(tp, ours)
    _check_against_spans(db_url, list(memory.get_finished_spans()), _genai_kind)
    (run,) = executions(db_url).values()
    assert (run["status"], run["error_message"]) == ("failure", "ValueError: boom")
    (call,) = tools(db_url).values()
    assert (call["status"], call["error_message"]) == ("failure", "ValueError: boom")
    assert_rollups_match_rebuild(db_url)


# -- LangChain / LangGraph under OpenInference ------------------------------------------
def _openinference_kind(span: ReadableSpan) -> str:
    kind = str((span.attributes or {}).get("openinference.span.kind"))
    return {"AGENT": "execution", "TOOL": "tool", "LLM": "model"}.get(kind, "link")


@pytest.fixture
def instrumented_langchain(provider: Any) -> Iterator[Any]:
    from openinference.instrumentation.langchain import LangChainInstrumentor

    instrumentor = LangChainInstrumentor()
    instrumentor.instrument(tracer_provider=provider[0])
    yield provider
    instrumentor.uninstrument()


@pytest.mark.filterwarnings("ignore:create_react_agent has been moved")
def test_langgraph_tool_calling_agent(instrumented_langchain: Any, db_url: str) -> None:
    from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
    from langchain_core.messages import AIMessage
    from langchain_core.tools import tool
    from langgraph.prebuilt import ToolNode, create_react_agent

    tp, memory, ours = instrumented_langchain

    class ToolCallingFake(GenericFakeChatModel):
        def bind_tools(self, tools: Any, **kwargs: Any) -> ToolCallingFake:
            return self

    @tool
    def get_weather(city: str) -> str:
        """The weather in a city."""
        return f"sunny in {city}"

    @tool
    def get_forecast(city: str, api_key: str) -> str:
        """Tomorrow's weather in a city."""
        raise RuntimeError("forecast service down")

    replies = iter([
        AIMessage(content="", tool_calls=[
            {"name": "get_weather", "args": {"city": "Paris"}, "id": "call_1"},
            {"name": "get_forecast", "args": {"city": "Paris", "api_key": "sk-live-1234567890abcdef"}, "id": "call_2"},
        ], usage_metadata={"input_tokens": 20, "output_tokens": 5, "total_tokens": 25}),
        AIMessage(content="Sunny today.", usage_metadata={"input_tokens": 30, "output_tokens": 4,
                                                          "total_tokens": 34}),
    ])
    # A failing tool's error goes back to the model as a message, as agents usually do.
    tool_node = ToolNode([get_weather, get_forecast], handle_tool_errors=True)
    graph = create_react_agent(ToolCallingFake(messages=replies), tool_node, name="weather_agent")
    out = graph.invoke({"messages": [("user", "weather in Paris?")]}, config={"metadata": {"session_id": "chat-42"}})
    assert out["messages"][-1].content == "Sunny today."
    _flush(tp, ours)
    spans = list(memory.get_finished_spans())
    _check_against_spans(db_url, spans, _openinference_kind)
    ex, tl, md = executions(db_url), tools(db_url), models(db_url)
    root = next(r for r in ex.values() if r["parent_id"] is None)
    assert root["agent_name"] == "weather_agent"
    assert {r["session_id"] for r in ex.values()} == {"chat-42"}
    assert {m["session_id"] for m in md.values()} == {"chat-42"}
    assert sorted((m["input_tokens"], m["output_tokens"]) for m in md.values()) == [(20, 5), (30, 4)]
    # The tools run below a CHAIN ("tools"): their agent is the graph's.
    assert {t["execution_id"] for t in tl.values()} == {root["execution_id"]}
    by_tool = {t["tool_name"]: t for t in tl.values()}
    assert by_tool["get_weather"]["status"] == "success"
    assert by_tool["get_forecast"]["status"] == "failure"
    assert "forecast service down" in by_tool["get_forecast"]["error_message"]
    assert "sk-live-1234567890abcdef" not in str(fetch(db_url, "SELECT input_data FROM tool_usage_metrics"))
    session = fetch(db_url, "SELECT total_tokens_used FROM session_metrics WHERE session_id = 'chat-42'")
    assert session == [{"total_tokens_used": 59}]
    assert_rollups_match_rebuild(db_url)
