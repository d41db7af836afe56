"""Spans: what is open right now, linked through one ContextVar.

Each ``track_*`` call creates a span object that is its own sync and async context
manager. Entering takes timestamps and sets the ContextVar; exiting computes the
duration, builds one record and hands it to the writer's bounded queue. Nothing here
touches the database, no error of ours escapes into the agent, and no code of the
agent's runs: values are captured with :mod:`.capture` (type checks and copies of
builtin containers) and made text in the writer thread.
"""

from __future__ import annotations

import logging
import time
import uuid
from contextvars import ContextVar, Token
from types import TracebackType
from typing import Any

from studio_analytics.tracker import runtime
from studio_analytics.tracker.capture import as_float, as_int, capture_error, snapshot
from studio_analytics.tracker.ids import uuid7_int

log = logging.getLogger("studio_analytics.tracker")

_current: ContextVar[Span | None] = ContextVar("studio_analytics_span", default=None)
# Bound once: the hot path skips an attribute lookup per call.
_current_get = _current.get
_current_set = _current.set
_current_reset = _current.reset
_time_ns = time.time_ns
_perf_ns = time.perf_counter_ns

_new = object.__new__


class SpanHandle(uuid.UUID):
    """The id a ``with`` statement yields: a real ``uuid.UUID`` that can also record
    what the agent learns while running (tokens, API calls, the response...)."""

    __slots__ = ("_span",)
    # A class attribute in place of the per-instance slot: one store less per span.
    is_safe = uuid.SafeUUID.unknown

    def __reduce__(self) -> tuple[Any, ...]:
        return (uuid.UUID, (str(self),))  # pickles as a plain UUID

    # Recording never raises into the agent: bad arguments are logged and counted.
    def record_tokens(self, n: int) -> None:
        _safely(self._span.record_tokens, n)

    def record_api_call(self, name: str | None = None, status_code: int | None = None,
                        response_time_ms: float | None = None) -> None:
        _safely(self._span.record_api_call, name, status_code, response_time_ms)

    def set_response(self, text: Any) -> None:
        _safely(self._span.set_response, text)

    def set_output(self, obj: Any) -> None:
        _safely(self._span.set_output, obj)

    def retry(self) -> None:
        _safely(self._span.retry)

    def mark_timeout(self) -> None:
        _safely(self._span.mark_timeout)

    def record_usage(self, input_tokens: int | None = None, output_tokens: int | None = None,
                     cached_input_tokens: int | None = None, reasoning_tokens: int | None = None) -> None:
        """Token counts of a model call (added to what was recorded before). Input
        tokens include the cached ones; output tokens include the reasoning ones. On an
        execution or a tool call, input + output are added to the execution's tokens."""
        # What _safely does, inline: one call frame less on every model call.
        try:
            self._span.record_usage(input_tokens, output_tokens, cached_input_tokens, reasoning_tokens)
        except Exception:  # noqa: BLE001
            runtime.internal_error("recording record_usage")

    def first_token(self) -> None:
        """A streamed model call received its first token now (the first mark counts)."""
        try:
            self._span.first_token()
        except Exception:  # noqa: BLE001
            runtime.internal_error("recording first_token")

    def set_cost(self, usd: float) -> None:
        """The call's cost in USD, as the provider billed it: overrides the price table."""
        _safely(self._span.set_cost, usd)

    @property
    def span(self) -> Span:
        return self._span


def _safely(method: Any, *args: Any) -> None:
    try:
        method(*args)
    except Exception:  # noqa: BLE001
        runtime.internal_error(f"recording {getattr(method, '__name__', 'a value')}")


# The slots' own setters: UUID forbids attribute assignment, and calling the slot
# descriptors directly is cheaper than object.__setattr__ by name.
_set_int = uuid.UUID.int.__set__  # type: ignore[attr-defined]
_set_span = SpanHandle._span.__set__  # type: ignore[attr-defined]


def current_span() -> Span | None:
    return _current.get()


