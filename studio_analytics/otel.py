"""OpenTelemetry in: spans of any agent framework land in the metrics database.

    from studio_analytics.otel import instrument
    instrument()                       # the global tracer provider -> this process's tracker
    Agent.instrument_all()             # pydantic-ai; or LangChainInstrumentor().instrument()

``instrument(db_url=None, tracer_provider=None, **options)`` adds a ``BatchSpanProcessor``
with a :class:`StudioSpanExporter` to the provider; the exporter can also be added by hand.
Spans of the OpenTelemetry GenAI conventions and of OpenInference become agent executions,
tool calls, model calls and workflows (docs/notes/otel-exporter.md). Needs the ``otel``
extra (``pip install 'studio-analytics[otel]'``); ``studio_analytics.tracker`` never
imports OpenTelemetry.
"""

from studio_analytics.ingest.exporter import StudioSpanExporter, instrument
from studio_analytics.ingest.pipeline import IngestStats, SpanIngestor, Submitted

__all__ = ["IngestStats", "SpanIngestor", "StudioSpanExporter", "Submitted", "instrument"]
