"""The OTLP/HTTP trace endpoint: ``POST /v1/traces`` as a Starlette application.

Per request, in this order: the bearer token (when one is set; 401), the media type
(``application/x-protobuf`` or ``application/json``; 415), the body's size as sent and
after ``gzip``/``deflate`` decompression (413: a zip bomb is cut off at the limit, never
inflated whole), decoding (400 for a body that is not an ``ExportTraceServiceRequest``),
the number of spans (413 past ``max_spans``), then the spans go to the :class:`~studio_analytics.ingest.pipeline.SpanIngestor`. When its
writer's queue has no room, nothing is taken and the answer is 503 with ``Retry-After``,
which OTLP exporters honour: backpressure, never "accepted and then dropped". Every
answer is an OTLP message in the request's encoding; every outcome is counted.

Nothing here logs a header or a body: the token never appears in a log line.
"""

from __future__ import annotations

import hmac
import logging
import time
import zlib
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from studio_analytics.ingest.otlp_decode import (
    PROTOBUF,
    OtlpDecodeError,
    decode_request,
    media_type,
)
from studio_analytics.ingest.otlp_responses import export_response, status_body
from studio_analytics.ingest.receiver_settings import (
    TRACES_PATH,
    ReceiverCounters,
    ReceiverSettings,
)

_ENCODINGS = {"gzip": 31, "x-gzip": 31, "deflate": 15}  # zlib wbits: gzip / zlib framing
#: One warning per refusal status at most this often (a misconfigured exporter repeats itself).
COMPLAINT_INTERVAL_S = 10.0

log = logging.getLogger("studio_analytics.ingest")


class _Complaints:
    """Refused requests said in the log, per status at most once every
    ``COMPLAINT_INTERVAL_S``, with how many were not said; the client's address and the
    reason only, never a header or the body."""

    def __init__(self) -> None:
        self._last: dict[int, float] = {}
        self._quiet: dict[int, int] = {}

    def __call__(self, request: Request, status: int, message: str) -> None:
        now = time.monotonic()
        if now - self._last.get(status, -COMPLAINT_INTERVAL_S) < COMPLAINT_INTERVAL_S:
            self._quiet[status] = self._quiet.get(status, 0) + 1
            return
        self._last[status] = now
        quiet = self._quiet.pop(status, 0)
        client = f"{request.client.host}:{request.client.port}" if request.client else "a client"
        more = f" ({quiet} more like it not shown)" if quiet else ""
        log.warning("studio-analytics collect: answered %d to %s: %s%s", status, client, message, more)


class _TooLarge(Exception):
    pass


class _Undecodable(Exception):
    pass


