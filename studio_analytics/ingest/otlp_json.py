"""OTLP/JSON (``application/json``) trace requests into :class:`IngestSpan` lists.

OTLP/JSON is protobuf's JSON mapping with the deviations of the OTLP specification:
``traceId``/``spanId`` are hex strings (not base64), enums are integers, field names are
lowerCamelCase, 64-bit integers may be numbers or decimal strings, and unknown fields are
ignored. Read leniently where it costs nothing and cannot be misread: the original
snake_case names, base64 ids of the exact base64 length (24 characters for a trace id,
12 for a span id, never confusable with the 32/16 hex characters), and status codes given
by name.

Not the protobuf library's JSON parser: it would read a hex id as base64 without a word
(32 hex characters are valid base64), and it fails a whole request for one bad span.
Here the envelope must be right (else :class:`OtlpDecodeError`: 400), while a span with
a bad field is left out with its reason (``partial_success``).
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from typing import Any

from studio_analytics.ingest.otlp_decode import DecodedRequest, OtlpDecodeError, RejectTally
from studio_analytics.ingest.spans import IngestEvent, IngestSpan

_STATUS_NAMES = {"STATUS_CODE_UNSET": 0, "STATUS_CODE_OK": 1, "STATUS_CODE_ERROR": 2}
_HEX = frozenset("0123456789abcdefABCDEF")
_TOO_DEEP = "an attribute value is nested too deeply"
_UINT64 = 1 << 64
_INT64 = 1 << 63


class _BadSpan(Exception):
    """A span field that cannot be read; the message is the reason given back."""


def decode_json(body: bytes) -> DecodedRequest:
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError) as e:  # UnicodeDecodeError is a ValueError
        raise OtlpDecodeError(f"the body is not JSON ({_cause(e)})") from None
    if not isinstance(doc, dict):
        raise OtlpDecodeError("the body is not an OTLP/JSON ExportTraceServiceRequest: not a JSON object")
    spans: list[IngestSpan] = []
    tally = RejectTally()
    for i, resource_spans in enumerate(_list(doc, "resourceSpans", "resource_spans", "")):
        where = f"resourceSpans[{i}]"
        _object(resource_spans, where)
        resource_obj = _field(resource_spans, "resource", "resource")
        if resource_obj is not None:
            _object(resource_obj, f"{where}.resource")
            try:
                resource = _attributes(resource_obj)
            except _BadSpan as e:
                raise OtlpDecodeError(f"{where}.resource: {e}") from None
            except RecursionError:
                raise OtlpDecodeError(f"{where}.resource: {_TOO_DEEP}") from None
        else:
            resource = {}
        for j, scope_spans in enumerate(_list(resource_spans, "scopeSpans", "scope_spans", where)):
            swhere = f"{where}.scopeSpans[{j}]"
            _object(scope_spans, swhere)
            scope_obj = _field(scope_spans, "scope", "scope")
            scope = None
            if scope_obj is not None:
                _object(scope_obj, f"{swhere}.scope")
                name = scope_obj.get("name")
                scope = name if isinstance(name, str) and name else None
            for span in _list(scope_spans, "spans", "spans", swhere):
                try:
                    spans.append(_span(span, resource, scope))
                except _BadSpan as e:
                    tally.add(str(e))
                except RecursionError:
                    tally.add(_TOO_DEEP)
    return DecodedRequest(spans, tally.count, tally.reasons())


def _span(s: Any, resource: dict[str, Any], scope: str | None) -> IngestSpan:
    if not isinstance(s, dict):
        raise _BadSpan("a span is not a JSON object")
    trace_id = _id(_field(s, "traceId", "trace_id"), 16, "traceId")
    span_id = _id(_field(s, "spanId", "span_id"), 8, "spanId")
    if trace_id is None or span_id is None:
        raise _BadSpan("traceId or spanId is missing, empty or all zeros")
    parent_id = _id(_field(s, "parentSpanId", "parent_span_id"), 8, "parentSpanId")
    name = s.get("name", "")
    if not isinstance(name, str):
        raise _BadSpan("name is not a string")
    start = _uint64(_field(s, "startTimeUnixNano", "start_time_unix_nano"), "startTimeUnixNano")
    end = _uint64(_field(s, "endTimeUnixNano", "end_time_unix_nano"), "endTimeUnixNano")
    if not start or not end:
        raise _BadSpan("startTimeUnixNano or endTimeUnixNano is missing (0)")
    code, message = 0, None
    status = s.get("status")
    if status is not None:
        if not isinstance(status, dict):
            raise _BadSpan("status is not a JSON object")
        code = _status_code(status.get("code", 0))
        message = status.get("message")
        if message is not None and not isinstance(message, str):
            raise _BadSpan("status.message is not a string")
        message = message or None
    events = s.get("events")
    return IngestSpan(
        trace_id, span_id, parent_id, name, start, end, code, message,
        _attributes(s),
        tuple(_event(e) for e in _seq(events, "events")) if events else (),
        resource, scope,
    )


def _event(e: Any) -> IngestEvent:
    if not isinstance(e, dict):
        raise _BadSpan("an event is not a JSON object")
    name = e.get("name", "")
    if not isinstance(name, str):
        raise _BadSpan("an event's name is not a string")
    time_ns = _uint64(_field(e, "timeUnixNano", "time_unix_nano"), "an event's timeUnixNano")
    return IngestEvent(name, time_ns, _attributes(e))


def _attributes(obj: dict[str, Any]) -> dict[str, Any]:
    pairs = obj.get("attributes")
    out: dict[str, Any] = {}
    if not pairs:
        return out
    for kv in _seq(pairs, "attributes"):
        if not isinstance(kv, dict) or not isinstance(kv.get("key"), str):
            raise _BadSpan("an attribute is not an object with a string key")
        value = _any_value(kv.get("value"), kv["key"], nested=False)
        if value is not None:
            out[kv["key"]] = value
    return out


def _any_value(v: Any, key: str, *, nested: bool) -> Any:
    """An ``AnyValue`` object: a scalar, a tuple (array), JSON text (key-value list, or
    an array inside an array), or None (empty)."""
    if v is None:
        return None
    if not isinstance(v, dict):
        raise _BadSpan(f"attribute {key!r}: the value is not an AnyValue object")
    if "stringValue" in v or "string_value" in v:
        s = _field(v, "stringValue", "string_value")
        if not isinstance(s, str):
            raise _BadSpan(f"attribute {key!r}: stringValue is not a string")
        return s
    if "boolValue" in v or "bool_value" in v:
        b = _field(v, "boolValue", "bool_value")
        if not isinstance(b, bool):
            raise _BadSpan(f"attribute {key!r}: boolValue is not true or false")
        return b
    if "intValue" in v or "int_value" in v:
        return _int64(_field(v, "intValue", "int_value"), f"attribute {key!r}: intValue")
    if "doubleValue" in v or "double_value" in v:
        return _double(_field(v, "doubleValue", "double_value"), key)
    if "bytesValue" in v or "bytes_value" in v:
        b64 = _field(v, "bytesValue", "bytes_value")
        if not isinstance(b64, str):
            raise _BadSpan(f"attribute {key!r}: bytesValue is not a base64 string")
        return b64  # stored as base64 text, which it already is
    if "arrayValue" in v or "array_value" in v:
        if nested:
            return json.dumps(_plain(v, key), ensure_ascii=False)
        arr = _field(v, "arrayValue", "array_value")
        if not isinstance(arr, dict):
            raise _BadSpan(f"attribute {key!r}: arrayValue is not an object")
        items = (_any_value(item, key, nested=True) for item in _seq(arr.get("values") or [], "arrayValue.values"))
        return tuple(item for item in items if item is not None)
    if "kvlistValue" in v or "kvlist_value" in v:
        return json.dumps(_plain(v, key), ensure_ascii=False)
    return None  # an empty AnyValue, or one of a kind this version does not know


def _plain(v: Any, key: str) -> Any:
    """A nested ``AnyValue`` as JSON-ready Python, checked as it goes."""
    if "arrayValue" in v or "array_value" in v:
        arr = _field(v, "arrayValue", "array_value")
        if not isinstance(arr, dict):
            raise _BadSpan(f"attribute {key!r}: arrayValue is not an object")
        return [_plain(_checked(item, key), key) for item in _seq(arr.get("values") or [], "arrayValue.values")]
    if "kvlistValue" in v or "kvlist_value" in v:
        kvl = _field(v, "kvlistValue", "kvlist_value")
        if not isinstance(kvl, dict):
            raise _BadSpan(f"attribute {key!r}: kvlistValue is not an object")
        out = {}
        for kv in _seq(kvl.get("values") or [], "kvlistValue.values"):
            if not isinstance(kv, dict) or not isinstance(kv.get("key"), str):
                raise _BadSpan(f"attribute {key!r}: a kvlistValue entry has no string key")
            inner = kv.get("value")
            out[kv["key"]] = None if inner is None else _plain(_checked(inner, key), key)
        return out
    value = _any_value(v, key, nested=True)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def _checked(v: Any, key: str) -> dict[str, Any]:
    if not isinstance(v, dict):
        raise _BadSpan(f"attribute {key!r}: the value is not an AnyValue object")
    return v


# -- scalars ---------------------------------------------------------------------------
def _id(value: Any, size: int, what: str) -> int | None:
    """A hex id (or base64 of the exact length); None when absent, empty or all zeros."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise _BadSpan(f"{what} is not a string")
    if len(value) == 2 * size and _HEX.issuperset(value):
        return int(value, 16) or None
    if len(value) == 4 * ((size + 2) // 3):
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raw = b""
        if len(raw) == size:
            return int.from_bytes(raw, "big") or None
    raise _BadSpan(f"{what} is not {2 * size} hex digits")


def _uint64(value: Any, what: str) -> int:
    n = _integer(value, what)
    if not 0 <= n < _UINT64:
        raise _BadSpan(f"{what} is out of range")
    return n


def _int64(value: Any, what: str) -> int:
    n = _integer(value, what)
    if not -_INT64 <= n < _INT64:
        raise _BadSpan(f"{what} is out of range")
    return n


def _integer(value: Any, what: str) -> int:
    if value is None:
        return 0
    if type(value) is int:
        return value
    if isinstance(value, str):
        text = value.strip()
        if text.lstrip("-").isdigit() and text.isascii():
            return int(text)
    elif isinstance(value, float) and value.is_integer():
        return int(value)
    raise _BadSpan(f"{what} is not an integer")


def _double(value: Any, key: str) -> float:
    if type(value) in (int, float):
        return float(value)
    if value in ("NaN", "Infinity", "-Infinity"):
        return float(value)  # proto3 JSON's names for these, which float() reads
    raise _BadSpan(f"attribute {key!r}: doubleValue is not a number")


def _status_code(value: Any) -> int:
    if type(value) is int and 0 <= value <= 2:
        return value
    if isinstance(value, str) and value in _STATUS_NAMES:
        return _STATUS_NAMES[value]
    raise _BadSpan("status.code is not 0, 1 or 2")


# -- structure -------------------------------------------------------------------------
def _field(obj: dict[str, Any], camel: str, snake: str) -> Any:
    value = obj.get(camel)
    return obj.get(snake) if value is None else value


def _seq(value: Any, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise _BadSpan(f"{what} is not a list")
    return value


def _list(obj: dict[str, Any], camel: str, snake: str, where: str) -> list[Any]:
    """An envelope list: absent is empty; anything but a list is a malformed request."""
    value = _field(obj, camel, snake)
    if value is None:
        return []
    if not isinstance(value, list):
        raise OtlpDecodeError(f"{where + '.' if where else ''}{camel} is not a list")
    return value


def _object(value: Any, where: str) -> None:
    if not isinstance(value, dict):
        raise OtlpDecodeError(f"{where} is not a JSON object")


def _cause(e: BaseException) -> str:
    text = str(e).splitlines()[0] if str(e) else type(e).__name__
    return text[:200]
