"""OTLP protobuf (``application/x-protobuf``) trace requests into :class:`IngestSpan` lists,
with the message classes of ``opentelemetry-proto`` (the ``collector`` extra).

The loop reads each field once and builds plain values straight away; attribute values
follow the ``AnyValue`` they carry: scalars as they are, arrays as tuples, key-value
lists as JSON text, bytes as base64 text.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from studio_analytics.ingest.otlp_decode import (
    DecodedRequest,
    OtlpDecodeError,
    RejectTally,
    new_span,
)
from studio_analytics.ingest.spans import IngestEvent, IngestSpan

_NO_TRACE = bytes(16)
_NO_SPAN = bytes(8)
BAD_TRACE_ID = "traceId is not 16 bytes, or is all zeros"
BAD_SPAN_ID = "spanId is not 8 bytes, or is all zeros"
BAD_PARENT_ID = "parentSpanId is neither empty nor 8 bytes"
NO_TIMES = "startTimeUnixNano or endTimeUnixNano is missing (0)"


def decode_protobuf(body: bytes) -> DecodedRequest:
    try:
        request = ExportTraceServiceRequest.FromString(body)
    except (DecodeError, RecursionError, ValueError, TypeError) as e:
        raise OtlpDecodeError(f"the body is not an OTLP ExportTraceServiceRequest in protobuf ({_cause(e)})") from None
    spans: list[IngestSpan] = []
    tally = RejectTally()
    append = spans.append
    from_bytes = int.from_bytes
    for resource_spans in request.resource_spans:
        resource = attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            scope = scope_spans.scope.name or None
            for s in scope_spans.spans:
                trace_id = s.trace_id
                if len(trace_id) != 16 or trace_id == _NO_TRACE:
                    tally.add(BAD_TRACE_ID)
                    continue
                span_id = s.span_id
                if len(span_id) != 8 or span_id == _NO_SPAN:
                    tally.add(BAD_SPAN_ID)
                    continue
                parent = s.parent_span_id
                if parent:
                    if len(parent) != 8:
                        tally.add(BAD_PARENT_ID)
                        continue
                    parent_id = from_bytes(parent, "big") or None
                else:
                    parent_id = None
                start, end = s.start_time_unix_nano, s.end_time_unix_nano
                if not start or not end:
                    tally.add(NO_TIMES)
                    continue
                status = s.status
                events = s.events
                attrs = s.attributes
                append(new_span(
                    from_bytes(trace_id, "big"), from_bytes(span_id, "big"), parent_id, s.name,
                    start, end, status.code, status.message or None,
                    attributes(attrs) if attrs else {},
                    tuple(IngestEvent(e.name, e.time_unix_nano, attributes(e.attributes)) for e in events)
                    if events else (),
                    resource, scope,
                ))
    return DecodedRequest(spans, tally.count, tally.reasons())


def attributes(pairs: Any) -> dict[str, Any]:
    """A repeated ``KeyValue`` as a dict (a repeated key: the last one wins; an empty
    ``AnyValue``: left out)."""
    out: dict[str, Any] = {}
    for kv in pairs:
        v = kv.value
        text = v.string_value
        if text:  # most values: a non-empty string (an unset one reads as "")
            out[kv.key] = text
            continue
        kind = v.WhichOneof("value")
        if kind == "string_value":
            out[kv.key] = text
        elif kind == "int_value":
            out[kv.key] = v.int_value
        elif kind is not None:
            value = _CONVERT[kind](v)
            if value is not None:
                out[kv.key] = value
    return out


def _array(v: Any) -> tuple[Any, ...]:
    out = []
    for item in v.array_value.values:
        kind = item.WhichOneof("value")
        if kind in ("array_value", "kvlist_value"):
            # Attribute arrays hold scalars; anything nested is kept as its JSON text.
            out.append(json.dumps(_plain(item), ensure_ascii=False))
        elif kind is not None:
            value = _CONVERT[kind](item)
            if value is not None:
                out.append(value)
    return tuple(out)


def _kvlist(v: Any) -> str:
    return json.dumps(_plain(v), ensure_ascii=False)


def _plain(v: Any) -> Any:
    """An ``AnyValue`` as JSON-ready Python (for nested arrays and key-value lists)."""
    kind = v.WhichOneof("value")
    if kind == "array_value":
        return [_plain(item) for item in v.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: _plain(kv.value) for kv in v.kvlist_value.values}
    if kind == "bytes_value":
        return base64.b64encode(v.bytes_value).decode("ascii")
    if kind == "double_value":
        d = v.double_value
        return d if d == d and d not in (float("inf"), float("-inf")) else str(d)
    return None if kind is None or kind == "string_value_strindex" else getattr(v, kind)


_CONVERT: dict[str, Any] = {
    "string_value": lambda v: v.string_value,
    "bool_value": lambda v: v.bool_value,
    "int_value": lambda v: v.int_value,
    "double_value": lambda v: v.double_value,
    "array_value": _array,
    "kvlist_value": _kvlist,
    "bytes_value": lambda v: base64.b64encode(v.bytes_value).decode("ascii"),
    # An index into a profile's string table: meaningless in a trace request.
    "string_value_strindex": lambda v: None,
}


def _cause(e: BaseException) -> str:
    text = str(e).splitlines()[0] if str(e) else type(e).__name__
    return text[:200]
