"""The in-process exporter: instrument() on a given or the global provider, sharing the
process's tracker, a full queue, and the tracker never importing OpenTelemetry."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SpanExportResult

from studio_analytics import tracker
from studio_analytics.otel import StudioSpanExporter, instrument
from tests.ingest.spanlib import executions, models, tools
from tests.tracker.conftest import configure_fast

REPO = Path(__file__).resolve().parents[2]


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=REPO, capture_output=True, text=True,
                          timeout=120)


def test_importing_the_tracker_does_not_import_opentelemetry() -> None:
    done = _run("""
        import sys
        import studio_analytics.tracker, studio_analytics.ingest.pipeline
        print(sorted(m for m in sys.modules if m.startswith("opentelemetry")))
    """)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_instrument_the_global_provider(sqlite_file_url: str, tmp_path: Path) -> None:
    done = _run(f"""
        from opentelemetry import trace
        from studio_analytics.otel import instrument
        exporter = instrument({sqlite_file_url!r}, spool_path={str(tmp_path / "spool.sqlite3")!r})
        assert instrument() is exporter  # once per provider
        tracer = trace.get_tracer("agent")
        with tracer.start_as_current_span("invoke_agent helper", attributes={{
                "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "helper"}}):
            with tracer.start_as_current_span("execute_tool t", attributes={{
                    "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "t"}}):
                pass
        assert trace.get_tracer_provider().force_flush(10_000) and exporter.force_flush(10_000)
        print(exporter.stats().rows_queued)
    """)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "2"
    assert [e["agent_name"] for e in executions(sqlite_file_url).values()] == ["helper"]
    assert [t["tool_name"] for t in tools(sqlite_file_url).values()] == ["t"]


def test_spans_and_native_tracking_share_the_process_tracker(sqlite_file_url: str, tmp_path: Path) -> None:
    configure_fast(sqlite_file_url, tmp_path / "spool.sqlite3")
    tp = TracerProvider()
    exporter = instrument(tracer_provider=tp)  # no database given: the tracker's own
    assert instrument(tracer_provider=tp) is exporter
    with tracker.track_agent_execution(agent_name="native"):
        pass
    with tp.get_tracer("x").start_as_current_span("chat m", attributes={
            "gen_ai.operation.name": "chat", "gen_ai.request.model": "m", "gen_ai.usage.input_tokens": 3}):
        pass
    assert tp.force_flush(10_000) and tracker.flush(10)
    assert [e["agent_name"] for e in executions(sqlite_file_url).values()] == ["native"]
    assert [m["model"] for m in models(sqlite_file_url).values()] == ["m"]
    assert exporter.stats().writer.written >= 2  # type: ignore[union-attr]
    tp.shutdown()
    tracker.shutdown(5)


def test_a_queue_that_stays_full_fails_the_export_and_counts_it(sqlite_file_url: str, tmp_path: Path) -> None:
    tp = TracerProvider()
    exporter = StudioSpanExporter(db_url=sqlite_file_url, spool_path=str(tmp_path / "spool.sqlite3"), max_queue=2,
                                  busy_wait_s=0.2)
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    spans = []

    class Keep(SimpleSpanProcessor):
        def on_end(self, span):  # type: ignore[no-untyped-def]
            spans.append(span)

    tp.add_span_processor(Keep(exporter))
    tracer = tp.get_tracer("x")
    for i in range(3):
        with tracer.start_as_current_span(f"execute_tool t{i}", attributes={
                "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": f"t{i}"}):
            pass
    assert exporter.export(spans) is SpanExportResult.FAILURE  # 3 rows never fit a queue of 2
    assert exporter.lost == 3
    st = exporter.stats()
    assert st.busy_refusals >= 1 and st.rows_queued == 0
    assert exporter.export(spans[:2]) is SpanExportResult.SUCCESS
    exporter.shutdown()
    assert exporter.export(spans) is SpanExportResult.FAILURE  # after shutdown
    assert sorted(t["tool_name"] for t in tools(sqlite_file_url).values()) == ["t0", "t1"]
