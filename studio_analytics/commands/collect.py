"""``studio-analytics collect``: receive OpenTelemetry spans over OTLP/HTTP (``POST
/v1/traces``, protobuf or JSON, gzip) and store them through the tracker's writer and spool.
The server itself is :mod:`studio_analytics.ingest.collector`."""

from __future__ import annotations

import argparse

from studio_analytics.commands.failures import UsageError
from studio_analytics.ingest.collector import (
    CollectorConfigError,
    add_collect_arguments,
    run_collect,
)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from studio_analytics.cli import add_db_argument

    p = sub.add_parser(
        "collect", help="receive OpenTelemetry spans over OTLP/HTTP and store them",
        description="Receive OpenTelemetry spans over OTLP/HTTP (POST /v1/traces, protobuf or JSON, "
        "gzip) and store them. Point any OTel exporter at it: "
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=http://127.0.0.1:4318/v1/traces.",
    )
    add_db_argument(p)
    add_collect_arguments(p)
    p.set_defaults(func=cmd_collect)


def cmd_collect(args: argparse.Namespace) -> int:
    try:
        return run_collect(args)
    except CollectorConfigError as e:
        raise UsageError(str(e)) from None
