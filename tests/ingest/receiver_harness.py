"""The receiver on a real socket for tests: a :class:`Collector` serving in a background
thread on an ephemeral 127.0.0.1 port, in front of a real :class:`SpanIngestor`, and a
plain HTTP/1.1 client (``http.client``) to talk to it."""

from __future__ import annotations

import contextlib
import http.client
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from studio_analytics.ingest.collector import Collector
from studio_analytics.ingest.pipeline import SpanIngestor
from studio_analytics.ingest.receiver_settings import TRACES_PATH

PROTOBUF = "application/x-protobuf"
JSON = "application/json"


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@contextlib.contextmanager
def running_collector(db_url: str, spool: Path, *, token: str | None = None, max_body_bytes: int | None = None,
                      max_spans: int | None = None, **tracker_options: Any) -> Iterator[Collector]:
    """A collector writing to ``db_url`` through its own ingestor (fast flush), stopped and
    flushed at the end."""
    options: dict[str, Any] = {"flush_interval_s": 0.05, "exit_timeout_s": 5.0, "spool_path": str(spool),
                               **tracker_options}
    ingestor = SpanIngestor(db_url=db_url, **options)
    extra: dict[str, Any] = {} if max_body_bytes is None else {"max_body_bytes": max_body_bytes}
    if max_spans is not None:
        extra["max_spans"] = max_spans
    collector = Collector(ingestor, host="127.0.0.1", port=0, token=token, **extra).start()
    try:
        yield collector
    finally:
        collector.stop()
        ingestor.shutdown(10.0)


def connect(collector: Collector, timeout: float = 30.0) -> http.client.HTTPConnection:
    return http.client.HTTPConnection("127.0.0.1", collector.port, timeout=timeout)


def post(collector: Collector | http.client.HTTPConnection, body: bytes, content_type: str | None = PROTOBUF,
         *, headers: dict[str, str] | None = None, path: str = TRACES_PATH, method: str = "POST") -> Reply:
    """One request; a Collector gets a fresh connection, a connection is reused (keep-alive)."""
    conn = connect(collector) if isinstance(collector, Collector) else collector
    sent = dict(headers or {})
    if content_type is not None:
        sent.setdefault("Content-Type", content_type)
    conn.request(method, path, body=body, headers=sent)
    resp = conn.getresponse()
    data = resp.read()
    reply = Reply(resp.status, {k.lower(): v for k, v in resp.getheaders()}, data)
    if isinstance(collector, Collector):
        conn.close()
    return reply


def export_response(reply: Reply) -> Any:
    """The ``ExportTraceServiceResponse`` of a 200 reply, decoded per its Content-Type."""
    from google.protobuf import json_format
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

    assert reply.status == 200, reply
    if reply.header("content-type") == JSON:
        return json_format.Parse(reply.body, ExportTraceServiceResponse())
    assert reply.header("content-type") == PROTOBUF
    return ExportTraceServiceResponse.FromString(reply.body)


def status_message(reply: Reply) -> Any:
    """The ``google.rpc.Status`` of a 4xx/5xx reply."""
    from google.protobuf import json_format
    from google.rpc import error_details_pb2, status_pb2  # noqa: F401 - registers the detail types

    if reply.header("content-type") == JSON:
        return json_format.Parse(reply.body, status_pb2.Status())
    return status_pb2.Status.FromString(reply.body)
