"""StudioSpanExporter: a standard OpenTelemetry ``SpanExporter`` that hands finished spans to
a :class:`~studio_analytics.ingest.pipeline.SpanIngestor`, and ``instrument()`` that installs
it behind a ``BatchSpanProcessor``.

``export()`` runs on the BatchSpanProcessor's worker thread, never on the agent's: it
turns each ``ReadableSpan`` into an :class:`IngestSpan` (references to the span's own
immutable attributes, no copies) and submits them. When the writer's queue is full it
waits for room (the processor's own queue keeps taking the agent's spans meanwhile, and
drops by its own rule when that is full) for at most ``busy_wait_s``, then reports
FAILURE: those spans are counted lost in :meth:`StudioSpanExporter.lost`.

Needs the OpenTelemetry SDK (``pip install 'studio-analytics[otel]'``).
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from studio_analytics.ingest.otlp_decode import new_span
from studio_analytics.ingest.pipeline import IngestStats, SpanIngestor
from studio_analytics.ingest.spans import IngestEvent, IngestSpan


def _plain(attributes: Any) -> Mapping[str, Any]:
    """A finished span's attributes as a plain dict. The SDK's ``BoundedAttributes`` is a
    Mapping whose ``get`` of a missing key raises and catches KeyError (about 1 µs each;
    the mapping asks for many absent keys): its own dict is used when it has one (the span
    is finished, so it no longer changes), else a copy."""
    if attributes is None:
        return {}
    inner = getattr(attributes, "_dict", None)
    return inner if type(inner) is dict else dict(attributes)


def to_ingest_span(span: ReadableSpan) -> IngestSpan:
    """The plain values of a finished SDK span."""
    ctx = span.context
    parent = span.parent
    status = span.status
    resource = span.resource
    scope = span.instrumentation_scope
    events = span.events
    return new_span(  # IngestSpan(trace_id, span_id, parent_span_id, name, start_ns, end_ns, status_code,
        # status_message, attributes, events, resource, scope), built at half the cost
        ctx.trace_id if ctx is not None else 0,
        ctx.span_id if ctx is not None else 0,
        parent.span_id if parent is not None else None,
        span.name,
        span.start_time or 0,
        span.end_time or 0,
        status.status_code.value,
        status.description,
        _plain(span.attributes),
        tuple(IngestEvent(e.name, e.timestamp, _plain(e.attributes)) for e in events) if events else (),
        _plain(resource.attributes) if resource is not None else {},
        scope.name if scope is not None else None,
    )


class StudioSpanExporter(SpanExporter):
    """Writes finished spans to the metrics database through the tracker's writer.

    Give it an ``ingestor`` to share one, or the :class:`SpanIngestor` options (``db_url``,
    ``capture_content``, tracker options...): none at all feeds this process's tracker."""

    def __init__(self, ingestor: SpanIngestor | None = None, *, busy_wait_s: float = 10.0,
                 **ingestor_options: Any) -> None:
        self._owned = ingestor is None
        self.ingestor = ingestor if ingestor is not None else SpanIngestor(**ingestor_options)
        self.busy_wait_s = float(busy_wait_s)
        self._lost = 0
        self._rejected = 0
        self._stopped = threading.Event()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self._stopped.is_set():
            return SpanExportResult.FAILURE
        batch = []
        for span in spans:
            try:
                batch.append(to_ingest_span(span))
            except Exception:  # noqa: BLE001 - a span we cannot read is refused, not fatal
                self._rejected += 1
        deadline = time.monotonic() + self.busy_wait_s
        pause = 0.01
        while True:
            result = self.ingestor.submit(batch)
            if not result.busy:
                self._rejected += result.rejected
                return SpanExportResult.SUCCESS
            if time.monotonic() >= deadline or self._stopped.wait(pause):
                self._lost += len(batch)
                return SpanExportResult.FAILURE
            pause = min(pause * 2, 0.5)

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self.ingestor.flush(timeout_millis / 1000)

    def shutdown(self) -> None:
        """Stop taking spans; flush (and close, when it is ours) the ingestor."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        if self._owned:
            self.ingestor.shutdown()
        else:
            self.ingestor.flush()

    def stats(self) -> IngestStats:
        return self.ingestor.stats()

    @property
    def lost(self) -> int:
        """Spans given up after ``busy_wait_s`` of a full queue."""
        return self._lost

    @property
    def unreadable(self) -> int:
        """Spans refused as malformed."""
        return self._rejected


_installed: weakref.WeakKeyDictionary[Any, StudioSpanExporter] = weakref.WeakKeyDictionary()
_install_lock = threading.Lock()


def instrument(db_url: str | None = None, tracer_provider: Any = None, **options: Any) -> StudioSpanExporter:
    """Send every span of ``tracer_provider`` (default: the global one, which is set to a
    new SDK ``TracerProvider`` when none is) to the metrics database, through a
    ``BatchSpanProcessor`` and a :class:`StudioSpanExporter`. ``options`` go to the
    :class:`SpanIngestor` (``capture_content``, tracker options). Calling it again for the
    same provider returns the exporter installed the first time."""
    with _install_lock:
        provider = tracer_provider
        if provider is None:
            provider = trace.get_tracer_provider()
            if not isinstance(provider, TracerProvider):
                # No SDK provider yet (the API's proxy): install one for everybody.
                trace.set_tracer_provider(TracerProvider())
                provider = trace.get_tracer_provider()
        if not hasattr(provider, "add_span_processor"):
            raise TypeError(f"instrument() needs an OpenTelemetry SDK TracerProvider, not {type(provider).__name__}")
        existing = _installed.get(provider)
        if existing is not None:
            return existing
        exporter = StudioSpanExporter(db_url=db_url, **options)
        provider.add_span_processor(BatchSpanProcessor(exporter))
        _installed[provider] = exporter
        return exporter


__all__ = ["StudioSpanExporter", "instrument", "to_ingest_span"]
