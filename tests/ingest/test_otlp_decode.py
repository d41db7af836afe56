"""Decoding OTLP trace requests: the specification's JSON example, protobuf and JSON giving
the same spans, spans the SDK's own encoder made, lenient reading where it cannot be
misread, rejected spans with reasons, and garbage that only ever raises OtlpDecodeError."""

from __future__ import annotations

import base64
import gzip
import json
import math
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from studio_analytics.ingest.otlp_decode import (
    JSON,
    PROTOBUF,
    DecodedRequest,
    OtlpDecodeError,
    decode_request,
    media_type,
)
from studio_analytics.ingest.otlp_json import decode_json
from studio_analytics.ingest.otlp_protobuf import decode_protobuf
from studio_analytics.ingest.spans import IngestSpan
from tests.ingest.otlp_bodies import (
    SPEC_EXAMPLE_JSON,
    ResourceSpec,
    SpanSpec,
    agent_trace,
    json_body,
    json_document,
    protobuf_body,
)


def test_the_specification_example_body() -> None:
    decoded = decode_json(SPEC_EXAMPLE_JSON.encode())
    assert decoded.rejected == 0
    (span,) = decoded.spans
    assert span.trace_id == 0x5B8EFFF798038103D269B633813FC60C
    assert span.span_id == 0xEEE19B7EC3C1B174
    assert span.parent_span_id == 0xEEE19B7EC3C1B173
    assert span.name == "I'm a server span"
    assert (span.start_ns, span.end_ns) == (1544712660000000000, 1544712661000000000)
    assert span.attributes == {"my.span.attr": "some value"}
    assert span.resource == {"service.name": "my.service"}
    assert span.scope == "my.library"


def test_media_types() -> None:
    assert media_type("application/x-protobuf") == PROTOBUF
    assert media_type("Application/JSON; charset=utf-8") == JSON
    assert media_type("text/plain") is None
    assert media_type(None) is None and media_type("") is None


ALL_KINDS = {
    "s": "text é 漢", "b": True, "i": -(2**63), "big": 2**63 - 1, "f": 1.5,
    "arr": ("a", "b"), "ints": (1, 2, 3), "nested": ("x", ("y", 2)), "kv": {"k": "v", "n": 2},
    "raw": b"\x00\xffbytes",
}


def _resources() -> list[ResourceSpec]:
    rng = random.Random(7)
    spans = agent_trace(rng, tools=2)
    spans[0].attributes.update(ALL_KINDS)
    spans[0].status_code, spans[0].status_message = 2, "boom"
    spans[0].events.append(("exception", spans[0].start_ns + 5, {"exception.type": "ValueError",
                                                                 "exception.message": "bad"}))
    other = agent_trace(rng, tools=0, agent="Second")
    return [ResourceSpec({"service.name": "a", "host.cores": 2}, "lib.a", spans),
            ResourceSpec({"service.name": "b"}, None, other)]


def test_protobuf_and_json_give_the_same_spans() -> None:
    resources = _resources()
    from_pb = decode_protobuf(protobuf_body(resources))
    from_json_strings = decode_json(json_body(resources, int64_as="string"))
    from_json_numbers = decode_json(json_body(resources, int64_as="number"))
    assert from_pb.rejected == from_json_strings.rejected == 0
    assert len(from_pb.spans) == 6
    assert from_pb.spans == from_json_strings.spans == from_json_numbers.spans
    first = from_pb.spans[0]
    assert first.attributes["s"] == "text é 漢" and first.attributes["b"] is True
    assert first.attributes["i"] == -(2**63) and first.attributes["big"] == 2**63 - 1
    assert first.attributes["arr"] == ("a", "b") and first.attributes["ints"] == (1, 2, 3)
    assert first.attributes["nested"] == ("x", '["y", 2]')  # arrays hold scalars: nested as JSON text
    assert json.loads(first.attributes["kv"]) == {"k": "v", "n": 2}
    assert base64.b64decode(first.attributes["raw"]) == b"\x00\xffbytes"
    assert (first.status_code, first.status_message) == (2, "boom")
    assert first.events[0].name == "exception" and first.events[0].attributes["exception.type"] == "ValueError"
    assert first.resource == {"service.name": "a", "host.cores": 2} and first.scope == "lib.a"
    assert from_pb.spans[-1].resource == {"service.name": "b"} and from_pb.spans[-1].scope is None
    assert first.parent_span_id is None and from_pb.spans[1].parent_span_id == first.span_id


