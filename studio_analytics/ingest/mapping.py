"""One OpenTelemetry span -> what it is to us: an agent execution, a tool call, a model call, a
workflow, a link in the span tree only, or nothing we know.

Two conventions are read: the OpenTelemetry GenAI semantic conventions
(``gen_ai.operation.name``; checked first) and OpenInference (``openinference.span.kind``).
Attribute names and what each becomes are listed in docs/notes/otel-exporter.md. Values
are taken as the span gives them; the tracker's writer cleans, bounds and redacts them.
JSON text payloads (tool arguments, messages) are parsed here so secrets under sensitive
keys are redacted by key as well as by shape; text longer than ``max_json_chars`` is kept
as text (the writer cuts it to its bound anyway).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from studio_analytics.ingest.spans import STATUS_ERROR, STATUS_OK, IngestSpan

EXECUTION, TOOL, MODEL, WORKFLOW = "execution", "tool", "model", "workflow"
#: a span of a known convention that only links its children to its parent (CHAIN...)
LINK = "link"
#: a span of no known convention (HTTP, database...): also only a link, counted apart
IGNORED = "ignored"
ROW_KINDS = frozenset({EXECUTION, TOOL, MODEL, WORKFLOW})

_MODEL_OPERATIONS = frozenset({"chat", "text_completion", "generate_content", "embeddings"})
_SESSION_KEYS = ("gen_ai.conversation.id", "session.id")
_USER_KEYS = ("user.id", "enduser.id")
_COST_KEYS = ("gen_ai.usage.cost", "llm.cost.total", "operation.cost")
_AGENT_INPUT_KEYS = ("gen_ai.usage.input_tokens", "gen_ai.aggregated_usage.input_tokens")
_AGENT_OUTPUT_KEYS = ("gen_ai.usage.output_tokens", "gen_ai.aggregated_usage.output_tokens")
_INPUT_KEYS = ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens")
_OUTPUT_KEYS = ("gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens")
_CACHED_KEYS = ("gen_ai.usage.cache_read.input_tokens", "gen_ai.usage.cache_read_input_tokens",
                "gen_ai.usage.input_tokens.cached", "gen_ai.usage.details.cache_read_tokens")
_REASONING_KEYS = ("gen_ai.usage.reasoning.output_tokens", "gen_ai.usage.output_tokens.reasoning",
                   "gen_ai.usage.details.reasoning_tokens")
_INF = float("inf")
#: ``attributes.get``
Getter = Callable[[str], Any]


@dataclass(slots=True)
class MappedSpan:
    """The fields of one span that become a row (which fields depends on ``kind``)."""

    kind: str
    name: str | None = None  # agent, tool or workflow name
    agent_id: str | None = None
    model: str | None = None
    provider: str | None = None
    operation: str | None = None
    input_tokens: int | None = None  # including cached
    output_tokens: int | None = None  # including reasoning
    cached_tokens: int | None = None
    reasoning_tokens: int | None = None
    usage: int | None = None  # an agent span's own total (input + output), used only as a fallback
    cost: float | None = None
    ttft_ms: float | None = None
    session_id: str | None = None
    user_id: str | None = None
    status: str = "success"
    error: str | None = None
    input: Any = None  # query, tool input or request
    output: Any = None  # response, tool output or model response


def map_span(span: IngestSpan, *, capture_content: bool = True, max_json_chars: int = 32_768) -> MappedSpan:
    """What ``span`` is; never raises for odd attribute values (they are skipped)."""
    attrs = span.attributes
    get = attrs.get
    op = get("gen_ai.operation.name")
    if type(op) is str:
        mapped = _genai(span, get, op.lower(), capture_content, max_json_chars)
    else:
        kind = get("openinference.span.kind")
        if type(kind) is str:
            mapped = _openinference(span, attrs, kind.upper(), capture_content, max_json_chars)
        elif type(get("gen_ai.request.model")) is str:
            # Instrumentations older than gen_ai.operation.name: a request model makes a model call.
            mapped = _genai(span, get, "chat", capture_content, max_json_chars)
        else:
            mapped = MappedSpan(IGNORED)
    mapped.session_id = _first_text(get, _SESSION_KEYS)
    mapped.user_id = _first_text(get, _USER_KEYS)
    if mapped.kind in ROW_KINDS:
        mapped.status, mapped.error = span_status(span)
    return mapped


# -- GenAI semantic conventions -----------------------------------------------------------
def _genai(span: IngestSpan, get: Getter, op: str, content: bool, limit: int) -> MappedSpan:
    if op == "invoke_agent":
        m = MappedSpan(EXECUTION, name=_text(get("gen_ai.agent.name")) or _after(span.name, "invoke_agent")
                       or "agent", agent_id=_text(get("gen_ai.agent.id")))
        n_in = _count(get, _AGENT_INPUT_KEYS)
        n_out = _count(get, _AGENT_OUTPUT_KEYS)
        if n_in is not None or n_out is not None:
            m.usage = (n_in or 0) + (n_out or 0)
        if content:
            m.input = _last_user_text(_json(get("gen_ai.input.messages"), limit)) \
                or _last_user_text(_json(get("pydantic_ai.all_messages"), limit)) or _text(get("input.value"))
            m.output = _output_text(_json(get("gen_ai.output.messages"), limit)) \
                or _text(get("final_result")) or _text(get("output.value"))
        return m
    if op == "execute_tool":
        m = MappedSpan(TOOL, name=_text(get("gen_ai.tool.name")) or _after(span.name, "execute_tool") or "tool")
        if content:
            m.input = _json(get("gen_ai.tool.call.arguments"), limit)
            m.output = _json(get("gen_ai.tool.call.result"), limit)
        return m
    if op in _MODEL_OPERATIONS:
        m = MappedSpan(
            MODEL, operation=op,
            model=_text(get("gen_ai.request.model")) or _text(get("gen_ai.response.model")) or "unknown",
            provider=_text(get("gen_ai.provider.name")) or _text(get("gen_ai.system")),
            input_tokens=_count(get, _INPUT_KEYS),
            output_tokens=_count(get, _OUTPUT_KEYS),
            cached_tokens=_count(get, _CACHED_KEYS),
            reasoning_tokens=_count(get, _REASONING_KEYS),
            cost=_cost(get),
        )
        first = _number(get("gen_ai.response.time_to_first_chunk"))  # seconds
        m.ttft_ms = None if first is None or first < 0 else first * 1000.0
        if content:
            m.input = _json(get("gen_ai.input.messages") or get("gen_ai.prompt"), limit)
            m.output = _json(get("gen_ai.output.messages") or get("gen_ai.completion"), limit)
        return m
    if op == "invoke_workflow":
        return MappedSpan(WORKFLOW, name=_text(get("gen_ai.workflow.name")) or _after(span.name, "invoke_workflow")
                          or "workflow")
    return MappedSpan(LINK)  # create_agent, retrieval, operations of later versions


# -- OpenInference ------------------------------------------------------------------------
def _openinference(span: IngestSpan, a: Mapping[str, Any], kind: str, content: bool, limit: int) -> MappedSpan:
    if kind == "AGENT":
        m = MappedSpan(EXECUTION, name=_text(a.get("agent.name")) or span.name or "agent")
        if content:
            m.input = _text(a.get("input.value"))
            m.output = _text(a.get("output.value"))
        return m
    if kind == "TOOL":
        m = MappedSpan(TOOL, name=_text(a.get("tool.name")) or span.name or "tool")
        if content:
            m.input = _json(a.get("input.value"), limit)
            m.output = _json(a.get("output.value"), limit)
        return m
    if kind in ("LLM", "EMBEDDING"):
        embedding = kind == "EMBEDDING"
        model_key = "embedding.model_name" if embedding else "llm.model_name"
        m = MappedSpan(
            MODEL, operation="embeddings" if embedding else "chat",
            # LangChain names the span after the model's class: better than "unknown".
            model=_text(a.get(model_key)) or span.name or "unknown",
            provider=_text(a.get("llm.provider")) or _text(a.get("llm.system")),
            input_tokens=_count(a.get, ("llm.token_count.prompt",)),
            output_tokens=_count(a.get, ("llm.token_count.completion",)),
            cached_tokens=_count(a.get, ("llm.token_count.prompt_details.cache_read",)),
            reasoning_tokens=_count(a.get, ("llm.token_count.completion_details.reasoning",)),
            cost=_cost(a.get),
        )
        if content:
            m.input = _messages(a, "llm.input_messages.") or _json(a.get("input.value"), limit)
            m.output = _messages(a, "llm.output_messages.") or _json(a.get("output.value"), limit)
        return m
    return MappedSpan(LINK)  # CHAIN, RETRIEVER, RERANKER, GUARDRAIL, EVALUATOR, PROMPT, ...


# -- status -------------------------------------------------------------------------------
def span_status(span: IngestSpan) -> tuple[str, str | None]:
    """``success``, ``failure`` or ``timeout``, and the error message (``Type: message``).

    An explicit OK status is a success whatever else the span says (LangChain records
    control-flow exceptions with OK). Otherwise the span failed when its status is ERROR,
    when it has ``error.type``, or when it recorded an ``exception`` event. A failure whose
    exception or error type is a timeout (``...Timeout``, ``...TimeoutError``, ``timeout``)
    is a ``timeout``."""
    code = span.status_code
    if code == STATUS_OK:
        return "success", None
    raw_type = span.attributes.get("error.type")
    if code != STATUS_ERROR and raw_type is None and not span.events:
        return "success", None  # the usual span: nothing says it failed
    error_type = _text(raw_type)
    exception = next((e for e in span.events if e.name == "exception"), None)
    if code != STATUS_ERROR and error_type is None and exception is None:
        return "success", None
    type_name = message = None
    if exception is not None:
        type_name = _text(exception.attributes.get("exception.type"))
        message = _text(exception.attributes.get("exception.message"))
    type_name = type_name or error_type
    short = type_name.rsplit(".", 1)[-1] if type_name else None
    if message and short:
        text = f"{short}: {message}"
    else:
        text = message or span.status_message or short or "error"
    timed_out = short is not None and (short.lower() == "timeout" or short.endswith(("Timeout", "TimeoutError")))
    return ("timeout" if timed_out else "failure"), text


# -- values -------------------------------------------------------------------------------
def _text(value: Any) -> str | None:
    if type(value) is str:
        return value or None
    if value is None or isinstance(value, (tuple, list)):
        return None
    return str(value)


def _after(name: str, prefix: str) -> str | None:
    """``invoke_agent weather`` -> ``weather`` (the conventions' span names)."""
    if name.startswith(prefix):
        rest = name[len(prefix):].strip()
        return rest or None
    return None


def _first_text(get: Getter, keys: tuple[str, ...]) -> str | None:
    for key in keys:
        value = get(key)
        if value is not None:
            text = _text(value)
            if text:
                return text
    return None


def _count(get: Getter, keys: tuple[str, ...]) -> int | None:
    for key in keys:
        value = get(key)
        if type(value) is int:
            return value if value >= 0 else None
        if type(value) is float and 0 <= value < _INF:  # NaN and infinity are no count
            return int(value)
    return None


def _number(value: Any) -> float | None:
    if type(value) in (int, float) and value == value:
        return float(value)
    return None


def _cost(get: Getter) -> float | None:
    for key in _COST_KEYS:
        value = _number(get(key))
        if value is not None and value >= 0:
            return value
    return None


def _json(value: Any, limit: int) -> Any:
    """A JSON text parsed (an object or array only), anything else as it is."""
    if type(value) is str and 1 < len(value) <= limit and value[0] in "[{" and value[-1] in "]}":
        try:
            return json.loads(value)
        except ValueError:
            return value
    if type(value) is tuple:
        return list(value)
    return value


def _parts_text(message: Any) -> str | None:
    """The text of one GenAI message (``{"role", "parts": [{"type": "text", "content"}]}``)."""
    if not isinstance(message, dict):
        return None
    parts = message.get("parts")
    if isinstance(parts, list):
        texts = [p.get("content") for p in parts
                 if isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("content"), str)]
        return "\n".join(texts) if texts else None
    content = message.get("content")
    return content if isinstance(content, str) else None