def create_app(ingestor: Any, settings: ReceiverSettings | None = None,
               counters: ReceiverCounters | None = None) -> Starlette:
    """The application; ``ingestor`` is a :class:`SpanIngestor` (anything with its
    ``submit``)."""
    cfg = settings or ReceiverSettings()
    count = counters if counters is not None else ReceiverCounters()
    expected = f"Bearer {cfg.token}".encode() if cfg.token else None
    limit = max(1, int(cfg.max_body_bytes))
    retry_after = str(max(1, int(cfg.retry_after_s)))
    max_spans = max(1, int(cfg.max_spans))

    complain = _Complaints()

    def refuse(request: Request, kind: str, status: int, message: str, headers: dict[str, str] | None = None,
               **details: Any) -> Response:
        complain(request, status, message)
        return _failure(kind, status, message, headers, **details)

    async def export_traces(request: Request) -> Response:
        count.requests += 1
        headers = request.headers
        kind = media_type(headers.get("content-type"))
        reply_kind = kind or PROTOBUF
        if expected is not None and not _authorized(headers.get("authorization"), expected):
            count.unauthorized += 1
            return refuse(request, reply_kind, 401, "a valid bearer token is required (Authorization: Bearer ...)",
                          {"WWW-Authenticate": 'Bearer realm="otlp"'})
        if kind is None:
            count.unsupported += 1
            return refuse(request, reply_kind, 415, "Content-Type must be application/x-protobuf or application/json")
        coding = headers.get("content-encoding", "identity").strip().lower()
        if coding not in _ENCODINGS and coding not in ("identity", ""):
            count.unsupported += 1
            return refuse(request, kind, 415, "Content-Encoding must be gzip, deflate or identity")
        try:
            declared = headers.get("content-length")
            if declared is not None and declared.isdigit() and int(declared) > limit:
                raise _TooLarge
            body = await _read_limited(request, limit)
            if coding in _ENCODINGS:
                body = _inflate(body, _ENCODINGS[coding], limit)
            decoded = decode_request(body, kind)
        except _TooLarge:
            count.too_large += 1
            # Uvicorn reads and discards the rest of the body after this answer (for at
            # most its keep-alive timeout), so the client gets to read it.
            return refuse(request, kind, 413, f"the request body is larger than {limit:,} bytes "
                          "(compressed or not): send smaller batches")
        except (_Undecodable, OtlpDecodeError) as e:
            count.malformed += 1
            return refuse(request, kind, 400, str(e), bad_field="body")
        if len(decoded.spans) > max_spans:
            count.too_large += 1
            return refuse(request, kind, 413, f"the request carries {len(decoded.spans):,} spans, more than "
                          f"{max_spans:,} at once: send smaller batches")
        reasons = list(decoded.reasons)
        rejected = decoded.rejected
        if decoded.spans:
            result = ingestor.submit(decoded.spans)
            if result.busy:
                count.busy += 1
                return _failure(kind, 503, "the writer's queue is full: nothing was taken, retry later",
                                {"Retry-After": retry_after}, retry_after_s=int(retry_after))
            count.spans_accepted += result.accepted
            rejected += result.rejected
            reasons += result.reasons
        count.spans_rejected += rejected
        count.exported += 1
        body = export_response(kind, rejected, "; ".join(reasons) if rejected else "")
        return Response(body, 200, media_type=kind)

    async def not_found(request: Request, exc: Exception) -> Response:
        return _failure(PROTOBUF, 404, f"no such endpoint: traces are POSTed to {TRACES_PATH}")

    async def not_allowed(request: Request, exc: Exception) -> Response:
        return _failure(PROTOBUF, 405, f"{TRACES_PATH} takes POST only", {"Allow": "POST"})

    app = Starlette(routes=[Route(TRACES_PATH, export_traces, methods=["POST"])],
                    exception_handlers={404: not_found, 405: not_allowed})
    app.state.counters = count
    return app


def _authorized(header: str | None, expected: bytes) -> bool:
    # Headers arrive decoded as latin-1: encoding them back gives the bytes that were sent.
    given = (header or "").encode("latin-1", "replace")
    if given[:7].lower() == b"bearer ":
        given = b"Bearer " + given[7:]
    return hmac.compare_digest(given, expected)


async def _read_limited(request: Request, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _inflate(data: bytes, wbits: int, limit: int) -> bytes:
    """Decompress at most ``limit`` bytes; a stream that would inflate past it raises
    :class:`_TooLarge` having produced no more than ``limit + 1`` bytes."""
    out: list[bytes] = []
    size = 0
    rest = data
    try:
        while True:  # concatenated gzip members are one valid gzip stream
            d = zlib.decompressobj(wbits)
            chunk = d.decompress(rest, limit + 1 - size)
            size += len(chunk)
            if size > limit or d.unconsumed_tail:
                raise _TooLarge
            out.append(chunk)
            if not d.eof:
                raise _Undecodable("the compressed body is truncated")
            rest = d.unused_data
            if not rest or wbits != 31:
                break
    except zlib.error as e:
        raise _Undecodable(f"the body is not valid {'gzip' if wbits == 31 else 'deflate'} data ({e})") from None
    if rest and wbits != 31:
        raise _Undecodable("trailing bytes after the deflate stream")
    return b"".join(out)


def _failure(kind: str, http_status: int, message: str, headers: dict[str, str] | None = None, *,
             bad_field: str | None = None, retry_after_s: int | None = None) -> Response:
    body = status_body(kind, http_status, message, bad_field=bad_field, retry_after_s=retry_after_s)
    return Response(body, http_status, headers=headers, media_type=kind)
