"""The mapping of single spans of each convention (no database)."""

from __future__ import annotations

import pytest

from studio_analytics.ingest.mapping import (
    EXECUTION,
    IGNORED,
    LINK,
    MODEL,
    TOOL,
    WORKFLOW,
    map_span,
)
from studio_analytics.ingest.spans import STATUS_ERROR, STATUS_OK, IngestEvent
from tests.ingest.spanlib import BASE_NS, span


def _map(attrs: dict, name: str = "s", **kw: object):  # type: ignore[no-untyped-def]
    return map_span(span(1, 2, None, name, attrs, **kw))  # type: ignore[arg-type]


def test_genai_agent() -> None:
    m = _map({"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "planner", "gen_ai.agent.id": "a-1",
              "gen_ai.conversation.id": "conv", "enduser.id": "bob",
              "gen_ai.input.messages": '[{"role": "user", "parts": [{"type": "text", "content": "hi"}]}]',
              "gen_ai.output.messages": '[{"role": "assistant", "parts": [{"type": "text", "content": "hello"}]}]',
              "gen_ai.aggregated_usage.input_tokens": 10, "gen_ai.aggregated_usage.output_tokens": 3})
    assert (m.kind, m.name, m.agent_id, m.session_id, m.user_id) == (EXECUTION, "planner", "a-1", "conv", "bob")
    assert (m.input, m.output, m.usage, m.status) == ("hi", "hello", 13, "success")


def test_genai_agent_name_from_the_span_name() -> None:
    assert _map({"gen_ai.operation.name": "invoke_agent"}, name="invoke_agent Support").name == "Support"
    assert _map({"gen_ai.operation.name": "create_agent", "gen_ai.agent.name": "x"}).kind == LINK


def test_genai_tool() -> None:
    m = _map({"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "search",
              "gen_ai.tool.call.arguments": '{"q": "x", "n": 3}', "gen_ai.tool.call.result": "plain text"})
    assert (m.kind, m.name, m.input, m.output) == (TOOL, "search", {"q": "x", "n": 3}, "plain text")


@pytest.mark.parametrize("op", ["chat", "text_completion", "generate_content", "embeddings"])
def test_genai_model_call(op: str) -> None:
    m = _map({"gen_ai.operation.name": op, "gen_ai.request.model": "gpt-4o", "gen_ai.response.model": "gpt-4o-2024",
              "gen_ai.provider.name": "openai", "gen_ai.usage.input_tokens": 100, "gen_ai.usage.output_tokens": 20,
              "gen_ai.usage.cache_read.input_tokens": 40, "gen_ai.usage.reasoning.output_tokens": 5,
              "gen_ai.response.time_to_first_chunk": 0.25, "gen_ai.usage.cost": 0.0012})
    assert (m.kind, m.operation, m.model, m.provider) == (MODEL, op, "gpt-4o", "openai")
    assert (m.input_tokens, m.output_tokens, m.cached_tokens, m.reasoning_tokens) == (100, 20, 40, 5)
    assert (m.ttft_ms, m.cost) == (250.0, 0.0012)


def test_genai_legacy_attributes() -> None:
    m = _map({"gen_ai.system": "anthropic", "gen_ai.request.model": "claude-3-5-sonnet",
              "gen_ai.usage.prompt_tokens": 7, "gen_ai.usage.completion_tokens": 2,
              "gen_ai.usage.cache_read_input_tokens": 1})
    assert (m.kind, m.operation, m.provider, m.input_tokens, m.output_tokens, m.cached_tokens) == (
        MODEL, "chat", "anthropic", 7, 2, 1)


def test_genai_workflow() -> None:
    m = _map({"gen_ai.operation.name": "invoke_workflow", "gen_ai.workflow.name": "triage"})
    assert (m.kind, m.name) == (WORKFLOW, "triage")


