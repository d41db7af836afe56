"""Span records -> wire rows: the work the writer thread does for each queued span.

A record is the plain tuple a span hands to the queue at exit (fields in the order of
the comments beside ``runtime.enqueue`` in :mod:`studio_analytics.tracker.spans`); a
row is the tuple :mod:`studio_analytics.db.rows` describes.

Every field is cleaned here, whatever the agent passed, so one odd value never costs
the batch it is in (a row the database rejects sends the whole batch row by row, a
value the driver cannot bind keeps it in the spool):

* text (names, ids, session/user/correlation ids, user agent, IP address, API name,
  query, response, error): made text (``str`` for ids and names, ``repr`` for payloads,
  with a time limit for foreign objects), valid UTF-8 (lone surrogates replaced, NUL
  replaced), redacted, and cut to its column's length (255, 64 for the IP address, 1,024
  for the user agent, ``max_payload_chars`` for the Text columns);
* integers: every integer column of the metrics tables is ``INTEGER`` (32-bit on
  PostgreSQL; :mod:`studio_analytics.db.models`), so values are clamped to
  ``[-2**31, 2**31 - 1]``; a value that is not an integer (``"12"``, ``3.7``, a
  ``Decimal``) is converted (:func:`capture.as_int`) or stored as NULL;
* floats (durations, response times, scores): NaN and infinities are stored as NULL.

Names, ids and short labels are cleaned once each and kept in caches of the
configuration (only ``str`` values of at most 255 characters are kept, up to 10,000 of
each kind).
"""

from __future__ import annotations

import uuid
from math import isfinite
from typing import Any

from studio_analytics.db.rows import Batch, Row, json_text, time_text
from studio_analytics.pricing import current_prices
from studio_analytics.tracker.capture import as_float, as_int
from studio_analytics.tracker.payload import (
    anonymize,
    bounded_text,
    clean_json,
    clean_text,
    format_error,
)
from studio_analytics.tracker.settings import TrackerConfig

_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1
_NAME_CHARS = 255
_CACHE_ITEMS = 10_000
#: ids as 32 hex digits (``%`` formats a 128-bit int twice as fast as an f-string spec)
_HEX32 = "%032x"
_ID_LIMIT = 2**128


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


def merge_batches(parts: list[Batch]) -> Batch:
    """Batches of consecutive records as one, kinds in the order :func:`prepare_batch`
    gives them (fix-ups last: after the rows they correct)."""
    merged: Batch = {}
    for kind in _PREPARE:
        rows = [row for part in parts for row in part.get(kind, ())]
        if rows:
            merged[kind] = rows
    return merged


def _prepare_execution(rec: tuple[Any, ...], cfg: TrackerConfig) -> Row:
    (ident, agent_id, agent_name, start_ns, end_ns, duration_ms, status, query, response, error, tools, retries,
     session_id, user_id, correlation_id, tokens, api_calls, parent, trace) = rec  # records.EXECUTION_FIELDS
    content = cfg.capture_content
    return (
        _HEX32 % ident, _short(agent_id, cfg), _name(agent_name, cfg),
        time_text(start_ns), time_text(end_ns), _float(duration_ms), status,
        clean_text(query, cfg) if content else None, clean_text(response, cfg) if content else None,
        format_error(error, cfg), _tools_json(tools, cfg), _int(len(tools)), _int(retries),
        _short(session_id, cfg), _user(user_id, cfg), _short(correlation_id, cfg), _int(tokens),
        _int(api_calls) or 0, _id(parent), _id(trace),
    )


def _prepare_tool(rec: tuple[Any, ...], cfg: TrackerConfig) -> Row:
    (ident, tool_name, execution_id, start_ns, end_ns, duration_ms, status, input_data, output_data, error,
     external_api, api_ms, api_status, parent, trace, agent_name) = rec  # records.TOOL_FIELDS
    content = cfg.capture_content
    return (
        _HEX32 % ident, _name(tool_name, cfg), _id(execution_id), time_text(start_ns), time_text(end_ns),
        _float(duration_ms), status,
        json_text(clean_json(input_data, cfg)) if content and input_data is not None else None,
        json_text(clean_json(output_data, cfg)) if content and output_data is not None else None,
        format_error(error, cfg), _short(external_api, cfg), _float(api_ms), _int(api_status), _id(parent),
        _id(trace),
        # after the columns: which agent called the tool, for the rollups
        None if agent_name is None else _name(agent_name, cfg),
    )