def _last_user_text(messages: Any) -> str | None:
    if isinstance(messages, list):
        for message in reversed(messages):
            if isinstance(message, dict) and message.get("role") == "user":
                text = _parts_text(message)
                if text:
                    return text
    return messages if isinstance(messages, str) else None


def _output_text(messages: Any) -> str | None:
    if isinstance(messages, list):
        texts = [t for m in messages if (t := _parts_text(m))]
        return "\n".join(texts) if texts else None
    return messages if isinstance(messages, str) else None


def _messages(a: Mapping[str, Any], prefix: str) -> list[dict[str, Any]] | None:
    """OpenInference's flattened messages (``llm.input_messages.0.message.role``...) as a
    list of ``{"role": ..., "content": ..., "tool_calls.0.tool_call.function.name": ...}``."""
    found: dict[int, dict[str, Any]] = {}
    for key, value in a.items():
        if not key.startswith(prefix):
            continue
        index, _, rest = key[len(prefix):].partition(".")
        if not index.isdigit() or len(found) > 1_000:
            continue
        field_name = rest[len("message."):] if rest.startswith("message.") else rest
        found.setdefault(int(index), {})[field_name] = list(value) if type(value) is tuple else value
    return [found[i] for i in sorted(found)] or None


__all__ = ["EXECUTION", "IGNORED", "LINK", "MODEL", "ROW_KINDS", "TOOL", "WORKFLOW", "MappedSpan", "map_span",
           "span_status"]
