"""Is an IngestSpan well-formed enough to map? One reason per refused span."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from studio_analytics.ingest.spans import IngestEvent, IngestSpan

_TRACE_MAX = 2**128
_SPAN_MAX = 2**64
#: later than 2200-01-01: not a POSIX time in nanoseconds
_LATEST_NS = 7_258_118_400 * 10**9


def validate_span(span: Any) -> str | None:
    """None when ``span`` can be mapped, else why not (naming the field)."""
    if not isinstance(span, IngestSpan):
        return f"not an IngestSpan but {type(span).__name__}"
    trace_id, span_id, parent = span.trace_id, span.span_id, span.parent_span_id
    if type(trace_id) is not int or not 0 < trace_id < _TRACE_MAX:
        return "trace_id must be a non-zero 128-bit integer"
    if type(span_id) is not int or not 0 < span_id < _SPAN_MAX:
        return "span_id must be a non-zero 64-bit integer"
    if parent is not None and (type(parent) is not int or not 0 <= parent < _SPAN_MAX):
        return "parent_span_id must be None or a 64-bit integer"
    if parent == span_id:
        return "parent_span_id is the span's own id"
    start, end = span.start_ns, span.end_ns
    if type(start) is not int or not 0 < start < _LATEST_NS:
        return "start_ns must be POSIX nanoseconds (a positive integer before 2200)"
    if type(end) is not int or not 0 < end < _LATEST_NS:
        return "end_ns must be POSIX nanoseconds (a positive integer before 2200)"
    if end < start:
        return "end_ns is before start_ns"
    if type(span.name) is not str and not isinstance(span.name, str):
        return "name must be text"
    if type(span.attributes) is not dict and not isinstance(span.attributes, Mapping):
        return "attributes must be a mapping"
    events = span.events
    if type(events) is not tuple and not isinstance(events, tuple):
        return "events must be a tuple"
    for event in events:
        if not isinstance(event, IngestEvent) or not isinstance(event.attributes, Mapping):
            return "events must be IngestEvent values with mapping attributes"
    return None
