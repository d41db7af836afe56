"""The in-process OpenTelemetry exporter: what it costs the agent, and how fast it stores.

1. Per span on the agent's thread: OpenTelemetry SDK spans of an agent run (an
   ``invoke_agent`` span holding two ``chat`` and two ``execute_tool`` spans with the
   GenAI attributes) through a ``BatchSpanProcessor``, once with an exporter that discards
   and once with ``StudioSpanExporter`` writing to SQLite, runs alternating (A B A B ...),
   median of 5. Reported: the agent thread's own CPU time per span (``thread_time``: the
   cost the agent pays; the export runs on the processor's thread), and wall time per span
   in a tight loop (which also counts the export thread holding the GIL meanwhile: an agent
   that spends its time waiting on models leaves that thread the GIL for free). In a tight
   loop the agent makes spans faster than any exporter that stores them keeps up with, so
   the processor's queue grows, and the garbage collector, run by whichever thread
   allocates, walks that backlog: the agent's CPU time grows with it. The same is then
   measured for an agent whose model calls take 0.5 ms (the exporter keeps up).
2. Rows stored per second end to end, SQLite: the same runs through the exporter against
   the same runs written with the tracker's native API (``track_agent_execution``,
   ``track_model_call``, ``track_tool_usage``); the clock stops when every row is written.

    python -m benchmarks.bench_otel_exporter [--runs 20000] [--pg URL]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from studio_analytics import tracker
from studio_analytics.db.engine import create_db_engine
from studio_analytics.db.migrate import upgrade_database

SPANS_PER_RUN = 5  # an agent span, two model calls, two tool calls
_ARGS = '{"city": "Paris", "units": "metric"}'


def _agent_run(tracer: Any, i: int, wait_s: float = 0.0) -> None:
    """One agent run as an OpenTelemetry-instrumented framework records it; ``wait_s``:
    how long each model call waits for its answer."""
    with tracer.start_as_current_span("invoke_agent weather", attributes={
            "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "weather",
            "gen_ai.conversation.id": f"s-{i % 50}"}):
        for step in range(2):
            with tracer.start_as_current_span("chat gpt-4o-mini", attributes={
                    "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
                    "gen_ai.request.model": "gpt-4o-mini"}) as span:
                if wait_s:
                    time.sleep(wait_s)
                span.set_attribute("gen_ai.usage.input_tokens", 812)
                span.set_attribute("gen_ai.usage.output_tokens", 96)
            with tracer.start_as_current_span("execute_tool get_weather", attributes={
                    "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "get_weather",
                    "gen_ai.tool.call.arguments": _ARGS}) as span:
                span.set_attribute("gen_ai.tool.call.result", f"sunny, step {step}")


def _native_run(i: int) -> None:
    """The same run through the tracker's own API."""
    with tracker.track_agent_execution(agent_name="weather", session_id=f"s-{i % 50}"):
        for step in range(2):
            with tracker.track_model_call(model="gpt-4o-mini", provider="openai") as call:
                call.record_usage(input_tokens=812, output_tokens=96)
            with tracker.track_tool_usage(tool_name="get_weather", input_data={"city": "Paris", "units": "metric"}) \
                    as usage:
                usage.set_output(f"sunny, step {step}")


def _provider(exporter: Any, runs: int) -> Any:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider()
    # A queue that holds every span of a timed loop: nothing is dropped on either side.
    provider.add_span_processor(BatchSpanProcessor(exporter, max_queue_size=runs * SPANS_PER_RUN * 2))
    return provider


def bench_agent_thread(runs: int, work: Path, repeats: int = 5, wait_s: float = 0.0
                       ) -> dict[str, tuple[float, float]]:
    """{exporter: (agent-thread CPU µs per span, wall µs per span)}, medians; ``wait_s``
    per model call (0: a tight loop)."""
    from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

    from studio_analytics.otel import StudioSpanExporter

    class Discard(SpanExporter):
        def export(self, spans: object) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    url = f"sqlite:///{work / f'agent-thread-{wait_s}.sqlite3'}"
    upgrade_database(create_db_engine(url))
    ours = StudioSpanExporter(db_url=url, spool_path=str(work / "spool-agent.sqlite3"),
                              max_queue=runs * SPANS_PER_RUN * 2)
    providers = {"discarding exporter": _provider(Discard(), runs), "StudioSpanExporter": _provider(ours, runs)}
    tracers = {name: p.get_tracer("bench") for name, p in providers.items()}
    for name in providers:  # warm up: imports, the writer's child process, caches
        for i in range(200):
            _agent_run(tracers[name], i)
        providers[name].force_flush(300_000)
    ours.force_flush(300_000)
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in providers}
    n = runs * SPANS_PER_RUN
    for _ in range(repeats):
        for name, tracer in tracers.items():
            cpu, wall = time.thread_time_ns(), time.perf_counter_ns()
            for i in range(runs):
                _agent_run(tracer, i, wait_s)
            wall, cpu = time.perf_counter_ns() - wall, time.thread_time_ns() - cpu
            samples[name].append((cpu / n / 1e3, wall / n / 1e3))
            providers[name].force_flush(600_000)  # untimed: the next run starts with empty queues
            ours.force_flush(600_000)
    for p in providers.values():
        p.shutdown()
    stats = ours.stats()
    assert stats.writer is not None and stats.writer.dropped == 0 and stats.busy_refusals == 0, stats
    return {name: (statistics.median(c for c, _ in s), statistics.median(w for _, w in s))
            for name, s in samples.items()}


