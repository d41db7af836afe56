"""IngestSpan: one finished OpenTelemetry span, whatever it came from (the in-process
exporter's ``ReadableSpan``, an OTLP protobuf or JSON body), in plain Python values."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

#: OpenTelemetry status codes (``opentelemetry.trace.StatusCode`` and OTLP's ``Status.code``)
STATUS_UNSET, STATUS_OK, STATUS_ERROR = 0, 1, 2


@dataclass(frozen=True, slots=True)
class IngestEvent:
    name: str
    time_ns: int
    attributes: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class IngestSpan:
    """Attribute values are str, bool, int, float, or tuples of those (OTel arrays);
    ids are integers (trace 128-bit, span 64-bit); times are POSIX nanoseconds."""

    trace_id: int
    span_id: int
    parent_span_id: int | None
    name: str
    start_ns: int
    end_ns: int
    status_code: int = STATUS_UNSET
    status_message: str | None = None
    attributes: Mapping[str, Any] = field(default_factory=dict)
    events: tuple[IngestEvent, ...] = ()
    resource: Mapping[str, Any] = field(default_factory=dict)
    scope: str | None = None
