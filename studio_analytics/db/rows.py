"""Wire rows: the flat tuples the tracker's writer inserts, spools and folds into rollups.

One tuple per row, values in the order of ``*_COLUMNS``, already in the form SQLite
stores them: ids as 32 lowercase hex digits, times as naive UTC text
``YYYY-MM-DD HH:MM:SS.ffffff`` (text order is time order), JSON columns as JSON text.
SQLite takes these tuples as they are; PostgreSQL takes them too (psycopg sends text
as "unknown", so the server casts it to uuid, timestamptz or jsonb), with ``+00``
appended to times. Building them straight from the span records, without dicts,
UUID or datetime objects, was the largest single cost the writer had.
"""

from __future__ import annotations

import json
import json.encoder
import time
import uuid
from datetime import UTC, datetime
from functools import partial
from typing import Any

EXECUTION_COLUMNS = (
    "execution_id", "agent_id", "agent_name", "start_time", "end_time", "duration_ms", "status", "query",
    "response", "error_message", "tools_called", "tool_count", "retry_count", "session_id", "user_id",
    "correlation_id", "tokens_used", "api_calls_count", "parent_id", "trace_id",
)
TOOL_COLUMNS = (
    "usage_id", "tool_name", "execution_id", "start_time", "end_time", "duration_ms", "status", "input_data",
    "output_data", "error_message", "external_api_called", "api_response_time_ms", "api_status_code", "parent_id",
    "trace_id",
)
#: Columns we added to the Agent Studio tables (last in their rows): an Agent Studio
#: database has none of them, so its inserts leave them out.
EXTENSION_COLUMN_COUNT = 2
#: A tool row carries one value after its columns: the calling agent's name (for the
#: rollups' top agents per tool; not stored in the tool's row).
TOOL_AGENT = len(TOOL_COLUMNS)
WORKFLOW_COLUMNS = (
    "workflow_id", "workflow_type", "start_time", "end_time", "duration_ms", "status", "agents_involved",
    "session_id", "user_id", "user_satisfaction_score", "task_completion_rate", "agent_count",
    "total_tool_calls", "total_api_calls",
)
MODEL_COLUMNS = (
    "call_id", "execution_id", "parent_id", "trace_id", "agent_name", "model", "provider", "operation",
    "start_time", "end_time", "duration_ms", "time_to_first_token_ms", "status", "error_message", "input_tokens",
    "output_tokens", "cached_input_tokens", "reasoning_tokens", "cost_usd", "cost_source", "request", "response",
    "session_id", "user_id",
)
#: An explicit session enter/exit event (not a table row: it inserts or updates one).
SESSION_FIELDS = ("session_id", "start_time", "end_time", "user_id", "user_agent", "ip_address", "is_active")
#: A fix-up (not a table row): the columns of an execution, tool or model row written before
#: its ancestors arrived (ingested OpenTelemetry spans), as they are now known. ``kind`` says
#: which table; fields the kind has no column for are None. Absolute values, so applying
#: one twice changes nothing; the writer applies them after the batch's inserts.
FIXUP_FIELDS = ("kind", "row_id", "parent_id", "execution_id", "agent_name", "session_id", "user_id",
                "correlation_id", "tokens_used", "tools_called", "tool_count")

COLUMNS = {"execution": EXECUTION_COLUMNS, "tool": TOOL_COLUMNS, "workflow": WORKFLOW_COLUMNS,
           "model": MODEL_COLUMNS}
ID_COLUMNS = frozenset({"execution_id", "usage_id", "workflow_id", "call_id", "parent_id", "trace_id"})
TIME_COLUMNS = frozenset({"start_time", "end_time"})
JSON_COLUMNS = frozenset({"tools_called", "input_data", "output_data", "agents_involved", "agents_used", "request",
                          "response"})

Row = tuple[Any, ...]
Batch = dict[str, list[Row]]


def position(kind: str, column: str) -> int:
    return COLUMNS[kind].index(column)


# -- values -------------------------------------------------------------------------
_second_texts: dict[int, str] = {}  # POSIX second -> its text (each entry right on its own)


def time_text(ns: int) -> str:
    """Naive UTC text of a ``time_ns`` value. Rows of one batch mostly fall in a few
    seconds (a span's start and end often in different ones), so those seconds' texts
    are kept and only the microseconds formatted."""
    second, rest = divmod(ns // 1000, 1_000_000)
    text = _second_texts.get(second)
    if text is None:
        text = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(second))
        if len(_second_texts) >= 4_096:
            _second_texts.clear()
        _second_texts[second] = text
    return f"{text}.{rest:06d}"


