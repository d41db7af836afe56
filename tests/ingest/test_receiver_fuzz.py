"""Fuzzing the receiver over a real socket: hypothesis-made bodies and headers (random bytes,
real requests garbled or truncated, compressed or not, odd media types and encodings) and
raw bytes that are not HTTP. The server answers each with an OTLP status it documents,
never a 5xx other than 503, and keeps serving."""

from __future__ import annotations

import gzip
import random
import socket
import string
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from studio_analytics.ingest.collector import Collector
from studio_analytics.ingest.receiver_settings import ReceiverCounters
from tests.ingest.otlp_bodies import agent_trace, spans_body
from tests.ingest.receiver_harness import connect, post, running_collector

EXPECTED = {200, 400, 413, 415}
VALID_PB = spans_body(agent_trace(random.Random(1), tools=3) + agent_trace(random.Random(2), tools=1))
VALID_JSON = spans_body(agent_trace(random.Random(3), tools=2), kind="json")


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Collector]:
    from studio_analytics.db.engine import create_db_engine
    from studio_analytics.db.migrate import upgrade_database

    work: Path = tmp_path_factory.mktemp("fuzz")
    url = f"sqlite:///{work / 'fuzz.sqlite3'}"
    engine = create_db_engine(url)
    upgrade_database(engine)
    engine.dispose()
    with running_collector(url, work / "spool.sqlite3", max_body_bytes=512 * 1024) as c:
        yield c


def _garble(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 10)):
        choice = rng.random()
        if choice < 0.5 and out:
            out[rng.randrange(len(out))] = rng.randrange(256)
        elif choice < 0.7 and out:
            del out[rng.randrange(len(out)):]
        elif choice < 0.9:
            out[rng.randrange(len(out) + 1):0] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        else:
            out += out[: rng.randint(0, len(out))]
    return bytes(out)


@st.composite
def bodies(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["random", "pb", "json", "pb-garbled", "json-garbled", "empty"]))
    rng = random.Random(draw(st.integers(0, 2**32)))
    if kind == "random":
        return draw(st.binary(max_size=4096))
    if kind == "empty":
        return b""
    base = VALID_PB if kind.startswith("pb") else VALID_JSON
    return _garble(base, rng) if kind.endswith("garbled") else base


header_names = st.text(alphabet=string.ascii_letters + string.digits + "-", min_size=1, max_size=20).filter(
    lambda n: n.lower() not in {"content-length", "transfer-encoding", "host", "connection", "expect"})
header_values = st.text(alphabet=string.ascii_letters + string.digits + " -_=;,/.:+", max_size=60).map(str.strip)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(
    body=bodies(),
    content_type=st.sampled_from([
        "application/x-protobuf", "application/json", "application/json; charset=utf-8", "APPLICATION/X-PROTOBUF",
        "text/plain", "", "application/octet-stream"]) | header_values,
    encoding=st.sampled_from([None, "gzip", "deflate", "identity", "br", "GZIP"]) | header_values,
    compress=st.sampled_from([None, "gzip", "deflate", "gzip-truncated"]),
    extra=st.dictionaries(header_names, header_values, max_size=4),
)
def test_fuzz_bodies_and_headers(collector: Collector, body: bytes, content_type: str, encoding: str | None,
                                 compress: str | None, extra: dict[str, str]) -> None:
    if compress == "gzip":
        body = gzip.compress(body)
    elif compress == "deflate":
        body = zlib.compress(body)
    elif compress == "gzip-truncated":
        body = gzip.compress(body)[:-5]
    headers = dict(extra)
    if encoding is not None:
        headers["Content-Encoding"] = encoding
    before = ReceiverCounters(**collector.counters.as_dict())
    reply = post(collector, body, content_type or None, headers=headers)
    assert reply.status in EXPECTED, (reply.status, reply.body[:200])
    assert reply.header("content-type") in ("application/x-protobuf", "application/json")
    after = collector.counters
    assert after.requests == before.requests + 1
    field = {200: "exported", 400: "malformed", 413: "too_large", 415: "unsupported"}[reply.status]
    assert getattr(after, field) == getattr(before, field) + 1


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(st.one_of(
    st.binary(max_size=2048),
    st.builds(lambda line, rest: line + b"\r\n" + rest, st.sampled_from([
        b"POST /v1/traces HTTP/1.1", b"POST /v1/traces HTTP/1.0", b"GET / HTTP/1.1", b"POST /v1/traces HTTP/9.9",
        b"POST /v1/traces", b"\x00\x01\x02"]), st.binary(max_size=1024)),
))
def test_fuzz_bytes_that_are_not_http(collector: Collector, raw: bytes) -> None:
    with socket.create_connection(("127.0.0.1", collector.port), timeout=10) as sock:
        try:
            sock.sendall(raw)
            sock.shutdown(socket.SHUT_WR)
            while sock.recv(65536):
                pass
        except (ConnectionResetError, BrokenPipeError):
            pass  # closing on garbage is a fine answer
    assert post(collector, VALID_PB).status == 200  # and the server is still there


def test_a_real_request_after_the_fuzzing(collector: Collector) -> None:
    conn = connect(collector)
    assert post(conn, VALID_PB).status == 200
    assert post(conn, VALID_JSON, "application/json").status == 200
    conn.close()
    assert collector.ingestor.flush(30)
    assert collector.ingestor.stats().writer.dropped == 0
