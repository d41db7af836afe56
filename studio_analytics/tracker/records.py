"""What a finished span hands to the writer: a flat tuple of plain values.

The span object itself is dropped at exit (freed by reference counting); tuples of
atomic values are untracked by the cyclic GC, so a long queue costs the agent nothing
in garbage collection.
"""

from __future__ import annotations

from typing import Any, NamedTuple


class ExecutionRecord(NamedTuple):
    id: int
    agent_id: Any
    agent_name: str
    start_ns: int
    end_ns: int
    duration_ms: float
    status: str
    query: Any
    response: Any
    error_message: str | None
    tools_called: tuple[str, ...]
    retries: int
    session_id: str | None
    user_id: str | None
    correlation_id: str | None
    tokens: int | None
    api_calls: int


class ToolRecord(NamedTuple):
    id: int
    tool_name: str
    execution_id: int | None
    start_ns: int
    end_ns: int
    duration_ms: float
    status: str
    input_data: Any
    output_data: Any
    error_message: str | None
    external_api: str | None
    api_ms: float | None
    api_status: int | None
    agent_name: str | None  # of the enclosing execution (rollups: top agents per tool)


class WorkflowRecord(NamedTuple):
    id: int
    workflow_type: str
    start_ns: int
    end_ns: int
    duration_ms: float
    status: str
    agents_involved: Any
    session_id: str | None
    user_id: str | None
    satisfaction: float | None
    completion: float | None