def datetime_text(value: datetime) -> str:
    """The same text for a datetime (naive values are taken as UTC)."""
    if value.tzinfo is not None and value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.replace(tzinfo=None).isoformat(" ", "microseconds")


_hours: dict[str, int] = {}


def hour_of_text(value: str) -> int:
    """POSIX second of the UTC hour a time text falls in (a batch has few hours)."""
    key = value[:13]
    hour = _hours.get(key)
    if hour is None:
        hour = int(datetime.fromisoformat(key + ":00:00+00:00").timestamp())
        if len(_hours) > 10_000:
            _hours.clear()
        _hours[key] = hour
    return hour


def _make_json_encoder() -> Any:
    """``json.dumps(value, ensure_ascii=False)`` without its per-call cost: with any
    keyword argument json.dumps builds a new encoder each time (5 µs for a small dict
    here, against 0.7 µs for one C encoder made once). The values are already cleaned
    (plain JSON types, no cycles), so the circular-reference check is off."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # no C accelerator (another Python implementation)
        return partial(json.dumps, ensure_ascii=False)
    encoder = make(None, json.JSONEncoder().default, json.encoder.c_encode_basestring, None, ": ", ", ",
                   False, False, True)
    join = "".join
    return lambda value: join(encoder(value, 0))


_encode_json = _make_json_encoder()


def json_text(value: Any) -> str | None:
    if value is None:
        return None
    return "[]" if value == [] else _encode_json(value)


def pg_time(value: str | None) -> str | None:
    return None if value is None else value + "+00"


# -- from mappings (spool files of earlier versions, tests, imports) -----------------
def row_from_mapping(kind: str, row: dict[str, Any]) -> Row:
    """A wire row from a mapping of column names to Python values (UUIDs, datetimes,
    JSON-able objects) or to their wire forms."""
    values = []
    for column in COLUMNS[kind]:
        values.append(_wire_value(column, row.get(column)))
    if kind == "tool":
        values.append(row.get("agent_name"))
    if kind == "workflow":
        involved = row.get("agents_involved")
        defaults = {"agent_count": len(involved) if isinstance(involved, list) else 0,
                    "total_tool_calls": 0, "total_api_calls": 0}
        for column, default in defaults.items():
            i = WORKFLOW_COLUMNS.index(column)
            if values[i] is None:
                values[i] = default
    return tuple(values)


def upgrade_rows(kind: str, rows: list[Row]) -> list[Row]:
    """Wire rows of an earlier layout (spool format 2, before revision 0003) in today's:
    executions and tools gain ``parent_id`` and ``trace_id`` (NULL) after their old
    columns, before a tool's calling agent."""
    if kind == "execution":
        old = len(EXECUTION_COLUMNS) - EXTENSION_COLUMN_COUNT
        return [tuple(r) + (None,) * EXTENSION_COLUMN_COUNT if len(r) == old else tuple(r) for r in rows]
    if kind == "tool":
        old = len(TOOL_COLUMNS) - EXTENSION_COLUMN_COUNT
        return [tuple(r[:old]) + (None,) * EXTENSION_COLUMN_COUNT + tuple(r[old:]) if len(r) == old + 1
                else tuple(r) for r in rows]
    return [tuple(r) for r in rows]


def session_from_mapping(row: dict[str, Any]) -> Row:
    return tuple(_wire_value(f, row.get(f)) for f in SESSION_FIELDS)


def _wire_value(column: str, value: Any) -> Any:
    if value is None:
        return None
    if column in ID_COLUMNS:
        if isinstance(value, uuid.UUID):
            return value.hex
        return uuid.UUID(str(value)).hex
    if column in TIME_COLUMNS:
        return datetime_text(value) if isinstance(value, datetime) else datetime_text(datetime.fromisoformat(value))
    if column in JSON_COLUMNS:
        return json_text(value)  # a mapping holds the object (a str payload is JSON too)
    return value


def as_wire_batch(batch: dict[str, list[Any]]) -> Batch:
    """The batch with any rows given as mappings turned into wire rows."""
    out: Batch = {}
    for kind, rows in batch.items():
        if rows and isinstance(rows[0], dict):
            rows = ([session_from_mapping(r) for r in rows] if kind == "session"
                    else [row_from_mapping(kind, r) for r in rows])
        out[kind] = rows
    return out
