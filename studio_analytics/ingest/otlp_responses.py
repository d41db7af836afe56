"""OTLP/HTTP response bodies, in the encoding of the request (protobuf or JSON).

Success is an ``ExportTraceServiceResponse`` whose ``partial_success`` is set only when
spans were rejected; every 4xx/5xx carries a ``google.rpc.Status`` (with a ``BadRequest``
for undecodable data and a ``RetryInfo`` when the client should come back later), as the
OTLP specification asks.
"""

from __future__ import annotations

from google.protobuf import json_format
from google.protobuf.any_pb2 import Any as AnyMessage
from google.protobuf.message import Message
from google.rpc import code_pb2, error_details_pb2, status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTracePartialSuccess,
    ExportTraceServiceResponse,
)

from studio_analytics.ingest.otlp_decode import JSON

#: The gRPC code each HTTP status stands for (OTLP lets servers omit it; clients may log it).
_GRPC_CODE = {
    400: code_pb2.INVALID_ARGUMENT, 401: code_pb2.UNAUTHENTICATED, 404: code_pb2.NOT_FOUND,
    405: code_pb2.UNIMPLEMENTED, 413: code_pb2.RESOURCE_EXHAUSTED, 415: code_pb2.INVALID_ARGUMENT,
    503: code_pb2.UNAVAILABLE,
}
#: Longest ``error_message`` sent back.
MAX_MESSAGE_CHARS = 2_000
_EMPTY_SUCCESS = ExportTraceServiceResponse()


def export_response(kind: str, rejected: int = 0, message: str = "") -> bytes:
    """Full success, or partial success naming how many spans were rejected and why."""
    if rejected:
        response = ExportTraceServiceResponse(
            partial_success=ExportTracePartialSuccess(rejected_spans=rejected,
                                                      error_message=message[:MAX_MESSAGE_CHARS]))
    else:
        response = _EMPTY_SUCCESS
    return encode(response, kind)


def status_body(kind: str, http_status: int, message: str, *, bad_field: str | None = None,
                retry_after_s: int | None = None) -> bytes:
    """The ``google.rpc.Status`` of a failed request."""
    status = status_pb2.Status(code=_GRPC_CODE.get(http_status, code_pb2.UNKNOWN), message=message[:MAX_MESSAGE_CHARS])
    if bad_field is not None:
        detail = AnyMessage()
        detail.Pack(error_details_pb2.BadRequest(field_violations=[
            error_details_pb2.BadRequest.FieldViolation(field=bad_field, description=message[:MAX_MESSAGE_CHARS])]))
        status.details.append(detail)
    if retry_after_s is not None:
        detail = AnyMessage()
        info = error_details_pb2.RetryInfo()
        info.retry_delay.seconds = retry_after_s
        detail.Pack(info)
        status.details.append(detail)
    return encode(status, kind)


def encode(message: Message, kind: str) -> bytes:
    if kind == JSON:
        return json_format.MessageToJson(message, indent=None).encode("utf-8")
    return message.SerializeToString()