class Span:
    """Base: timing, nesting, status. Subclasses add their own fields.

    Defaults live on the class so creating a span assigns only what differs (this is
    the agent's hot path). A finished span is handed to the writer as it is; the writer
    thread turns it into a row.
    """

    kind = "span"
    #: executions, tool calls and model calls form the span tree (parent_id); sessions
    #: and workflows hold them without being part of it
    in_tree = False
    parent: Span | None = None
    #: id of the enclosing tree span (the stored parent_id), None at the top
    link: int | None = None
    #: id of the trace: the outermost span's below the session (0: none, for sessions)
    trace = 0
    _token: Token[Span | None] | None = None
    status = "in_progress"
    error_message: Any = None  # a capture.CapturedError, formatted by the writer
    timed_out = False
    sampled = True
    _api_calls = 0
    _tokens: int | None = None
    _retries = 0
    end_ns = 0
    duration_ms = 0.0
    id = 0
    start_ns = 0
    _perf = 0

    # -- context manager protocol -------------------------------------------------
    def __enter__(self) -> SpanHandle:
        clock = runtime.CLOCK
        if clock is None:
            self._perf = _perf_ns()
            start = self.start_ns = _time_ns()
        else:
            start = self.start_ns = clock()
        self.parent = _current_get()
        ident = self.id = self._make_id(start)
        # The handle points at the span, never the reverse: no reference cycle, so a
        # finished span is freed by reference counting, not left for the cyclic GC.
        handle = _new(SpanHandle)
        _set_int(handle, ident)
        _set_span(handle, self)
        try:
            self._on_enter()
        except Exception:  # noqa: BLE001
            runtime.internal_error("entering a span")
        self._token = _current_set(self)
        return handle

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> bool:
        try:
            clock = runtime.CLOCK
            if clock is None:
                elapsed = _perf_ns() - self._perf
                self.end_ns = self.start_ns + elapsed
                self.duration_ms = elapsed / 1e6
            else:
                self.end_ns = clock()
                self.duration_ms = (self.end_ns - self.start_ns) / 1e6
            if exc is None:
                if self.timed_out:
                    self.status = "timeout"
                else:
                    self.status = "success"
            else:
                self.status = "timeout" if isinstance(exc, TimeoutError) else "failure"
                self.error_message = capture_error(exc)
            self._on_exit()
        except Exception:  # noqa: BLE001 - ours, never the agent's
            runtime.internal_error("closing a span")
        finally:
            token = self._token
            if token is not None:
                try:
                    _current_reset(token)
                except ValueError:
                    # Exited in another context than it was entered (e.g. a generator
                    # finalised elsewhere): restore the parent instead.
                    _current_set(self.parent)
                self._token = None
        return False  # the agent's exception, if any, propagates unchanged

    async def __aenter__(self) -> SpanHandle:
        return self.__enter__()

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> bool:
        return self.__exit__(exc_type, exc, tb)

    # -- recording ----------------------------------------------------------------
    _make_id = staticmethod(uuid7_int)

    def _on_enter(self) -> None:
        pass

    def _on_exit(self) -> None:
        pass

    def record_tokens(self, n: int) -> None:
        value = as_int(n)
        if value is not None:
            self._tokens = (self._tokens or 0) + value

    def record_api_call(self, name: str | None, status_code: int | None, response_time_ms: float | None) -> None:
        self._api_calls += 1

    def record_usage(self, input_tokens: Any, output_tokens: Any, cached_input_tokens: Any,
                     reasoning_tokens: Any) -> None:
        total = (as_int(input_tokens) or 0) + (as_int(output_tokens) or 0)
        if input_tokens is not None or output_tokens is not None:
            self.record_tokens(total)

    def first_token(self) -> None:
        pass

    def set_cost(self, usd: Any) -> None:
        pass

    def set_response(self, text: Any) -> None:
        pass

    def set_output(self, obj: Any) -> None:
        pass

    def retry(self) -> None:
        self._retries += 1

    def mark_timeout(self) -> None:
        self.timed_out = True

    def nearest(self, kind: type[Span]) -> Span | None:
        span = self.parent
        while span is not None and not isinstance(span, kind):
            span = span.parent
        return span

    def _link_tree(self) -> None:
        """Trace id from the parent (a new trace below a session or at the top), and
        the nearest enclosing execution, tool call or model call as the tree parent."""
        parent = self.parent
        if parent is None:
            self.trace = self.id
            return
        self.trace = parent.trace or self.id
        while parent is not None and not parent.in_tree:
            parent = parent.parent
        if parent is not None:
            self.link = parent.id


