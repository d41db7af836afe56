"""The receiver's settings and counters, apart from the server so that reading them (the
command line, the collector's exit line) imports no Starlette."""

from __future__ import annotations

from dataclasses import dataclass, fields

TRACES_PATH = "/v1/traces"
#: The OTLP specification's recommended limit, before and after decompression.
DEFAULT_MAX_BODY_BYTES = 20 * 1024 * 1024
DEFAULT_RETRY_AFTER_S = 1
#: Spans one request may carry: a request the writer's queue (100,000 by default) could never
#: take whole would be refused as busy forever; it is refused as too large instead.
DEFAULT_MAX_SPANS = 50_000


@dataclass(frozen=True)
class ReceiverSettings:
    token: str | None = None  # bearer token every request must carry; None: no check
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    retry_after_s: int = DEFAULT_RETRY_AFTER_S
    max_spans: int = DEFAULT_MAX_SPANS


@dataclass
class ReceiverCounters:
    """What the endpoint did, request by request (read by the collector's exit line and
    by tests). Updated on the event loop's thread only."""

    requests: int = 0
    exported: int = 0  # requests answered 200
    spans_accepted: int = 0
    spans_rejected: int = 0  # left out by the decoder or refused by the pipeline
    malformed: int = 0  # 400: not an ExportTraceServiceRequest, or a broken compressed stream
    too_large: int = 0  # 413: too many bytes (compressed or not) or too many spans
    busy: int = 0  # 503: the writer's queue had no room; nothing taken
    unauthorized: int = 0  # 401
    unsupported: int = 0  # 415: media type or content encoding

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}
