"""OTLP request bodies for the receiver's tests, in both encodings, from one description.

A span is described by :class:`SpanSpec`; :func:`protobuf_body` builds the protobuf
``ExportTraceServiceRequest`` with ``opentelemetry-proto``'s classes, :func:`json_body`
writes the OTLP/JSON text the specification describes (hex ids, camelCase, 64-bit
integers as strings, enums as integers) — written here, not by protobuf's JSON printer,
which would put base64 ids.
"""

from __future__ import annotations

import base64
import json
import math
import random
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

#: The example body of the OTLP specification (opentelemetry-proto, examples/trace.json).
SPEC_EXAMPLE_JSON = """{
  "resourceSpans": [
    {
      "resource": {
        "attributes": [
          {"key": "service.name", "value": {"stringValue": "my.service"}}
        ]
      },
      "scopeSpans": [
        {
          "scope": {
            "name": "my.library",
            "version": "1.0.0",
            "attributes": [
              {"key": "my.scope.attribute", "value": {"stringValue": "some scope attribute"}}
            ]
          },
          "spans": [
            {
              "traceId": "5B8EFFF798038103D269B633813FC60C",
              "spanId": "EEE19B7EC3C1B174",
              "parentSpanId": "EEE19B7EC3C1B173",
              "name": "I'm a server span",
              "startTimeUnixNano": 1544712660000000000,
              "endTimeUnixNano": 1544712661000000000,
              "kind": 2,
              "attributes": [
                {"key": "my.span.attr", "value": {"stringValue": "some value"}}
              ]
            }
          ]
        }
      ]
    }
  ]
}"""


@dataclass
class SpanSpec:
    trace_id: int
    span_id: int
    parent_span_id: int | None = None
    name: str = "span"
    start_ns: int = 1_700_000_000_000_000_000
    end_ns: int = 1_700_000_000_500_000_000
    status_code: int = 0
    status_message: str = ""
    attributes: dict[str, Any] = field(default_factory=dict)
    events: list[tuple[str, int, dict[str, Any]]] = field(default_factory=list)


@dataclass
class ResourceSpec:
    attributes: dict[str, Any]
    scope: str | None
    spans: list[SpanSpec]


# -- protobuf ----------------------------------------------------------------------------
def protobuf_request(resources: list[ResourceSpec]) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    for res in resources:
        rs = request.resource_spans.add()
        _kv_list(rs.resource.attributes, res.attributes)
        ss = rs.scope_spans.add()
        if res.scope is not None:
            ss.scope.name = res.scope
        for spec in res.spans:
            s = ss.spans.add()
            s.trace_id = spec.trace_id.to_bytes(16, "big")
            s.span_id = spec.span_id.to_bytes(8, "big")
            if spec.parent_span_id is not None:
                s.parent_span_id = spec.parent_span_id.to_bytes(8, "big")
            s.name = spec.name
            s.kind = 1
            s.start_time_unix_nano = spec.start_ns
            s.end_time_unix_nano = spec.end_ns
            s.status.code = spec.status_code
            s.status.message = spec.status_message
            _kv_list(s.attributes, spec.attributes)
            for name, t, attrs in spec.events:
                e = s.events.add()
                e.name, e.time_unix_nano = name, t
                _kv_list(e.attributes, attrs)
    return request


def protobuf_body(resources: list[ResourceSpec]) -> bytes:
    return protobuf_request(resources).SerializeToString()


def _kv_list(target: Any, attrs: dict[str, Any]) -> None:
    for key, value in attrs.items():
        kv: KeyValue = target.add()
        kv.key = key
        _set_any(kv.value, value)


def _set_any(v: AnyValue, value: Any) -> None:
    if isinstance(value, bool):
        v.bool_value = value
    elif isinstance(value, int):
        v.int_value = value
    elif isinstance(value, float):
        v.double_value = value
    elif isinstance(value, str):
        v.string_value = value
    elif isinstance(value, bytes):
        v.bytes_value = value
    elif isinstance(value, tuple):
        v.array_value.SetInParent()
        for item in value:
            _set_any(v.array_value.values.add(), item)
    elif isinstance(value, dict):
        v.kvlist_value.SetInParent()
        for k, item in value.items():
            kv = v.kvlist_value.values.add()
            kv.key = k
            _set_any(kv.value, item)
    else:
        raise TypeError(type(value))


