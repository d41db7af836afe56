"""The OTLP/HTTP endpoint, request by request over a real socket: answers in the request's
encoding, partial success, gzip/deflate, the size limit before and after decompression,
malformed bodies, media types, authentication, and 503 + Retry-After with nothing taken
when the writer's queue has no room."""

from __future__ import annotations

import gzip
import http.client
import json
import random
import socket
import time
import zlib
from pathlib import Path

import pytest

from studio_analytics.ingest.collector import Collector, CollectorConfigError
from studio_analytics.ingest.pipeline import SpanIngestor
from tests.ingest.otlp_bodies import (
    SPEC_EXAMPLE_JSON,
    ResourceSpec,
    SpanSpec,
    agent_trace,
    json_document,
    protobuf_request,
    spans_body,
)
from tests.ingest.receiver_harness import (
    JSON,
    PROTOBUF,
    connect,
    export_response,
    post,
    running_collector,
    status_message,
)
from tests.tracker.conftest import raw


@pytest.fixture
def spool(tmp_path: Path) -> Path:
    return tmp_path / "spool.sqlite3"


def _counts(url: str) -> tuple[int, int, int]:
    (row,) = raw(url, "SELECT (SELECT count(*) FROM agent_execution_metrics), (SELECT count(*) FROM "
                      "tool_usage_metrics), (SELECT count(*) FROM model_call_metrics)")
    return tuple(int(n) for n in row)  # type: ignore[return-value]


@pytest.mark.parametrize("kind", [PROTOBUF, JSON])
def test_spans_are_stored_and_the_answer_is_in_the_request_encoding(kind: str, db_url: str, spool: Path) -> None:
    spans = agent_trace(random.Random(1), tools=2) + agent_trace(random.Random(2), tools=1)
    with running_collector(db_url, spool) as collector:
        reply = post(collector, spans_body(spans, kind="protobuf" if kind == PROTOBUF else "json"), kind)
        assert reply.status == 200 and reply.header("content-type") == kind
        response = export_response(reply)
        assert not response.HasField("partial_success")  # full success leaves it unset
        assert collector.ingestor.flush(10)
        assert collector.counters.spans_accepted == 7
    assert _counts(db_url) == (2, 3, 2)


def test_the_specification_example_is_accepted(sqlite_db_url: str, spool: Path) -> None:
    with running_collector(sqlite_db_url, spool) as collector:
        reply = post(collector, SPEC_EXAMPLE_JSON.encode(), JSON)
        assert reply.status == 200 and json.loads(reply.body) == {}
        assert collector.counters.spans_accepted == 1


@pytest.mark.parametrize("kind", [PROTOBUF, JSON])
def test_partial_success_counts_and_names_the_rejected_spans(kind: str, sqlite_db_url: str, spool: Path) -> None:
    good = agent_trace(random.Random(3), tools=1)
    resources = [ResourceSpec({"service.name": "x"}, None, good + [SpanSpec(9, 10, start_ns=0)])]
    if kind == PROTOBUF:
        request = protobuf_request(resources)
        broken = request.resource_spans[0].scope_spans[0].spans.add()
        broken.trace_id, broken.span_id = b"\x01" * 3, b"\x02" * 8
        broken.start_time_unix_nano = broken.end_time_unix_nano = 5
        body = request.SerializeToString()
    else:
        doc = json_document(resources)
        doc["resourceSpans"][0]["scopeSpans"][0]["spans"].append({"traceId": "nothex", "spanId": "0102030405060708"})
        body = json.dumps(doc).encode()
    with running_collector(sqlite_db_url, spool) as collector:
        reply = post(collector, body, kind)
        response = export_response(reply)
        assert response.partial_success.rejected_spans == 2
        message = response.partial_success.error_message
        assert "traceId" in message and "startTimeUnixNano" in message
        if kind == JSON:  # int64 travels as a string in OTLP/JSON
            assert json.loads(reply.body)["partialSuccess"]["rejectedSpans"] == "2"
        assert collector.ingestor.flush(10)
        assert collector.counters.spans_accepted == 3 and collector.counters.spans_rejected == 2
    assert _counts(sqlite_db_url)[:2] == (1, 1)


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_compressed_bodies(encoding: str, sqlite_db_url: str, spool: Path) -> None:
    body = spans_body(agent_trace(random.Random(4), tools=3))
    packed = gzip.compress(body) if encoding == "gzip" else zlib.compress(body)
    with running_collector(sqlite_db_url, spool) as collector:
        reply = post(collector, packed, PROTOBUF, headers={"Content-Encoding": encoding})
        assert reply.status == 200
        # two gzip members back to back are one valid gzip body
        if encoding == "gzip":
            half = spans_body(agent_trace(random.Random(5), tools=0))
            assert post(collector, gzip.compress(half) + gzip.compress(spans_body(agent_trace(random.Random(6), tools=0))),
                        PROTOBUF, headers={"Content-Encoding": "gzip"}).status == 200
        assert collector.ingestor.flush(10)
    assert _counts(sqlite_db_url)[1] == 3