def _prepare_workflow(rec: tuple[Any, ...], cfg: TrackerConfig) -> Row:
    (ident, workflow_type, start_ns, end_ns, duration_ms, status, involved, session_id, user_id, satisfaction,
     completion) = rec  # records.WORKFLOW_FIELDS
    involved = None if involved is None else clean_json(involved, cfg)
    return (
        _HEX32 % ident, _name(workflow_type, cfg), time_text(start_ns), time_text(end_ns), _float(duration_ms),
        status, json_text(involved), _short(session_id, cfg), _user(user_id, cfg), _float(satisfaction),
        _float(completion), _int(len(involved)) if isinstance(involved, list) else 0, 0, 0,
    )


def _prepare_model(rec: tuple[Any, ...], cfg: TrackerConfig) -> Row:
    (ident, execution_id, parent, trace, agent_name, model, provider, operation, start_ns, end_ns, duration_ms,
     ttft_ms, status, error, n_in, n_out, n_cached, n_reasoning, cost, request, response, session_id,
     user_id) = rec  # records.MODEL_FIELDS
    content = cfg.capture_content
    model_name = _name(model, cfg) or "unknown"
    provider_name = _short(provider, cfg)
    n_in, n_out, n_cached, n_reasoning = _count(n_in), _count(n_out), _count(n_cached), _count(n_reasoning)
    cost_usd = _float(cost)
    if cost_usd is not None and cost_usd >= 0:
        source: str | None = "recorded"
    else:
        cost_usd, source = price_call(model_name, provider_name, n_in, n_out, n_cached, status)
    return (
        _HEX32 % ident, _id(execution_id), _id(parent), _id(trace),
        None if agent_name is None else _name(agent_name, cfg), model_name, provider_name,
        _short(operation, cfg, 64) or "chat", time_text(start_ns), time_text(end_ns), _float(duration_ms),
        _float(ttft_ms), status, format_error(error, cfg), n_in, n_out, n_cached, n_reasoning, cost_usd, source,
        json_text(clean_json(request, cfg)) if content and request is not None else None,
        json_text(clean_json(response, cfg)) if content and response is not None else None,
        _short(session_id, cfg), _user(user_id, cfg),
    )


def price_call(model: str, provider: str | None, n_in: int | None, n_out: int | None,
               n_cached: int | None, status: str = "success") -> tuple[float | None, str | None]:
    """Cost of a call from the price table, and its source; (None, None) when the model
    has no price (an unpriced call, never $0) or no token count was recorded.

    A *failed* call of a priced model that reported no usage costs $0: providers do not
    bill a request they reject (rate limit, server error, context too long), and such
    calls carry no usage to price. A timed-out one stays unknown: the provider may have
    generated (and billed) what the client stopped waiting for."""
    price = current_prices().lookup(model, provider)
    if price is None:
        return None, None
    cost = price.cost(n_in, n_out, n_cached)
    if cost is None:
        # (the tracker and the ingestion write "failure"; importing db.models for its
        # aliases would load SQLAlchemy into the agent's process)
        return (0.0, "price_table") if status == "failure" else (None, None)
    return cost, "price_table"


def _count(value: Any) -> int | None:
    """A token count: a non-negative integer in the column's range, or NULL."""
    n = _int(value)
    return None if n is None or n < 0 else n


def _prepare_fixup(rec: tuple[Any, ...], cfg: TrackerConfig) -> Row:
    """A correction of a row queued earlier (ingested OpenTelemetry spans whose ancestors
    arrived later): cleaned like the row's own columns, so the values compare equal."""
    (kind, ident, parent, execution_id, agent_name, session_id, user_id, correlation_id, tokens,
     tools) = rec  # built by studio_analytics.ingest.assembler._fixup; the row: db.rows.FIXUP_FIELDS
    return (
        kind, _HEX32 % ident, _id(parent), _id(execution_id), None if agent_name is None else _name(agent_name, cfg),
        _short(session_id, cfg), _user(user_id, cfg), _short(correlation_id, cfg), _int(tokens),
        None if tools is None else _tools_json(tools, cfg), None if tools is None else _int(len(tools)),
    )


