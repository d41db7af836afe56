"""SpanIngestor: finished OpenTelemetry spans in, rows of the metrics tables out, through the
tracker's own writer (batching, spool when the database is away, redaction, truncation,
``capture_content``).

The in-process exporter (:mod:`studio_analytics.ingest.exporter`) and the OTLP/HTTP receiver
(``studio-analytics collect``) both hand their spans to one of these. ``submit()`` never
raises for bad input and is all-or-nothing against the writer's queue: either every
well-formed span of the call is taken (and will be written or spooled — nothing taken is
dropped), or, when the queue has no room, nothing is taken and ``busy`` says to retry later.

Spans are mapped (:mod:`.mapping`), placed in their trace's tree (:mod:`.assembler`), and
each mapped span's row is queued as soon as it arrives; rows written before an ancestor
arrived are corrected by fix-up records the writer applies in the same transaction as the
batch they travel in.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from studio_analytics.ingest.assembler import TraceAssembler
from studio_analytics.ingest.mapping import map_span
from studio_analytics.ingest.spans import IngestSpan
from studio_analytics.ingest.validation import validate_span
from studio_analytics.tracker import TrackerStats, runtime
from studio_analytics.tracker import stats as tracker_stats
from studio_analytics.tracker.settings import TrackerConfig, build_config

#: Reasons listed per call at most this many times (the count is always exact).
_MAX_REASONS = 20
#: Rows per batch (one transaction) of an ingestor's own writer, unless ``batch_size`` is
#: given. Ingested rows carry random ids (hashes of trace and span ids) in up to four
#: indexes each, so a batch dirties about one index page per row and index until it is
#: large enough for rows to share pages: SQLite's writer process took 27 µs a row in
#: batches of 10,000 against 36 µs in the tracker's 2,000 (benchmarks/bench_otlp_receiver.py).
INGEST_BATCH_SIZE = 10_000


@dataclass(frozen=True)
class Submitted:
    accepted: int  # spans taken (written, or will be: nothing taken is ever dropped)
    rejected: int  # spans refused as malformed (each with a reason)
    reasons: tuple[str, ...]
    busy: bool  # True: NOTHING was taken because the writer's queue has no room


@dataclass(frozen=True)
class IngestStats:
    """What happened to every span handed to :meth:`SpanIngestor.submit`.

    ``received`` = ``accepted`` + ``rejected`` + the spans of refused (busy) calls; of the
    accepted, each is mapped to one kind, ignored (no convention), or a duplicate."""

    received: int = 0
    accepted: int = 0
    rejected: int = 0
    busy_refusals: int = 0  # calls refused because the writer's queue had no room
    busy_spans: int = 0  # spans in those calls (the sender keeps and retries them)
    duplicates: int = 0  # spans seen before in a tracked trace: nothing written again
    ignored: int = 0  # spans of no known convention (HTTP, database...): not written
    mapped: Mapping[str, int] = field(default_factory=dict)  # execution, tool, model, workflow, link
    rows_queued: int = 0  # rows handed to the writer
    fixups_queued: int = 0  # fix-up records handed to the writer
    unresolved: int = 0  # rows written whose ancestors have not all arrived yet
    traces_tracked: int = 0
    spans_tracked: int = 0
    traces_forgotten: int = 0  # idle longer than ``trace_idle_s``, or evicted at the size bound
    unresolved_forgotten: int = 0  # rows left unresolved when their trace was forgotten
    disabled: bool = False  # tracking is off (STUDIO_ANALYTICS_DISABLED): spans are discarded
    writer: TrackerStats | None = None  # the figures of the writer used (rows, spool, drops)


class SpanIngestor:
    """Maps spans and feeds them to a tracker writer.

    With no argument it feeds this process's tracker (``studio_analytics.tracker.configure``
    decides the database, redaction...). With ``db_url``, ``capture_content`` or any tracker
    option (``max_queue``, ``spool_path``, ``redact``...; see
    :func:`studio_analytics.tracker.configure`) it runs a writer of its own with that
    configuration. ``trace_idle_s`` (default 900 s) and ``max_tracked_spans`` (default
    100,000; about 450 bytes each) bound what is remembered of traces to resolve late parents.
    """

    def __init__(self, *, db_url: str | None = None, capture_content: bool | None = None,
                 trace_idle_s: float = 900.0, max_tracked_spans: int = 100_000,
                 **tracker_options: Any) -> None:
        self._lock = threading.Lock()
        self._own: Any = None  # our own BatchWriter, when configured apart from the tracker
        self._cfg: TrackerConfig | None = None
        if db_url is not None or capture_content is not None or tracker_options:
            options = dict(tracker_options)
            if capture_content is not None:
                options["capture_content"] = capture_content
            options.setdefault("batch_size", INGEST_BATCH_SIZE)
            self._cfg = build_config(db_url=db_url, **options)
        self._assembler = TraceAssembler(idle_s=trace_idle_s, max_spans=max_tracked_spans)
        self._counts: dict[str, int] = dict.fromkeys(
            ("received", "accepted", "rejected", "busy_refusals", "busy_spans", "duplicates", "ignored",
             "rows", "fixups"), 0)
        self._mapped: dict[str, int] = {}
        self._closed = False

    # -- the writer -------------------------------------------------------------------
    def _config(self) -> TrackerConfig:
        return self._cfg if self._cfg is not None else runtime.config()

    def _writer(self) -> Any:
        if self._cfg is None:
            return runtime.writer()
        if self._own is None:
            from studio_analytics.tracker.writer import BatchWriter

            self._own = BatchWriter(self._cfg, report_error=runtime.log_error)
        return self._own

    # -- spans in -----------------------------------------------------------------------
    def submit(self, spans: Sequence[IngestSpan]) -> Submitted:
        """Take these spans (all-or-nothing against the writer's queue); never raises for
        bad input."""
        try:
            return self._submit(spans)
        except Exception:  # noqa: BLE001 - ours: the sender must not see a crash
            runtime.log_error("ingesting spans")
            return Submitted(0, 0, ("internal error while ingesting spans (logged)",), True)

    def _submit(self, spans: Sequence[IngestSpan]) -> Submitted:
        good: list[IngestSpan] = []
        reasons: list[str] = []
        rejected = 0
        for i, span in enumerate(spans):
            why = validate_span(span)
            if why is None:
                good.append(span)
            else:
                rejected += 1
                if len(reasons) < _MAX_REASONS:
                    reasons.append(f"span {i}: {why}")
        with self._lock:
            self._counts["received"] += len(good) + rejected
            self._counts["rejected"] += rejected
            cfg = self._config()
            if self._closed:
                return self._refuse(len(good), rejected, reasons)
            if not cfg.enabled:
                # Tracking is off: taken and discarded, as every tracker call is then.
                self._counts["accepted"] += len(good)
                return Submitted(len(good), rejected, tuple(reasons), False)
            content = cfg.capture_content
            limit = 2 * cfg.max_payload_chars
            mapped = [(span, map_span(span, capture_content=content, max_json_chars=limit)) for span in good]
            plan = self._assembler.plan(mapped, now=time.monotonic())
            if plan.items and not self._writer().offer(plan.items):
                return self._refuse(len(good), rejected, reasons)  # the plan is dropped uncommitted
            plan.commit()
            c = self._counts
            c["accepted"] += len(good)
            c["duplicates"] += plan.duplicates
            c["ignored"] += plan.ignored
            c["rows"] += plan.rows
            c["fixups"] += plan.fixups
            for kind, n in plan.mapped.items():
                self._mapped[kind] = self._mapped.get(kind, 0) + n
        return Submitted(len(good), rejected, tuple(reasons), False)

    def _refuse(self, good: int, rejected: int, reasons: list[str]) -> Submitted:
        """Nothing of this call is taken: the sender keeps the spans and retries."""
        c = self._counts
        c["busy_refusals"] += 1
        c["busy_spans"] += good
        return Submitted(0, rejected, tuple(reasons), True)

    # -- state --------------------------------------------------------------------------
    def stats(self) -> IngestStats:
        with self._lock:
            c = dict(self._counts)
            mapped = dict(self._mapped)
            a = self._assembler.stats()
        return IngestStats(
            received=c["received"], accepted=c["accepted"], rejected=c["rejected"],
            busy_refusals=c["busy_refusals"], busy_spans=c["busy_spans"], duplicates=c["duplicates"],
            ignored=c["ignored"], mapped=mapped, rows_queued=c["rows"], fixups_queued=c["fixups"],
            unresolved=a.unresolved, traces_tracked=a.traces, spans_tracked=a.spans,
            traces_forgotten=a.traces_forgotten, unresolved_forgotten=a.unresolved_forgotten,
            disabled=not self._config().enabled, writer=self._writer_stats(),
        )

    def _writer_stats(self) -> TrackerStats:
        if self._cfg is None:
            return tracker_stats()
        return _stats_of(self._own)

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every span taken so far is written or spooled."""
        w = self._own if self._cfg is not None else runtime.current_writer()
        return True if w is None else bool(w.flush(timeout))

    def shutdown(self, timeout: float = 5.0) -> None:
        """Flush for part of ``timeout``, spool the rest; later calls to ``submit`` are
        refused as busy (nothing is taken and silently lost). Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        if self._own is not None:
            self._own.shutdown(timeout)
        else:
            self.flush(timeout)


def _stats_of(w: Any) -> TrackerStats:
    """The tracker's figures for a writer of our own (``tracker.stats()`` reads the
    process's writer)."""
    if w is None:
        return TrackerStats(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, None, None, None, None)
    lat = sorted(w.latencies_ms)
    c = w.counters
    try:
        pending = w.spool_pending()
    except Exception:  # noqa: BLE001 - the spool cannot be read now
        pending = -1
    return TrackerStats(
        enqueued=w.enqueued_count(), written=c["written"], spooled=c["spooled"], replayed=c["replayed"],
        dropped=c["dropped"], rejected=c["rejected"], errors=c["errors"], queued=len(w._queue),
        spool_pending=pending, dead_letters=c["dead_lettered"],
        batch_ms_last=w.latencies_ms[-1] if lat else None, batch_ms_avg=sum(lat) / len(lat) if lat else None,
        batch_ms_p95=lat[min(len(lat) - 1, int(len(lat) * 0.95))] if lat else None, last_error=w.last_error,
    )