def bench_stored(url: str, runs: int, work: Path) -> dict[str, float]:
    """Rows stored per second, end to end: the exporter against the tracker's native API."""
    from studio_analytics.otel import StudioSpanExporter

    out = {}
    engine = create_db_engine(url)
    upgrade_database(engine)
    engine.dispose()
    rows = runs * SPANS_PER_RUN

    def timed(produce: Callable[[], None], done: Callable[[], bool]) -> float:
        started = time.perf_counter()
        produce()
        assert done(), "not everything was written"
        return rows / (time.perf_counter() - started)

    tracker.configure(db_url=url, spool_path=str(work / "spool-native.sqlite3"), max_queue=rows * 2)
    _native_run(-1)
    tracker.flush(120)
    out["tracker API"] = timed(lambda: [_native_run(i) for i in range(runs)], lambda: tracker.flush(600))
    tracker.shutdown(10)

    ours = StudioSpanExporter(db_url=url, spool_path=str(work / "spool-otel.sqlite3"), max_queue=rows * 2)
    provider = _provider(ours, runs)
    tracer = provider.get_tracer("bench")
    _agent_run(tracer, -1)
    provider.force_flush(120_000)
    ours.force_flush(120_000)

    def exported() -> None:
        for i in range(runs):
            _agent_run(tracer, i)

    out["in-process exporter"] = timed(exported, lambda: provider.force_flush(600_000) and ours.force_flush(600_000))
    provider.shutdown()
    st = ours.stats()
    assert st.writer is not None and st.writer.dropped == 0 and st.writer.spool_pending == 0, st
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20_000, help="agent runs (5 spans each) per measurement")
    parser.add_argument("--pg", default=os.environ.get("STUDIO_ANALYTICS_TEST_PG_URL"))
    args = parser.parse_args(argv)
    try:
        import opentelemetry.sdk  # noqa: F401
    except ImportError:
        print("the OpenTelemetry SDK is not installed (pip install 'studio-analytics[otel]'): skipped")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        os.environ.setdefault("STUDIO_ANALYTICS_HOME", str(work / "home"))
        cost = bench_agent_thread(args.runs, work)
        (base_cpu, base_wall), (ours_cpu, ours_wall) = cost["discarding exporter"], cost["StudioSpanExporter"]
        print(f"OpenTelemetry SDK + BatchSpanProcessor, {args.runs * SPANS_PER_RUN:,} GenAI spans per run "
              "(runs alternating, median of 5):")
        print(f"  agent thread CPU per span: discarding {base_cpu:6.2f} µs, StudioSpanExporter {ours_cpu:6.2f} µs "
              f"-> +{(ours_cpu / base_cpu - 1) * 100:.1f} % (target <= 10 %)")
        print(f"  wall per span, tight loop: discarding {base_wall:6.2f} µs, StudioSpanExporter {ours_wall:6.2f} µs "
              f"-> +{(ours_wall / base_wall - 1) * 100:.1f} % (export and writer threads holding the GIL)")
        paced_runs = max(1, args.runs // 10)
        paced = bench_agent_thread(paced_runs, work, wait_s=0.0005)
        (base_cpu, _), (ours_cpu, _) = paced["discarding exporter"], paced["StudioSpanExporter"]
        print(f"  an agent whose model calls take 0.5 ms ({paced_runs * SPANS_PER_RUN:,} spans per run): agent "
              f"thread CPU per span: discarding {base_cpu:6.2f} µs, StudioSpanExporter {ours_cpu:6.2f} µs "
              f"-> +{(ours_cpu / base_cpu - 1) * 100:.1f} %")
        sqlite_url = f"sqlite:///{work / 'stored.sqlite3'}"
        stored = bench_stored(sqlite_url, args.runs, work)
        print(f"rows stored per second, SQLite, {args.runs * SPANS_PER_RUN:,} rows, end to end: "
              f"tracker API {stored['tracker API']:,.0f}, in-process exporter {stored['in-process exporter']:,.0f} "
              f"-> {stored['in-process exporter'] / stored['tracker API']:.2f}x")
        if args.pg:
            from benchmarks.bench_tracker import _temp_pg

            url, drop = _temp_pg(args.pg)
            try:
                stored = bench_stored(url, args.runs, work)
            finally:
                drop()
            print(f"rows stored per second, PostgreSQL, end to end: tracker API {stored['tracker API']:,.0f}, "
                  f"in-process exporter {stored['in-process exporter']:,.0f} "
                  f"-> {stored['in-process exporter'] / stored['tracker API']:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