def test_size_limit_before_and_after_decompression(sqlite_db_url: str, spool: Path) -> None:
    limit = 256 * 1024
    with running_collector(sqlite_db_url, spool, max_body_bytes=limit) as collector:
        # declared too large: refused before a byte of the body is read
        conn = connect(collector)
        conn.putrequest("POST", "/v1/traces")
        conn.putheader("Content-Type", PROTOBUF)
        conn.putheader("Content-Length", str(limit + 1))
        conn.endheaders()
        resp = conn.getresponse()
        assert resp.status == 413 and "larger than" in status_message_from(resp).message
        conn.close()
        # sent in chunks with no length: cut off once past the limit
        conn = connect(collector)
        conn.request("POST", "/v1/traces", body=iter([b"\0" * 65536] * 8), headers={"Content-Type": PROTOBUF},
                     encode_chunked=True)
        assert conn.getresponse().status == 413
        conn.close()
        # a zip bomb: 64 KiB of gzip that would inflate to 64 MiB
        bomb = _gzip_of_zeros(64 * 2**20)
        assert len(bomb) < limit
        started = time.monotonic()
        reply = post(collector, bomb, PROTOBUF, headers={"Content-Encoding": "gzip"})
        assert reply.status == 413 and time.monotonic() - started < 5
        # just under the limit, compressed or not, is fine
        rng = random.Random(11)
        spans: list[SpanSpec] = []
        while len(spans_body(spans)) < limit - 4096:
            spans += agent_trace(rng, tools=3)
        body = spans_body(spans)
        assert limit - 4096 <= len(body) <= limit
        assert post(collector, body, PROTOBUF).status == 200
        assert post(collector, gzip.compress(body), PROTOBUF, headers={"Content-Encoding": "gzip"}).status == 200
        assert collector.counters.too_large == 3
        # the server is still there
        assert post(collector, spans_body(agent_trace(random.Random(7))), PROTOBUF).status == 200


def status_message_from(resp: http.client.HTTPResponse):  # type: ignore[no-untyped-def]
    from tests.ingest.receiver_harness import Reply

    return status_message(Reply(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()))


