"""What a finished span hands to the writer: a plain tuple of plain values.

The field orders are below; spans build the tuples and the writer unpacks them in these
orders. Plain ``tuple`` on purpose: the cyclic GC untracks an exact tuple of atomic
values the first time it sees it, but never a tuple subclass (a NamedTuple), and a
queue of 100,000 tracked records made every full collection walk them all (the span
benchmark of benchmarks/bench_tracker.py, hot path: 6.1-8.9 µs with NamedTuples, 4.9 µs
with plain tuples, on 2026-11-26).
"""

from __future__ import annotations

EXECUTION_FIELDS = (
    "id", "agent_id", "agent_name", "start_ns", "end_ns", "duration_ms", "status", "query", "response",
    "error_message", "tools_called", "retries", "session_id", "user_id", "correlation_id", "tokens", "api_calls",
)
TOOL_FIELDS = (
    "id", "tool_name", "execution_id", "start_ns", "end_ns", "duration_ms", "status", "input_data", "output_data",
    "error_message", "external_api", "api_ms", "api_status",
    "agent_name",  # of the enclosing execution (rollups: top agents per tool)
)
WORKFLOW_FIELDS = (
    "id", "workflow_type", "start_ns", "end_ns", "duration_ms", "status", "agents_involved", "session_id",
    "user_id", "satisfaction", "completion",
)