def test_openinference_kinds() -> None:
    agent = _map({"openinference.span.kind": "AGENT", "input.value": "q?", "output.value": "a!", "session.id": "s",
                  "user.id": "u"}, name="research_agent")
    assert (agent.kind, agent.name, agent.input, agent.output, agent.session_id, agent.user_id) == (
        EXECUTION, "research_agent", "q?", "a!", "s", "u")
    tool = _map({"openinference.span.kind": "TOOL", "tool.name": "calc", "input.value": '{"x": 1}',
                 "output.value": "2"})
    assert (tool.kind, tool.name, tool.input, tool.output) == (TOOL, "calc", {"x": 1}, "2")
    llm = _map({"openinference.span.kind": "LLM", "llm.model_name": "gpt-4o-mini", "llm.provider": "openai",
                "llm.token_count.prompt": 9, "llm.token_count.completion": 4,
                "llm.token_count.prompt_details.cache_read": 3, "llm.token_count.completion_details.reasoning": 1,
                "llm.cost.total": 0.5, "llm.input_messages.0.message.role": "user",
                "llm.input_messages.0.message.content": "hi", "llm.output_messages.0.message.role": "assistant",
                "llm.output_messages.0.message.content": "yo"})
    assert (llm.kind, llm.model, llm.provider, llm.input_tokens, llm.output_tokens, llm.cached_tokens,
            llm.reasoning_tokens, llm.cost) == (MODEL, "gpt-4o-mini", "openai", 9, 4, 3, 1, 0.5)
    assert llm.input == [{"role": "user", "content": "hi"}] and llm.output == [{"role": "assistant", "content": "yo"}]
    assert _map({"openinference.span.kind": "LLM"}, name="ChatFake").model == "ChatFake"
    embedding = _map({"openinference.span.kind": "EMBEDDING", "embedding.model_name": "text-embedding-3-small"})
    assert (embedding.kind, embedding.operation, embedding.model) == (MODEL, "embeddings", "text-embedding-3-small")
    for kind in ("CHAIN", "RETRIEVER", "RERANKER", "GUARDRAIL", "EVALUATOR", "PROMPT", "UNKNOWN"):
        assert _map({"openinference.span.kind": kind, "session.id": "s"}).kind == LINK
    assert _map({"openinference.span.kind": "CHAIN", "session.id": "s"}).session_id == "s"  # inherited below


def test_other_spans_are_ignored() -> None:
    assert _map({"http.request.method": "GET"}).kind == IGNORED
    assert _map({}).kind == IGNORED
    assert _map({"user.id": "u"}).user_id == "u"  # still inherited by GenAI spans below it


def test_status() -> None:
    tool = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "t"}
    exc = (IngestEvent("exception", BASE_NS, {"exception.type": "builtins.ValueError", "exception.message": "bad"}),)
    assert (_map(tool).status, _map(tool).error) == ("success", None)
    assert (_map(tool, status=STATUS_ERROR, events=exc).status, _map(tool, status=STATUS_ERROR, events=exc).error) \
        == ("failure", "ValueError: bad")
    assert _map(tool, status=STATUS_ERROR, message="it broke").error == "it broke"
    assert (_map({**tool, "error.type": "500"}).status, _map({**tool, "error.type": "500"}).error) == ("failure", "500")
    assert _map(tool, events=exc).status == "failure"  # an exception event with the status left unset
    assert _map(tool, status=STATUS_OK, events=exc).status == "success"  # an explicit OK wins
    timeout = (IngestEvent("exception", BASE_NS, {"exception.type": "httpx.ReadTimeout", "exception.message": "t"}),)
    assert _map(tool, status=STATUS_ERROR, events=timeout).status == "timeout"
    assert _map({**tool, "error.type": "timeout"}, status=STATUS_ERROR).status == "timeout"


def test_odd_attribute_values_are_skipped() -> None:
    m = _map({"gen_ai.operation.name": "chat", "gen_ai.request.model": ("a", "b"), "gen_ai.usage.input_tokens": -4,
              "gen_ai.usage.output_tokens": "12", "gen_ai.usage.cost": float("nan"),
              "gen_ai.tool.call.arguments": "{broken"})
    assert (m.model, m.input_tokens, m.output_tokens, m.cost) == ("unknown", None, None, None)
    t = _map({"gen_ai.operation.name": "execute_tool", "gen_ai.tool.call.arguments": "{broken"})
    assert t.input == "{broken"


def test_infinite_numbers_are_no_count_and_no_crash() -> None:
    """An OTLP double can be infinite: as a token count it is skipped (the next key is
    read), never turned into an int (which raised, and the whole request was refused)."""
    m = _map({"gen_ai.operation.name": "chat", "gen_ai.request.model": "m",
              "gen_ai.usage.input_tokens": float("inf"), "gen_ai.usage.prompt_tokens": 5,
              "gen_ai.usage.output_tokens": float("-inf"), "gen_ai.response.time_to_first_chunk": float("inf")})
    assert (m.input_tokens, m.output_tokens) == (5, None)
    agent = _map({"gen_ai.operation.name": "invoke_agent", "gen_ai.usage.input_tokens": float("inf")})
    assert agent.usage is None