class SessionSpan(Span):
    kind = "session"

    def __init__(self, session_id: str | None, user_id: str | None, user_agent: str | None,
                 ip_address: str | None) -> None:
        self.session_id = session_id
        self.user_id = user_id
        self.user_agent = user_agent
        self.ip_address = ip_address

    def _make_id(self, start_ns: int) -> int:  # type: ignore[override]
        if self.session_id is None:
            self.session_id = str(uuid.UUID(int=uuid7_int(start_ns)))
        return uuid7_int(start_ns)

    def __enter__(self) -> SpanHandle:
        handle = super().__enter__()
        # Written at once so the window shows the session as active while it lasts.
        self._emit(active=True)
        return handle

    def _on_exit(self) -> None:
        self._emit(active=False)

    def _emit(self, *, active: bool) -> None:
        if not self.sampled:
            return
        runtime.enqueue("session", {
            "session_id": self.session_id, "user_id": self.user_id, "user_agent": self.user_agent,
            "ip_address": self.ip_address, "start_ns": self.start_ns,
            "end_ns": None if active else self.end_ns, "is_active": active,
        })

    @property
    def id_text(self) -> str:
        return str(self.session_id)


class WorkflowSpan(Span):
    kind = "workflow"

    def __init__(self, workflow_type: str, agents_involved: Any, session_id: str | None,
                 user_id: str | None) -> None:
        self.workflow_type = workflow_type
        self.agents_involved = agents_involved  # captured at exit
        self.session_id = session_id
        self.user_id = user_id
        self.satisfaction: float | None = None
        self.completion: float | None = None

    def _on_enter(self) -> None:
        parent = self.parent
        self.trace = (parent.trace if parent is not None else 0) or self.id
        session = self.nearest(SessionSpan)
        if session is not None:
            self.session_id = self.session_id or session.session_id  # type: ignore[attr-defined]
            self.user_id = self.user_id or session.user_id  # type: ignore[attr-defined]
        self.sampled = runtime.sample()

    def set_scores(self, *, user_satisfaction_score: float | None = None,
                   task_completion_rate: float | None = None) -> None:
        self.satisfaction = user_satisfaction_score
        self.completion = task_completion_rate

    def _on_exit(self) -> None:
        if not self.sampled:
            return
        involved = self.agents_involved
        if involved is not None:
            involved = snapshot(involved)
            if type(involved) is not list:  # a foreign iterable: not iterated here; its repr, later
                involved = [involved]
        runtime.enqueue("workflow", (  # records.WORKFLOW_FIELDS
            self.id, self.workflow_type, self.start_ns, self.end_ns, self.duration_ms, self.status, involved,
            self.session_id, self.user_id, self.satisfaction, self.completion,
        ))


class ExecutionSpan(Span):
    kind = "execution"
    in_tree = True

    def __init__(self, agent_id: Any, agent_name: str, query: Any, session_id: str | None,
                 user_id: str | None, correlation_id: str | None) -> None:
        self.agent_id = agent_id
        self.agent_name = agent_name
        self.query = query
        self.session_id = session_id
        self.user_id = user_id
        self.correlation_id = correlation_id
        self.response: Any = None
        self.tools_called: list[Any] = []  # names as given; made text by the writer

    def _on_enter(self) -> None:
        self._link_tree()
        parent = self.parent
        while parent is not None:
            if isinstance(parent, ExecutionSpan):
                # A sub-agent (called by an agent, or from one of its tools): the
                # caller's session, user, workflow and sampling decision.
                self.session_id = self.session_id or parent.session_id
                self.user_id = self.user_id or parent.user_id
                if self.correlation_id is None:
                    self.correlation_id = parent.correlation_id
                self.sampled = parent.sampled
                break
            if isinstance(parent, WorkflowSpan):
                if self.correlation_id is None:
                    self.correlation_id = str(uuid.UUID(int=parent.id))
                self.session_id = self.session_id or parent.session_id
                self.user_id = self.user_id or parent.user_id
                self.sampled = parent.sampled
                break
            if isinstance(parent, SessionSpan):
                self.session_id = self.session_id or parent.session_id
                self.user_id = self.user_id or parent.user_id
            parent = parent.parent
        else:
            self.sampled = runtime.sample()

    def set_response(self, text: Any) -> None:
        self.response = text

    def _on_exit(self) -> None:
        if not self.sampled:
            return
        runtime.enqueue("execution", (  # records.EXECUTION_FIELDS
            self.id, self.agent_id, self.agent_name, self.start_ns, self.end_ns, self.duration_ms, self.status,
            snapshot(self.query), snapshot(self.response), self.error_message, tuple(self.tools_called),
            self._retries,
            self.session_id, self.user_id, self.correlation_id, self._tokens, self._api_calls, self.link,
            self.trace,
        ))