def _gzip_of_zeros(size: int) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = b"\0" * 2**20
    return b"".join(packer.compress(block) for _ in range(size // len(block))) + packer.flush()


@pytest.mark.parametrize("body, kind, headers, fragment", [
    (b"\x0a\xff\xff\xff\xff\x0fgarbage", PROTOBUF, {}, "not an OTLP ExportTraceServiceRequest"),
    (b"{not json", JSON, {}, "not JSON"),
    (b'{"resourceSpans": 7}', JSON, {}, "resourceSpans is not a list"),
    (b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03" + b"\xff" * 20, PROTOBUF, {"Content-Encoding": "gzip"}, "not valid gzip"),
    (gzip.compress(b"x" * 100, mtime=0)[:-12], PROTOBUF, {"Content-Encoding": "gzip"}, "truncated"),
])
def test_malformed_bodies_get_400_and_are_counted(body: bytes, kind: str, headers: dict[str, str], fragment: str,
                                                   sqlite_db_url: str, spool: Path) -> None:
    with running_collector(sqlite_db_url, spool) as collector:
        reply = post(collector, body, kind, headers=headers)
        assert reply.status == 400 and reply.header("content-type") == kind
        status = status_message(reply)
        assert fragment in status.message
        assert status.details[0].type_url.endswith("google.rpc.BadRequest")
        assert collector.counters.malformed == 1


def test_refusals_are_logged_once_per_interval_without_the_body(sqlite_db_url: str, spool: Path,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    with running_collector(sqlite_db_url, spool) as collector, caplog.at_level("WARNING", "studio_analytics.ingest"):
        for _ in range(3):
            assert post(collector, b'{"resourceSpans": "SECRET-BODY"}', JSON).status == 400
        assert post(collector, b"{}", "text/plain").status == 415
    lines = [r.getMessage() for r in caplog.records if r.name == "studio_analytics.ingest"]
    assert len(lines) == 2, lines
    assert lines[0].startswith("studio-analytics collect: answered 400 to 127.0.0.1:")
    assert "resourceSpans is not a list" in lines[0] and "SECRET-BODY" not in " ".join(lines)
    assert "answered 415" in lines[1]


def test_media_types_methods_and_paths(sqlite_db_url: str, spool: Path) -> None:
    with running_collector(sqlite_db_url, spool) as collector:
        assert post(collector, b"{}", "text/plain").status == 415
        assert post(collector, b"{}", None).status == 415
        assert post(collector, b"{}", JSON, headers={"Content-Encoding": "br"}).status == 415
        assert post(collector, b"{}", "application/json; charset=utf-8").status == 200
        assert post(collector, b"", PROTOBUF, path="/v1/metrics").status == 404
        reply = post(collector, b"", None, method="GET")
        assert reply.status == 405 and reply.header("allow") == "POST"
        assert collector.counters.unsupported == 3


def test_bearer_token(sqlite_db_url: str, spool: Path) -> None:
    token = "s3cr3t-token-value"
    body = spans_body(agent_trace(random.Random(8)))
    with running_collector(sqlite_db_url, spool, token=token) as collector:
        assert post(collector, body).status == 401
        reply = post(collector, body, headers={"Authorization": "Bearer wrong"})
        assert reply.status == 401 and reply.header("www-authenticate") is not None
        assert post(collector, body, headers={"Authorization": token}).status == 401  # no scheme
        assert post(collector, body, headers={"Authorization": f"Bearer {token}x"}).status == 401
        assert post(collector, body, headers={"Authorization": f"Bearer {token}"}).status == 200
        assert post(collector, body, headers={"Authorization": f"bearer {token}"}).status == 200
        assert collector.counters.unauthorized == 4 and collector.counters.spans_accepted == 8
        assert token not in repr(collector.counters)


def test_listening_beyond_loopback_needs_a_token(sqlite_db_url: str) -> None:
    ingestor = SpanIngestor(db_url=sqlite_db_url)
    try:
        for host in ("0.0.0.0", "::", "192.0.2.10", "example.org"):
            with pytest.raises(CollectorConfigError, match="without a token"):
                Collector(ingestor, host=host, port=0)
        with pytest.raises(CollectorConfigError, match="printable"):
            Collector(ingestor, host="127.0.0.1", port=0, token="has space")
    finally:
        ingestor.shutdown(2)


def test_a_full_queue_answers_503_with_retry_after_and_takes_nothing(sqlite_db_url: str, spool: Path) -> None:
    """A request with more spans than the queue can ever hold is refused whole, every time."""
    spans = [s for i in range(10) for s in agent_trace(random.Random(100 + i), tools=3)]  # 50 spans
    with running_collector(sqlite_db_url, spool, max_queue=20) as collector:
        for kind in (PROTOBUF, JSON):
            reply = post(collector, spans_body(spans, kind="protobuf" if kind == PROTOBUF else "json"), kind)
            assert reply.status == 503 and reply.header("retry-after") == "1"
            status = status_message(reply)
            assert status.details[0].type_url.endswith("google.rpc.RetryInfo")
        assert collector.counters.busy == 2 and collector.counters.spans_accepted == 0
        stats = collector.ingestor.stats()
        assert stats.accepted == 0 and stats.busy_refusals == 2
        assert collector.ingestor.flush(5)
    assert _counts(sqlite_db_url) == (0, 0, 0)


def test_too_many_spans_in_one_request_is_413_not_busy_forever(sqlite_db_url: str, spool: Path) -> None:
    spans = [s for i in range(4) for s in agent_trace(random.Random(300 + i), tools=2)]  # 16 spans
    with running_collector(sqlite_db_url, spool, max_spans=10) as collector:
        reply = post(collector, spans_body(spans))
        assert reply.status == 413 and "16 spans, more than 10" in status_message(reply).message
        assert post(collector, spans_body(spans[:8])).status == 200
        assert collector.counters.too_large == 1 and collector.counters.spans_accepted == 8


def test_keep_alive_connection_carries_many_requests(sqlite_db_url: str, spool: Path) -> None:
    with running_collector(sqlite_db_url, spool) as collector:
        conn = connect(collector)
        assert post(conn, spans_body(agent_trace(random.Random(200), tools=0))).status == 200
        first = conn.sock
        for i in range(1, 20):
            assert post(conn, spans_body(agent_trace(random.Random(200 + i), tools=0))).status == 200
        assert isinstance(first, socket.socket) and conn.sock is first  # one connection throughout
        conn.close()
        assert collector.ingestor.flush(10)
    assert _counts(sqlite_db_url)[0] == 20