def test_spans_encoded_by_the_sdk_exporter_decode() -> None:
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import Status, StatusCode

    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "sdk-test"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("my.instrumentation")
    with tracer.start_as_current_span("invoke_agent Planner", attributes={"gen_ai.operation.name": "invoke_agent"}):
        with tracer.start_as_current_span("chat m", attributes={"gen_ai.usage.input_tokens": 5,
                                                                "tags": ["a", "b"], "ratio": 0.25}) as child:
            child.add_event("first_token", {"n": 1})
            child.set_status(Status(StatusCode.ERROR, "rate limited"))
    provider.shutdown()
    finished = memory.get_finished_spans()
    decoded = decode_protobuf(encode_spans(finished).SerializeToString())
    assert decoded.rejected == 0
    by_name = {s.name: s for s in decoded.spans}
    root, chat = by_name["invoke_agent Planner"], by_name["chat m"]
    sdk_chat = next(s for s in finished if s.name == "chat m")
    assert chat.trace_id == sdk_chat.context.trace_id and chat.span_id == sdk_chat.context.span_id
    assert chat.parent_span_id == root.span_id and root.parent_span_id is None
    assert (chat.start_ns, chat.end_ns) == (sdk_chat.start_time, sdk_chat.end_time)
    assert chat.attributes == {"gen_ai.usage.input_tokens": 5, "tags": ("a", "b"), "ratio": 0.25}
    assert (chat.status_code, chat.status_message) == (2, "rate limited")
    assert chat.events[0].name == "first_token" and chat.events[0].attributes == {"n": 1}
    assert chat.resource["service.name"] == "sdk-test" and chat.scope == "my.instrumentation"


def test_json_read_leniently_where_it_cannot_be_misread() -> None:
    doc = {"resource_spans": [{"scope_spans": [{"spans": [{
        "trace_id": base64.b64encode((0xABC).to_bytes(16, "big")).decode(),  # 24 chars: base64
        "span_id": base64.b64encode((0xDEF).to_bytes(8, "big")).decode(),  # 12 chars: base64
        "parent_span_id": "",
        "start_time_unix_nano": "10", "end_time_unix_nano": 20.0,
        "status": {"code": "STATUS_CODE_ERROR"},
        "attributes": [{"key": "n", "value": {"int_value": "42"}}, {"key": "d", "value": {"doubleValue": "NaN"}},
                       {"key": "empty", "value": {}}, {"key": "future", "value": {"someNewValue": 1}}],
        "unknownField": {"ignored": True},
    }]}]}]}
    (span,) = decode_json(json.dumps(doc).encode()).spans
    assert (span.trace_id, span.span_id, span.parent_span_id) == (0xABC, 0xDEF, None)
    assert (span.start_ns, span.end_ns, span.status_code) == (10, 20, 2)
    assert span.attributes["n"] == 42 and math.isnan(span.attributes["d"])
    assert "empty" not in span.attributes and "future" not in span.attributes


def test_hex_ids_are_never_read_as_base64() -> None:
    """32 hex digits are also valid base64 (24 bytes): a protobuf JSON parser would take them."""
    doc = json_document([ResourceSpec({}, None, [SpanSpec(0x0123456789ABCDEF0123456789ABCDEF, 0x1111)])])
    (span,) = decode_json(json.dumps(doc).encode()).spans
    assert span.trace_id == 0x0123456789ABCDEF0123456789ABCDEF


@pytest.mark.parametrize("kind", ["protobuf", "json"])
def test_unrepresentable_spans_are_rejected_with_reasons(kind: str) -> None:
    good = SpanSpec(1, 2)
    specs = [good, SpanSpec(1, 3, start_ns=0), SpanSpec(1, 4, end_ns=0), SpanSpec(5, 6, 7, name="fine")]
    resources = [ResourceSpec({}, None, specs)]
    if kind == "protobuf":
        from tests.ingest.otlp_bodies import protobuf_request

        request = protobuf_request(resources)
        bad = request.resource_spans[0].scope_spans[0].spans.add()
        bad.CopyFrom(request.resource_spans[0].scope_spans[0].spans[0])
        bad.trace_id = b"\x01" * 15  # 15 bytes
        zero = request.resource_spans[0].scope_spans[0].spans.add()
        zero.CopyFrom(bad)
        zero.trace_id, zero.span_id = b"\x01" * 16, bytes(8)
        decoded = decode_protobuf(request.SerializeToString())
    else:
        doc = json_document(resources)
        spans = doc["resourceSpans"][0]["scopeSpans"][0]["spans"]
        spans.append({**spans[0], "traceId": "xyz"})
        spans.append({**spans[0], "spanId": "0000000000000000"})
        decoded = decode_json(json.dumps(doc).encode())
    assert [s.span_id for s in decoded.spans] == [2, 6]
    assert decoded.rejected == 4
    text = " ".join(decoded.reasons)
    assert "(2 spans)" in text and "EndTimeUnixNano".lower() in text.lower()
    assert ("traceId" in text) and ("spanId" in text)


@pytest.mark.parametrize("body", [
    b"", b"{}", b'{"resourceSpans": []}', b'{"resourceSpans": [{"scopeSpans": []}]}',
])
def test_empty_requests_decode_to_nothing(body: bytes) -> None:
    assert decode_json(body or b"{}") == DecodedRequest([], 0, ())
    if body == b"":
        assert decode_protobuf(body) == DecodedRequest([], 0, ())


