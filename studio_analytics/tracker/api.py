"""The public tracking API: context managers, decorators, configure/flush/shutdown/stats."""

from __future__ import annotations

import functools
import inspect
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from studio_analytics.tracker import runtime
from studio_analytics.tracker.settings import build_config
from studio_analytics.tracker.spans import (
    ExecutionSpan,
    ModelCallSpan,
    SessionSpan,
    ToolSpan,
    WorkflowSpan,
)

F = TypeVar("F", bound=Callable[..., Any])


def track_agent_execution(
    *, agent_id: Any = None, agent_name: str, query: Any = None, session_id: str | None = None,
    user_id: str | None = None, correlation_id: str | None = None, db: Any = None, **_ignored: Any,
) -> ExecutionSpan:
    """``with track_agent_execution(agent_name=...) as execution_id:`` around one agent run.

    ``db`` (Agent Studio passes its SQLAlchemy session) and unknown keywords are accepted
    and ignored so existing call sites keep working.
    """
    return ExecutionSpan(agent_id, agent_name, query, session_id, user_id, correlation_id)


def track_tool_usage(
    *, tool_name: str, execution_id: Any = None, input_data: Any = None,
    external_api_called: str | None = None, db: Any = None, **_ignored: Any,
) -> ToolSpan:
    """``with track_tool_usage(tool_name=...) as usage_id:``; attaches to the open execution."""
    return ToolSpan(tool_name, execution_id, input_data, external_api_called)


def track_model_call(
    *, model: str, provider: str | None = None, operation: str = "chat", input: Any = None,  # noqa: A002
    **_ignored: Any,
) -> ModelCallSpan:
    """``with track_model_call(model="gpt-4o-mini", provider="openai", input=messages) as call:``
    around one request to a language model. ``call.record_usage(input_tokens=...,
    output_tokens=..., cached_input_tokens=None, reasoning_tokens=None)``,
    ``call.first_token()`` when a stream's first token arrives, ``call.set_response(obj)``,
    ``call.set_cost(usd)`` to override the price table. Nests like the others: inside an
    execution (or a tool inside it) the call is the execution's, and its tokens count in
    the execution's ``tokens_used``."""
    return ModelCallSpan(model, provider, operation, input)


def track_workflow(
    *, workflow_type: str, agents_involved: Sequence[str] | None = None, session_id: str | None = None,
    user_id: str | None = None, db: Any = None, **_ignored: Any,
) -> WorkflowSpan:
    return WorkflowSpan(workflow_type, agents_involved, session_id, user_id)


def track_session(
    *, session_id: str | None = None, user_id: str | None = None, user_agent: str | None = None,
    ip_address: str | None = None, **_ignored: Any,
) -> SessionSpan:
    return SessionSpan(session_id, user_id, user_agent, ip_address)


def _decorator(make_span: Callable[[], Any]) -> Callable[[F], F]:
    def decorate(fn: F) -> F:
        if inspect.iscoroutinefunction(fn):
            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                async with make_span():
                    return await fn(*args, **kwargs)

            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with make_span():
                return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


def track_tool(tool_name: str, *, external_api_called: str | None = None) -> Callable[[F], F]:
    """``@track_tool("web_search")`` on a sync or async function."""
    return _decorator(lambda: ToolSpan(tool_name, None, None, external_api_called))


def track_model(model: str, *, provider: str | None = None, operation: str = "chat") -> Callable[[F], F]:
    """``@track_model("gpt-4o-mini")`` on a sync or async function that calls the model."""
    return _decorator(lambda: ModelCallSpan(model, provider, operation, None))


def track_agent(agent_name: str, *, agent_id: Any = None) -> Callable[[F], F]:
    """``@track_agent("CommandAgent")`` on a sync or async function."""
    return _decorator(lambda: ExecutionSpan(agent_id, agent_name, None, None, None, None))


def configure(
    *, db_url: str | None = None, capture_content: bool = True, max_payload_chars: int = 16_384,
    redact: Sequence[str | re.Pattern[str]] | None = None, anonymize_users: bool = False,
    user_salt: str = "", sample_rate: float = 1.0, enabled: bool = True,
    clock: Callable[[], int] | None = None, **advanced: Any,
) -> None:
    """Set up the tracker (optional: the defaults write to the default database).

    Rows still queued for the previous configuration are flushed to its database first.
    ``advanced`` takes ``max_queue``, ``batch_size``, ``flush_interval_s``,
    ``exit_timeout_s``, ``write_timeout_s`` (the longest one database write may take
    before its batch goes to the spool, default 10 s), ``spool_path`` and
    ``redact_defaults``.

    When the spool holds batches for this database (an earlier process could not write
    everything), the writer thread starts at once and replays them; otherwise it starts
    with the first row.
    """
    cfg = build_config(
        db_url=db_url, capture_content=capture_content, max_payload_chars=max_payload_chars,
        redact=redact, anonymize_users=anonymize_users, user_salt=user_salt,
        sample_rate=sample_rate, enabled=enabled, clock=clock, **advanced,
    )
    runtime.set_config(cfg)
    if cfg.enabled:
        try:
            # Rows an earlier process left in the spool go in now, not at the first span.
            runtime.writer().replay_left_behind()
        except Exception:  # noqa: BLE001 - configure() must not fail the agent either
            runtime.internal_error("looking for rows left in the spool")


def flush(timeout: float = 5.0) -> bool:
    """Block until everything tracked so far is in the database or the spool."""
    w = runtime.current_writer()
    return True if w is None else bool(w.flush(timeout))


def shutdown(timeout: float = 2.0) -> None:
    w = runtime.current_writer()
    if w is not None:
        w.shutdown(timeout)
    runtime.set_config(runtime.config())


@dataclass(frozen=True, slots=True)
class TrackerStats:
    enqueued: int
    written: int
    spooled: int
    replayed: int
    dropped: int
    rejected: int
    errors: int
    queued: int
    spool_pending: int
    dead_letters: int
    batch_ms_last: float | None
    batch_ms_avg: float | None
    batch_ms_p95: float | None
    last_error: str | None


def stats() -> TrackerStats:
    w = runtime.current_writer()
    if w is None:
        return TrackerStats(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, None, None, None, None)
    lat = sorted(w.latencies_ms)
    c = w.counters
    try:
        pending = w.spool_pending()
    except Exception:  # noqa: BLE001
        pending = -1
    try:
        dead = w._spool.dead_letter_count()
    except Exception:  # noqa: BLE001
        dead = -1
    return TrackerStats(
        enqueued=w.enqueued_count(), written=c["written"], spooled=c["spooled"], replayed=c["replayed"],
        dropped=c["dropped"], rejected=c["rejected"], errors=c["errors"], queued=len(w._queue),
        spool_pending=pending, dead_letters=dead,
        batch_ms_last=w.latencies_ms[-1] if lat else None,
        batch_ms_avg=sum(lat) / len(lat) if lat else None,
        batch_ms_p95=lat[min(len(lat) - 1, int(len(lat) * 0.95))] if lat else None,
        last_error=w.last_error,
    )


class AnalyticsService:
    """Drop-in for Agent Studio's ``analytics_service``: same method names and keywords."""

    def __init__(self) -> None:
        self.logger = logging.getLogger("studio_analytics.agent")

    track_agent_execution = staticmethod(track_agent_execution)
    track_tool_usage = staticmethod(track_tool_usage)
    track_model_call = staticmethod(track_model_call)
    track_workflow = staticmethod(track_workflow)
    track_session = staticmethod(track_session)


analytics_service = AnalyticsService()