class ToolSpan(Span):
    kind = "tool"
    in_tree = True
    output_data: Any = None
    api_status: int | None = None
    api_ms: float | None = None
    _exec: ExecutionSpan | None = None

    def __init__(self, tool_name: str, execution_id: Any, input_data: Any, external_api: str | None) -> None:
        self.tool_name = tool_name
        self.execution_id = execution_id
        self.input_data = input_data
        self.external_api = external_api

    def _on_enter(self) -> None:
        parent = self.parent
        if type(parent) is ExecutionSpan and self.execution_id is None:  # the usual case, first
            self._exec = parent
            self.sampled = parent.sampled
            self.link = parent.id
            self.trace = parent.trace
            return
        self._link_tree()
        while parent is not None and not isinstance(parent, ExecutionSpan):
            parent = parent.parent
        if parent is not None and (self.execution_id is None or _same_id(self.execution_id, parent.id)):
            self._exec = parent
            self.sampled = parent.sampled
        else:
            self.sampled = runtime.sample() if self.execution_id is None else True

    def record_api_call(self, name: str | None, status_code: int | None, response_time_ms: float | None) -> None:
        self.api_status = as_int(status_code)
        self.api_ms = as_float(response_time_ms)
        self._api_calls += 1
        if name is not None:
            self.external_api = name  # made text by the writer

    def record_tokens(self, n: int) -> None:
        if self._exec is not None:
            self._exec.record_tokens(n)

    def set_output(self, obj: Any) -> None:
        self.output_data = obj

    def _on_exit(self) -> None:
        execution = self._exec
        if execution is not None:
            execution.tools_called.append(self.tool_name)
            execution._api_calls += self._api_calls or (1 if self.external_api else 0)
        if not self.sampled:
            return
        exec_id = execution.id if execution is not None else _as_uuid_int(self.execution_id)
        inputs = outputs = None
        # Copied now: the agent may change its objects after the call returns.
        if (self.input_data is not None or self.output_data is not None) and runtime.config().capture_content:
            inputs = snapshot(self.input_data)
            outputs = snapshot(self.output_data)
        runtime.enqueue("tool", (  # records.TOOL_FIELDS
            self.id, self.tool_name, exec_id, self.start_ns, self.end_ns, self.duration_ms, self.status,
            inputs, outputs, self.error_message, self.external_api, self.api_ms, self.api_status, self.link,
            self.trace, execution.agent_name if execution is not None else None,
        ))