def _prepare_session(rec: dict[str, Any], cfg: TrackerConfig) -> Row:
    return (
        _short(rec["session_id"], cfg), time_text(rec["start_ns"]),
        None if rec["end_ns"] is None else time_text(rec["end_ns"]), _user(rec["user_id"], cfg),
        _short(rec["user_agent"], cfg, 1024), _short(rec["ip_address"], cfg, 64), rec["is_active"],
    )


def _id(value: Any) -> str | None:
    """A tool's ``execution_id``: the span resolved it to an int when it could cheaply."""
    if value is None:
        return None
    if type(value) is int:
        return _HEX32 % value if 0 <= value < _ID_LIMIT else None
    text = bounded_text(value, 200, use_str=True)
    try:
        return uuid.UUID(text).hex
    except ValueError:
        return uuid.uuid5(uuid.NAMESPACE_URL, f"studio-analytics:{text}").hex


def _int(value: Any) -> int | None:
    if type(value) is not int:
        if value is None:
            return None
        value = as_int(value)
        if value is None:
            return None
    return _INT32_MIN if value < _INT32_MIN else _INT32_MAX if value > _INT32_MAX else value


def _float(value: Any) -> float | None:
    if type(value) is float:
        return value if isfinite(value) else None
    return None if value is None else as_float(value)


def _short(value: Any, cfg: TrackerConfig, limit: int = _NAME_CHARS) -> str | None:
    """Ids and short labels (session, user, provider, operation...). The same few recur
    in many rows: a short ``str`` is cleaned once per configuration and limit (bounded
    cache, as names); redacting even a short text tests every rule's literals."""
    if value is None:
        return None
    if type(value) is not str or len(value) > _NAME_CHARS:
        return clean_text(value, cfg, limit, use_str=True)
    compiled = cfg.compiled
    key = ("short", limit)
    texts: dict[str, str | None] | None = compiled.get(key)  # type: ignore[assignment]
    if texts is None:
        texts = compiled.setdefault(key, {})  # type: ignore[assignment]
    cached = texts.get(value)
    if cached is None:
        cached = clean_text(value, cfg, limit, use_str=True)
        if len(texts) < _CACHE_ITEMS:
            texts[value] = cached
    return cached


def _user(value: Any, cfg: TrackerConfig) -> str | None:
    if value is None:
        return None
    if cfg.anonymize_users:
        # Hashed from the text the agent gave (bounded), so the same user keeps one id.
        return anonymize(bounded_text(value, 4_096, use_str=True), cfg)
    return _short(value, cfg)


def _name(value: Any, cfg: TrackerConfig) -> str:
    """Agent, tool and workflow names: identifiers chosen by the developer. A few names
    recur in every row, so each short one is cleaned once (bounded cache, per config)."""
    short = type(value) is str and len(value) <= _NAME_CHARS
    names: dict[str, str] | None = cfg.compiled.get("names")  # type: ignore[assignment]
    if names is None:
        names = cfg.compiled.setdefault("names", {})  # type: ignore[assignment]
    cached = names.get(value) if short else None
    if cached is None:
        cached = clean_text(value, cfg, _NAME_CHARS, use_str=True) or ""
        if short and len(names) < _CACHE_ITEMS:
            names[value] = cached
    return cached


def _tools_json(tools: tuple[Any, ...], cfg: TrackerConfig) -> str:
    """``tools_called`` as JSON text; the same few sequences recur, so each is encoded once
    (only sequences of short ``str`` names are cached: their keys stay small)."""
    lists: dict[tuple[str, ...], str] = cfg.compiled.setdefault("tool_lists", {})  # type: ignore[assignment]
    cacheable = len(tools) <= 64 and all(type(t) is str and len(t) <= _NAME_CHARS for t in tools)
    text = lists.get(tools) if cacheable else None
    if text is None:
        text = json_text([_name(t, cfg) for t in tools[:1_000]]) or "[]"
        if cacheable and len(lists) < _CACHE_ITEMS:
            lists[tools] = text
    return text


_PREPARE = {
    "execution": _prepare_execution,
    "tool": _prepare_tool,
    "workflow": _prepare_workflow,
    "model": _prepare_model,
    "session": _prepare_session,
    "fixup": _prepare_fixup,  # last: fix-ups follow the rows they correct
}