# -- OTLP/JSON ---------------------------------------------------------------------------
def json_document(resources: list[ResourceSpec], *, int64_as: str = "string") -> dict[str, Any]:
    return {"resourceSpans": [
        {
            "resource": {"attributes": _json_kvs(res.attributes, int64_as)},
            "scopeSpans": [{
                **({"scope": {"name": res.scope}} if res.scope is not None else {}),
                "spans": [_json_span(s, int64_as) for s in res.spans],
            }],
        }
        for res in resources
    ]}


def json_body(resources: list[ResourceSpec], *, int64_as: str = "string") -> bytes:
    return json.dumps(json_document(resources, int64_as=int64_as)).encode()


def _int64(n: int, int64_as: str) -> Any:
    return str(n) if int64_as == "string" else n


def _json_span(s: SpanSpec, int64_as: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "traceId": f"{s.trace_id:032x}",
        "spanId": f"{s.span_id:016x}",
        "name": s.name,
        "kind": 1,
        "startTimeUnixNano": _int64(s.start_ns, int64_as),
        "endTimeUnixNano": _int64(s.end_ns, int64_as),
        "attributes": _json_kvs(s.attributes, int64_as),
        "status": {"code": s.status_code, **({"message": s.status_message} if s.status_message else {})},
    }
    if s.parent_span_id is not None:
        out["parentSpanId"] = f"{s.parent_span_id:016x}"
    if s.events:
        out["events"] = [{"timeUnixNano": _int64(t, int64_as), "name": name, "attributes": _json_kvs(a, int64_as)}
                         for name, t, a in s.events]
    return out


def _json_kvs(attrs: dict[str, Any], int64_as: str) -> list[dict[str, Any]]:
    return [{"key": k, "value": _json_any(v, int64_as)} for k, v in attrs.items()]


def _json_any(value: Any, int64_as: str) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": _int64(value, int64_as)}
    if isinstance(value, float):
        if math.isnan(value):
            return {"doubleValue": "NaN"}
        if math.isinf(value):
            return {"doubleValue": "Infinity" if value > 0 else "-Infinity"}
        return {"doubleValue": value}
    if isinstance(value, str):
        return {"stringValue": value}
    if isinstance(value, bytes):
        return {"bytesValue": base64.b64encode(value).decode()}
    if isinstance(value, tuple):
        return {"arrayValue": {"values": [_json_any(v, int64_as) for v in value]}}
    if isinstance(value, dict):
        return {"kvlistValue": {"values": [{"key": k, "value": _json_any(v, int64_as)} for k, v in value.items()]}}
    raise TypeError(type(value))


# -- agent-shaped spans ------------------------------------------------------------------
def agent_trace(rng: random.Random, *, tools: int = 2, start_ns: int = 1_700_000_000_000_000_000,
                agent: str = "ResearchAgent") -> list[SpanSpec]:
    """One agent invocation with a model call and ``tools`` tool calls under it, using the
    GenAI semantic conventions (``gen_ai.*``)."""
    trace_id = rng.getrandbits(128) or 1
    root = rng.getrandbits(64) or 1
    spans = [SpanSpec(trace_id, root, None, f"invoke_agent {agent}", start_ns, start_ns + 900_000_000, 1, "", {
        "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": agent, "gen_ai.system": "openai",
    })]
    t = start_ns + 1_000_000
    spans.append(SpanSpec(trace_id, rng.getrandbits(64) or 1, root, "chat gpt-4o-mini", t, t + 300_000_000, 0, "", {
        "gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o-mini", "gen_ai.system": "openai",
        "gen_ai.usage.input_tokens": 812, "gen_ai.usage.output_tokens": 96,
    }))
    for i in range(tools):
        t += 310_000_000
        spans.append(SpanSpec(trace_id, rng.getrandbits(64) or 1, root, f"execute_tool web_search_{i}", t,
                              t + 50_000_000, 0, "", {
                                  "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": f"web_search_{i}",
                              }))
    return spans


def spans_body(spans: list[SpanSpec], *, service: str = "agent-host", kind: str = "protobuf") -> bytes:
    resources = [ResourceSpec({"service.name": service}, "tests.otlp", spans)]
    return protobuf_body(resources) if kind == "protobuf" else json_body(resources)