class ModelCallSpan(Span):
    """One call to a language model: model, provider, operation, tokens, time to first
    token, cost. Its tokens also count in the nearest execution's ``tokens_used``."""

    kind = "model"
    in_tree = True
    response: Any = None
    ttft_ms: float | None = None
    cost: Any = None
    _usage: list[int | None] | None = None  # input, output, cached input, reasoning
    _exec: ExecutionSpan | None = None

    def __init__(self, model: str, provider: str | None, operation: str, request: Any) -> None:
        self.model = model
        self.provider = provider
        self.operation = operation
        self.request = request
        # Set now although the class has them: an instance's attributes then always
        # come in the same order, whichever of first_token/record_usage/set_response/
        # set_cost the agent calls. CPython shares one key table among a class's
        # instances only while they add attributes in one order; a call that adds them
        # in another (a streamed call after plain ones) cost ~1 µs more per span.
        self.ttft_ms = None
        self._usage = None
        self.response = None
        self.cost = None

    def _on_enter(self) -> None:
        parent = self.parent
        if type(parent) is ExecutionSpan:  # the usual case, first
            self._exec = parent
            self.sampled = parent.sampled
            self.link = parent.id
            self.trace = parent.trace
            return
        self._link_tree()
        while parent is not None and not isinstance(parent, ExecutionSpan):
            parent = parent.parent
        if parent is not None:
            self._exec = parent
            self.sampled = parent.sampled
        else:
            self.sampled = runtime.sample()

    def record_usage(self, input_tokens: Any, output_tokens: Any, cached_input_tokens: Any,
                     reasoning_tokens: Any) -> None:
        usage = self._usage
        if usage is None:
            if ((type(input_tokens) is int or input_tokens is None)
                    and (type(output_tokens) is int or output_tokens is None)
                    and (type(cached_input_tokens) is int or cached_input_tokens is None)
                    and (type(reasoning_tokens) is int or reasoning_tokens is None)):
                # The usual call: one report of plain ints (or None), nothing before it.
                self._usage = [input_tokens, output_tokens, cached_input_tokens, reasoning_tokens]
                return
            usage = self._usage = [None, None, None, None]
        for i, value in enumerate((input_tokens, output_tokens, cached_input_tokens, reasoning_tokens)):
            if value is None:
                continue  # as_int(None) is None, but slow: it looks for __index__ and __float__
            n = value if type(value) is int else as_int(value)
            if n is not None:
                usage[i] = (usage[i] or 0) + n

    def record_tokens(self, n: int) -> None:
        # Tokens of a model call without the split: counted as output.
        self.record_usage(None, n, None, None)

    def first_token(self) -> None:
        if self.ttft_ms is not None:
            return
        clock = runtime.CLOCK
        if clock is None:
            self.ttft_ms = (_perf_ns() - self._perf) / 1e6
        else:
            self.ttft_ms = (clock() - self.start_ns) / 1e6

    def set_cost(self, usd: Any) -> None:
        self.cost = as_float(usd)

    def set_response(self, obj: Any) -> None:
        self.response = obj

    set_output = set_response

    def _on_exit(self) -> None:
        execution = self._exec
        usage = self._usage
        if execution is not None and usage is not None and (usage[0] is not None or usage[1] is not None):
            execution._tokens = (execution._tokens or 0) + (usage[0] or 0) + (usage[1] or 0)
        if not self.sampled:
            return
        if execution is not None:
            session_id, user_id, agent = execution.session_id, execution.user_id, execution.agent_name
        else:
            session_id = user_id = agent = None
            holder = self.parent
            while holder is not None and session_id is None:
                session_id = getattr(holder, "session_id", None)
                user_id = getattr(holder, "user_id", None)
                holder = holder.parent
        request = response = None
        # Copied now: the agent may change its objects after the call returns.
        if (self.request is not None or self.response is not None) and runtime.config().capture_content:
            request = snapshot(self.request)
            response = snapshot(self.response)
        n_in, n_out, n_cached, n_reasoning = usage if usage is not None else (None, None, None, None)
        runtime.enqueue("model", (  # records.MODEL_FIELDS
            self.id, execution.id if execution is not None else None, self.link, self.trace, agent, self.model,
            self.provider, self.operation, self.start_ns, self.end_ns, self.duration_ms, self.ttft_ms,
            self.status, self.error_message, n_in, n_out, n_cached, n_reasoning, self.cost, request, response,
            session_id, user_id,
        ))


def _same_id(value: Any, ident: int) -> bool:
    resolved = _as_uuid_int(value)
    return type(resolved) is int and resolved == ident


def _as_uuid_int(value: Any) -> Any:
    """The id as an int when that is cheap and runs no code of the agent's (a UUID, our
    handle, a str); any other object is passed on for the writer to make text of."""
    t = type(value)
    if value is None:
        return None
    if t is uuid.UUID or t is SpanHandle:
        return value.int
    if t is str:
        if len(value) > 200:
            value = value[:200]
        try:
            return uuid.UUID(value).int
        except ValueError:
            # Agent Studio passes arbitrary strings ("exec-123"); keep a stable id for them.
            return uuid.uuid5(uuid.NAMESPACE_URL, f"studio-analytics:{value}").int
    return value
