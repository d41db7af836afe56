"""Span records -> wire rows: the work the writer thread does for each queued span.

A record is the plain tuple a span hands to the queue at exit (fields in the order of
the comments beside ``runtime.enqueue`` in :mod:`studio_analytics.tracker.spans`); a
row is the tuple :mod:`studio_analytics.db.rows` describes.
"""

from __future__ import annotations

from typing import Any

from studio_analytics.db.rows import Batch, Row, json_text, time_text
from studio_analytics.tracker.payload import anonymize, clean_text, valid_unicode
from studio_analytics.tracker.settings import TrackerConfig


def prepare_batch(items: list[tuple[str, Any]], cfg: TrackerConfig) -> tuple[Batch, int]:
    """The rows of these records, by kind, and how many records could not be turned
    into a row at all."""
    batch: Batch = {kind: [] for kind in _PREPARE}
    failed = 0
    for kind, rec in items:
        try:
            batch[kind].append(_PREPARE[kind](rec, cfg))
        except Exception:  # noqa: BLE001
            failed += 1
    return {kind: rows for kind, rows in batch.items() if rows}, failed


def _id(value: int | None) -> str | None:
    return None if value is None else f"{value:032x}"


def _prepare_execution(rec: tuple[Any, ...], cfg: TrackerConfig) -> Row:
    (ident, agent_id, agent_name, start_ns, end_ns, duration_ms, status, query, response, error, tools, retries,
     session_id, user_id, correlation_id, tokens, api_calls) = rec  # records.EXECUTION_FIELDS
    content = cfg.capture_content
    return (
        f"{ident:032x}", None if agent_id is None else str(agent_id)[:255], _name(agent_name),
        time_text(start_ns), time_text(end_ns), duration_ms, status,
        clean_text(query, cfg) if content else None, clean_text(response, cfg) if content else None,
        clean_text(error, cfg), _tools_json(tools), len(tools), retries,
        _short(session_id), _short(anonymize(user_id, cfg)), _short(correlation_id), tokens, api_calls,
    )


def _prepare_tool(rec: tuple[Any, ...], cfg: TrackerConfig) -> Row:
    (ident, tool_name, execution_id, start_ns, end_ns, duration_ms, status, input_data, output_data, error,
     external_api, api_ms, api_status, agent_name) = rec  # records.TOOL_FIELDS
    return (
        f"{ident:032x}", _name(tool_name), _id(execution_id), time_text(start_ns), time_text(end_ns), duration_ms,
        status, json_text(input_data), json_text(output_data), clean_text(error, cfg), _short(external_api),
        api_ms, api_status,
        # after the columns: which agent called the tool, for the rollups
        None if agent_name is None else _name(agent_name),
    )


def _prepare_workflow(rec: tuple[Any, ...], cfg: TrackerConfig) -> Row:
    (ident, workflow_type, start_ns, end_ns, duration_ms, status, involved, session_id, user_id, satisfaction,
     completion) = rec  # records.WORKFLOW_FIELDS
    return (
        f"{ident:032x}", _name(workflow_type), time_text(start_ns), time_text(end_ns), duration_ms, status,
        json_text(involved), _short(session_id), _short(anonymize(user_id, cfg)), satisfaction, completion,
        len(involved) if isinstance(involved, list) else 0, 0, 0,
    )


def _prepare_session(rec: dict[str, Any], cfg: TrackerConfig) -> Row:
    user_agent = rec["user_agent"]
    return (
        _short(rec["session_id"]), time_text(rec["start_ns"]),
        None if rec["end_ns"] is None else time_text(rec["end_ns"]), _short(anonymize(rec["user_id"], cfg)),
        None if user_agent is None else clean_text(user_agent, cfg)[:1024],  # type: ignore[index]
        _short(rec["ip_address"], 64), rec["is_active"],
    )


_tool_lists: dict[tuple[str, ...], str] = {}


def _tools_json(tools: tuple[str, ...]) -> str:
    """``tools_called`` as JSON text; the same few sequences recur, so each is encoded once."""
    text = _tool_lists.get(tools)
    if text is None:
        text = json_text([_name(t) for t in tools]) or "[]"
        if len(_tool_lists) < 10_000:
            _tool_lists[tools] = text
    return text


_names: dict[Any, str] = {}


def _name(value: Any) -> str:
    """Agent, tool and workflow names: identifiers chosen by the developer, not content.
    A few names recur in every row, so each is cleaned once (bounded cache)."""
    cached = _names.get(value) if type(value) is str else None
    if cached is None:
        cached = valid_unicode(str(value)[:255])
        if type(value) is str and len(_names) < 10_000:
            _names[value] = cached
    return cached


def _short(value: Any, limit: int = 255) -> str | None:
    return None if value is None else str(value)[:limit]


_PREPARE = {
    "execution": _prepare_execution,
    "tool": _prepare_tool,
    "workflow": _prepare_workflow,
    "session": _prepare_session,
}