@pytest.mark.parametrize("body, fragment", [
    (b"not json", "not JSON"),
    (b"[1, 2]", "not a JSON object"),
    (b'{"resourceSpans": {}}', "resourceSpans is not a list"),
    (b'{"resourceSpans": [{"scopeSpans": 3}]}', "scopeSpans is not a list"),
    (b'{"resourceSpans": [{"scopeSpans": [{"spans": "x"}]}]}', "spans is not a list"),
    (b'{"resourceSpans": [{"resource": {"attributes": 5}}]}', "resource"),
    (b"\xff\xfe\x00garbage", "not JSON"),
    (b"[" * 100_000, "not JSON"),
])
def test_malformed_json_envelopes(body: bytes, fragment: str) -> None:
    with pytest.raises(OtlpDecodeError, match=fragment):
        decode_json(body)


def test_span_level_json_errors_reject_only_that_span() -> None:
    doc = json_document([ResourceSpec({}, None, [SpanSpec(1, 2), SpanSpec(1, 3), SpanSpec(1, 4), SpanSpec(1, 5)])])
    spans = doc["resourceSpans"][0]["scopeSpans"][0]["spans"]
    spans[1]["attributes"] = [{"key": "x", "value": {"intValue": "12.5"}}]
    spans[2]["status"] = {"code": 9}
    spans[3]["name"] = 12
    spans.append("not a span")
    decoded = decode_json(json.dumps(doc).encode())
    assert [s.span_id for s in decoded.spans] == [2]
    assert decoded.rejected == 4


def test_real_protobuf_truncated_or_garbled_never_raises_anything_else() -> None:
    body = protobuf_body(_resources())
    rng = random.Random(3)
    outcomes = {"decoded": 0, "error": 0}
    for cut in range(0, len(body), 7):
        _decode_or_error(body[:cut], PROTOBUF, outcomes)
    for _ in range(500):
        garbled = bytearray(body)
        for _ in range(rng.randint(1, 8)):
            garbled[rng.randrange(len(garbled))] = rng.randrange(256)
        _decode_or_error(bytes(garbled), PROTOBUF, outcomes)
    assert outcomes["error"] > 0 and outcomes["decoded"] > 0


def test_compressed_bytes_are_not_a_request() -> None:
    with pytest.raises(OtlpDecodeError):
        decode_protobuf(gzip.compress(protobuf_body(_resources())))


def _decode_or_error(body: bytes, kind: str, outcomes: dict[str, int] | None = None) -> None:
    try:
        decoded = decode_request(body, kind)
    except OtlpDecodeError:
        if outcomes is not None:
            outcomes["error"] += 1
        return
    assert isinstance(decoded, DecodedRequest)
    assert all(type(s) is IngestSpan for s in decoded.spans)
    if outcomes is not None:
        outcomes["decoded"] += 1


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2_000))
def test_fuzz_arbitrary_bytes(body: bytes) -> None:
    _decode_or_error(body, PROTOBUF)
    _decode_or_error(body, JSON)


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=30,
)
_FIELDS = ["resourceSpans", "scopeSpans", "spans", "traceId", "spanId", "parentSpanId", "startTimeUnixNano",
           "endTimeUnixNano", "attributes", "events", "status", "code", "key", "value", "stringValue",
           "intValue", "doubleValue", "arrayValue", "kvlistValue", "values", "bytesValue", "resource", "scope"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_fuzz_valid_json_with_one_field_replaced(data: st.DataObject) -> None:
    """Real structure, one value anywhere in it swapped for arbitrary JSON."""
    doc = json_document(_resources())
    node: object = doc
    for _ in range(data.draw(st.integers(1, 12))):
        if isinstance(node, dict) and node:
            key = data.draw(st.sampled_from(sorted(node)))
            if not isinstance(node[key], (dict, list)) or data.draw(st.booleans()):
                node[key] = data.draw(_json_values)
                break
            node = node[key]
        elif isinstance(node, list) and node:
            node = node[data.draw(st.integers(0, len(node) - 1))]
        else:
            break
    _decode_or_error(json.dumps(doc).encode(), JSON)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.recursive(
    st.dictionaries(st.sampled_from(_FIELDS), _json_values, max_size=5),
    lambda children: st.dictionaries(st.sampled_from(_FIELDS), children | st.lists(children, max_size=3), max_size=5),
    max_leaves=40,
))
def test_fuzz_json_made_of_otlp_field_names(doc: dict) -> None:
    _decode_or_error(json.dumps(doc).encode(), JSON)


def test_the_fast_span_constructor_makes_the_same_frozen_span() -> None:
    from dataclasses import FrozenInstanceError, fields

    from studio_analytics.ingest.otlp_decode import new_span

    values = (1, 2, 3, "n", 4, 5, 2, "m", {"a": 1}, (), {"service.name": "s"}, "scope")
    assert len(values) == len(fields(IngestSpan))  # a new field must be added to new_span too
    fast, plain = new_span(*values), IngestSpan(*values)
    assert type(fast) is IngestSpan and fast == plain and hash(fast.events) == hash(plain.events)
    assert [getattr(fast, f.name) for f in fields(IngestSpan)] == list(values)
    with pytest.raises(FrozenInstanceError):
        fast.name = "changed"  # type: ignore[misc]
