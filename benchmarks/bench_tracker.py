"""Tracker cost and throughput, as ratios against baselines measured in the same run.

    python -m benchmarks.bench_tracker [--spans N] [--rows N] [--pg URL]

1. Per-span cost of ``track_tool_usage`` enter/exit inside an execution, with the writer
   thread running and draining into a real SQLite file, against a bare ``nullcontext()``,
   a minimal queue-append tracker (two clock reads and a deque append: the floor of any
   in-process tracker, which calibrates this machine) and an OpenTelemetry SDK span with
   a ``BatchSpanProcessor`` (exporter that discards). Beside it, in the same run and
   alternating with it, ``track_model_call`` as real code uses it (``first_token()`` and
   ``record_usage(...)`` on every call), and an OpenTelemetry span carrying the GenAI
   semantic conventions' attributes and first-token event.
2. Sustained writer throughput (rows/s) into SQLite and, with --pg or
   $STUDIO_ANALYTICS_TEST_PG_URL, into a temporary PostgreSQL database, for two workloads:
   executions only (the costliest row: seven indexes, its session recomputed) and an
   agent's usual mix, one execution calling four tools; and SQLite's own floor for the
   executions table (the writer's statement on ready-made rows) as the ceiling.
3. The writer while another thread of the process keeps the GIL busy, against sqlite3's
   executemany under the same load (it waits for the GIL once per row).
4. The same rows written the way the original system did: one insert and commit per call.
5. A span carrying a small input dict against an OpenTelemetry span with one attribute,
   and the agent thread's per-span latency (p50/p99/max) while the writer drains large
   batches into SQLite, against the same loop with the writer paused.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from contextlib import nullcontext
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, func, insert, make_url, select, text

from studio_analytics import tracker
from studio_analytics.db.bulk import execute_values
from studio_analytics.db.engine import create_db_engine
from studio_analytics.db.migrate import upgrade_database
from studio_analytics.db.models import AgentExecutionMetrics
from studio_analytics.db.rows import EXECUTION_COLUMNS
from studio_analytics.tracker.sink import insert_ignoring


def _per_span_us(body: Callable[[int], None], n: int, repeats: int = 5,
                 between: Callable[[], object] | None = None) -> float:
    """Median per-span time of ``repeats`` runs; ``between`` runs untimed after each one
    (the tracker's queue is written out, as the minimal tracker's deque is cleared)."""
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        body(n)
        samples.append((time.perf_counter() - started) / n * 1e6)
        if between is not None:
            between()
    return statistics.median(samples)


def _per_span_us_alternating(bodies: dict[str, Callable[[int], None]], n: int, repeats: int = 5,
                             between: Callable[[], object] | None = None) -> dict[str, float]:
    """Like :func:`_per_span_us` for several bodies, their runs taken in turn (A B A B …)
    so that a machine slowing down or speeding up during the run affects each alike.
    Also gives each body's median CPU time of the measuring thread (``"<name>, cpu"``):
    on a machine other processes keep busy, that is what the ratios are read from."""
    samples: dict[str, list[float]] = {name: [] for name in bodies}
    cpu: dict[str, list[float]] = {name: [] for name in bodies}
    for _ in range(repeats):
        for name, body in bodies.items():
            started, started_cpu = time.perf_counter(), time.thread_time()
            body(n)
            cpu[name].append((time.thread_time() - started_cpu) / n * 1e6)
            samples[name].append((time.perf_counter() - started) / n * 1e6)
            if between is not None:
                between()
    out = {name: statistics.median(values) for name, values in samples.items()}
    out.update({f"{name}, cpu": statistics.median(values) for name, values in cpu.items()})
    return out


def bench_span_cost(n: int, workdir: Path) -> dict[str, float]:
    def bare(k: int) -> None:
        for _ in range(k):
            with nullcontext():
                pass

    def tracked(k: int) -> None:
        with tracker.track_agent_execution(agent_name="bench"):
            for _ in range(k):
                with tracker.track_tool_usage(tool_name="web_search"):
                    pass

    def tracked_api_call(k: int) -> None:
        # A tool span as real code uses it: the API it called, with its status and time.
        with tracker.track_agent_execution(agent_name="bench"):
            for _ in range(k):
                with tracker.track_tool_usage(tool_name="web_search") as call:
                    call.record_api_call("google_search", 200, 84.0)

    def tracked_model(k: int) -> None:
        # As an instrumented client does: the stream's first token, then the usage.
        with tracker.track_agent_execution(agent_name="bench"):
            for _ in range(k):
                with tracker.track_model_call(model="gpt-4o-mini", provider="openai") as call:
                    call.first_token()
                    call.record_usage(input_tokens=812, output_tokens=96, cached_input_tokens=512)

    class MinimalTracker:
        """The least a tracker can do: two clock reads and one append to a deque."""

        queue: deque[tuple[str, int, int]] = deque()

        def __init__(self, name: str) -> None:
            self.name = name

        def __enter__(self) -> MinimalTracker:
            self.start = time.perf_counter_ns()
            return self

        def __exit__(self, *exc: object) -> bool:
            self.queue.append((self.name, self.start, time.perf_counter_ns()))
            return False

    def minimal(k: int) -> None:
        for _ in range(k):
            with MinimalTracker("web_search"):
                pass
        MinimalTracker.queue.clear()

    results = {"nullcontext": _per_span_us(bare, n), "minimal queue-append": _per_span_us(minimal, n)}
    for label, paused in (("studio-analytics", False), ("hot path only", True)):
        # paused: the writer does not wake until flush(), so the loop pays only the hot path
        tracker.configure(db_url=f"sqlite:///{workdir / 'spans.sqlite3'}", spool_path=str(workdir / "spool.sqlite3"),
                          max_queue=10_000_000, batch_size=10_000_000 if paused else 2_000,
                          flush_interval_s=3_600 if paused else 0.5)
        # The span with more attributes first: CPython's instances of a class share one
        # key table only while they add attributes in one order, and the first span of a
        # class sets it (a tool span recording an API call after bare ones costs ~1 µs
        # more; the bare ones after it cost nothing more).
        results.update(_per_span_us_alternating(
            {f"{label}, tool + API call": tracked_api_call, label: tracked, f"{label}, model call": tracked_model},
            n, between=lambda: tracker.flush(300)))
        assert tracker.flush(300)
        tracker.shutdown(10)
    try:
        provider, otel = _otel_tracer(n)

        def otel_spans(k: int) -> None:
            with otel.start_as_current_span("execution"):
                for _ in range(k):
                    with otel.start_as_current_span("web_search"):
                        pass

        def otel_model_spans(k: int) -> None:
            # The GenAI semantic conventions' attributes and a first-token event: what an
            # OpenTelemetry-instrumented client records for the same call.
            with otel.start_as_current_span("execution"):
                for _ in range(k):
                    with otel.start_as_current_span("chat gpt-4o-mini", attributes={
                            "gen_ai.operation.name": "chat", "gen_ai.system": "openai",
                            "gen_ai.request.model": "gpt-4o-mini"}) as span:
                        span.add_event("gen_ai.content.first_token")
                        span.set_attribute("gen_ai.usage.input_tokens", 812)
                        span.set_attribute("gen_ai.usage.output_tokens", 96)

        results.update(_per_span_us_alternating(
            {"opentelemetry": otel_spans, "opentelemetry, GenAI attributes": otel_model_spans}, n))
        provider.shutdown()
    except ImportError:
        pass
    return results


def _otel_tracer(n: int) -> tuple[Any, Any]:
    """An OpenTelemetry SDK tracer with a ``BatchSpanProcessor`` whose exporter discards
    (raises ImportError without the SDK): the baseline both span measurements use."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    class Discard(SpanExporter):
        def export(self, spans: object) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(Discard(), max_queue_size=n * 2))
    return provider, provider.get_tracer("bench")


def bench_small_input(n: int, workdir: Path) -> dict[str, float]:
    """Per span: ``track_tool_usage`` with a small input dict (writer paused) against an
    OpenTelemetry SDK span with one attribute."""
    tracker.configure(db_url=f"sqlite:///{workdir / 'input.sqlite3'}", spool_path=str(workdir / "spool-in.sqlite3"),
                      max_queue=10_000_000, batch_size=10_000_000, flush_interval_s=3_600)

    def tracked(k: int) -> None:
        with tracker.track_agent_execution(agent_name="bench"):
            for _ in range(k):
                with tracker.track_tool_usage(tool_name="t", input_data={"q": "hello", "k": 3}):
                    pass

    results = {"studio-analytics, input dict": _per_span_us(tracked, n, between=lambda: tracker.flush(300))}
    tracker.shutdown(10)
    try:
        provider, otel = _otel_tracer(n)

        def otel_spans(k: int) -> None:
            with otel.start_as_current_span("execution"):
                for _ in range(k):
                    with otel.start_as_current_span("t", attributes={"q": "hello"}):
                        pass

        results["opentelemetry, 1 attribute"] = _per_span_us(otel_spans, n)
        provider.shutdown()
    except ImportError:
        pass
    return results


def bench_stall(n: int, workdir: Path) -> dict[str, tuple[float, float, float]]:
    """(p50, p99, max) µs of single ``with`` spans on the agent thread, while the writer
    drains 5,000-row batches into SQLite, and with the writer paused."""
    out = {}
    for label, paused in (("writer draining", False), ("writer paused", True)):
        tracker.configure(db_url=f"sqlite:///{workdir / f'stall-{paused}.sqlite3'}",
                          spool_path=str(workdir / "spool-stall.sqlite3"), max_queue=10_000_000,
                          batch_size=10_000_000 if paused else 5_000, flush_interval_s=3_600 if paused else 0.05)
        with tracker.track_agent_execution(agent_name="warmup"):
            pass
        tracker.flush(60)
        perf = time.perf_counter_ns
        samples = []
        with tracker.track_agent_execution(agent_name="stall"):
            for _ in range(n):
                started = perf()
                with tracker.track_tool_usage(tool_name="t", input_data={"q": "hello", "k": 3}):
                    pass
                samples.append(perf() - started)
        tracker.flush(600)
        tracker.shutdown(10)
        samples.sort()
        out[label] = (samples[len(samples) // 2] / 1e3, samples[int(len(samples) * 0.99)] / 1e3, samples[-1] / 1e3)
    return out


def bench_throughput(url: str, rows: int, workdir: Path, tools_per_execution: int = 0) -> tuple[float, float]:
    """Writer throughput, rows/s: (writer alone, on a queue filled beforehand and written
    as one batch; end to end, 5,000-row batches while the agent produces the spans)."""
    results = []
    for concurrent in (False, True):
        # A writer that does not wake by itself until flush() when measuring it alone.
        tracker.configure(db_url=url, spool_path=str(workdir / "spool-tp.sqlite3"), max_queue=10_000_000,
                          batch_size=5_000 if concurrent else 10_000_000,
                          flush_interval_s=0.2 if concurrent else 3_600)
        with tracker.track_agent_execution(agent_name="warmup"):
            pass
        tracker.flush(60)
        started = time.perf_counter()
        if tools_per_execution:
            # An agent's day: each execution calls a few tools; ten executions per session.
            for i in range(rows // (tools_per_execution + 1)):
                with tracker.track_agent_execution(agent_name=f"agent{i % 8}", query="q",
                                                   session_id=f"s{i // 10}") as run:
                    for t in range(tools_per_execution):
                        with tracker.track_tool_usage(tool_name=f"tool{t}", input_data={"q": "x"}):
                            pass
                    run.record_tokens(10)
        else:
            for i in range(rows):
                # About ten queries per session, as in a chat product.
                with tracker.track_agent_execution(agent_name="bench", query="q", session_id=f"s{i // 10}") as run:
                    run.record_tokens(10)
        if not concurrent:
            started = time.perf_counter()
        ok = tracker.flush(600)
        elapsed = time.perf_counter() - started
        tracker.shutdown(10)
        assert ok, "flush did not finish"
        written = rows - rows % (tools_per_execution + 1) if tools_per_execution else rows
        results.append(written / elapsed)
    return results[0], results[1]


def _ready_rows(n: int) -> list[tuple[object, ...]]:
    """Execution rows as the writer hands them to the driver (db/rows.py), ~10 per session,
    at the top of their trace (no parent, their own id as the trace id)."""
    base = uuid.uuid4().int
    rows = [(f"{base + i:032x}", None, f"agent{i % 8}", "2026-11-25 04:05:55.532347", "2026-11-25 04:05:55.532350",
             0.01, "success", "q", None, None, "[]", 0, 0, f"s{i // 10}", None, None, 10, 0, None, f"{base + i:032x}")
            for i in range(n)]
    assert len(rows[0]) == len(EXECUTION_COLUMNS), "the ready-made rows follow db/rows.py's columns"
    return rows


def bench_sqlite_floor(path: Path, rows: int) -> float:
    """Rows/s of ready-made wire rows into the executions table with the writer's own
    statements on the engine's own connection settings, in 5,000-row transactions: the
    ceiling any writer in Python reaches on this machine."""
    engine = create_db_engine(f"sqlite:///{path}")
    upgrade_database(engine)
    values = _ready_rows(rows)
    statement = insert_ignoring("agent_execution_metrics", EXECUTION_COLUMNS, "execution_id")
    with engine.connect() as conn:
        started = time.perf_counter()
        for i in range(0, rows, 5_000):
            with conn.begin():
                execute_values(conn, statement, values[i:i + 5_000])
        elapsed = time.perf_counter() - started
    engine.dispose()
    return rows / elapsed


class BusyAgent:
    """A thread that keeps the GIL busy with pure Python, as an agent parsing or scoring
    locally does, for as long as the ``with`` block lasts."""

    def __enter__(self) -> BusyAgent:
        self._stop = threading.Event()
        spinning = threading.Event()
        self._thread = threading.Thread(target=self._spin, args=(spinning,), daemon=True)
        self._thread.start()
        # Time nothing until the thread really runs: a short measurement could otherwise
        # finish before it first gets the GIL (and show no contention at all).
        spinning.wait()
        return self

    def _spin(self, spinning: threading.Event) -> None:
        spinning.set()
        while not self._stop.is_set():
            sum(range(1_000))

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def bench_busy_agent(url: str, rows: int, workdir: Path) -> float:
    """Writer throughput (rows/s) while another thread of the process runs CPU-bound Python."""
    tracker.configure(db_url=url, spool_path=str(workdir / "spool-busy.sqlite3"), max_queue=10_000_000,
                      batch_size=10_000_000, flush_interval_s=3_600)
    for i in range(rows // 5):
        with tracker.track_agent_execution(agent_name=f"agent{i % 8}", query="q", session_id=f"b{i // 10}"):
            for t in range(4):
                with tracker.track_tool_usage(tool_name=f"tool{t}"):
                    pass
    with BusyAgent():
        started = time.perf_counter()
        ok = tracker.flush(600)
        elapsed = time.perf_counter() - started
    tracker.shutdown(10)
    assert ok, "flush did not finish"
    return rows // 5 * 5 / elapsed


def bench_executemany_busy(path: Path, rows: int) -> float:
    """Baseline: sqlite3's executemany of ready-made rows with the same busy thread (the
    module gives up the GIL for every row and waits for it back each time)."""
    engine = create_db_engine(f"sqlite:///{path}")
    upgrade_database(engine)
    values = _ready_rows(rows)
    head, tail = insert_ignoring("agent_execution_metrics", EXECUTION_COLUMNS, "execution_id")
    sql = f"{head} VALUES ({', '.join(['?'] * len(EXECUTION_COLUMNS))}) {tail}"
    con = engine.raw_connection()
    with BusyAgent():
        started = time.perf_counter()
        con.cursor().executemany(sql, values)
        con.commit()
        elapsed = time.perf_counter() - started
    con.close()
    engine.dispose()
    return rows / elapsed


def bench_naive(url: str, rows: int) -> float:
    """One INSERT + COMMIT per call, as the original analytics service did."""
    engine = create_db_engine(url)
    started = time.perf_counter()
    for _ in range(rows):
        with engine.begin() as conn:
            conn.execute(insert(AgentExecutionMetrics).values(
                execution_id=uuid.uuid4(), agent_name="naive", start_time=datetime.now(UTC), status="success",
                query="q", session_id="s", tool_count=0, retry_count=0, api_calls_count=0, tokens_used=10,
            ))
    elapsed = time.perf_counter() - started
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(AgentExecutionMetrics)).scalar() >= rows
    engine.dispose()
    return rows / elapsed


def _temp_pg(server_url: str) -> tuple[str, Callable[[], None]]:
    name = f"sa_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(make_url(server_url).set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(server_url).set(drivername="postgresql+psycopg", database=name).render_as_string(hide_password=False)

    def drop() -> None:
        from studio_analytics.db.engine import dispose_engines

        dispose_engines()
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return url, drop


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spans", type=int, default=100_000)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--naive-rows", type=int, default=2_000)
    parser.add_argument("--pg", default=os.environ.get("STUDIO_ANALYTICS_TEST_PG_URL"))
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        os.environ.setdefault("STUDIO_ANALYTICS_HOME", str(work / "home"))
        cost = bench_span_cost(args.spans, work)
        print(f"per span, {args.spans:,} spans, median of 5 runs; 'studio-analytics' has its writer "
              "draining into SQLite at the same time, 'hot path only' has it paused:")
        base = cost["nullcontext"]
        for name in ("nullcontext", "minimal queue-append", "hot path only", "studio-analytics", "opentelemetry"):
            if name in cost:
                print(f"  {name:22} {cost[name]:6.2f} µs   {cost[name] / base:5.1f}x nullcontext")
        minimal_us = cost["minimal queue-append"]
        print(f"  studio-analytics / minimal queue-append = {cost['studio-analytics'] / minimal_us:.2f}x "
              f"(hot path only: {cost['hot path only'] / minimal_us:.2f}x)")
        if "opentelemetry" in cost:
            print(f"  studio-analytics / opentelemetry = {cost['studio-analytics'] / cost['opentelemetry']:.2f}x")
        print("model call span (track_model_call + first_token() + record_usage(...)) beside the tool span above "
              "(bare, and with record_api_call(...)), runs alternating, median of 5 runs, wall time [this "
              "thread's CPU time]:")
        for label in ("hot path only", "studio-analytics"):
            model, tool, api = (cost[f"{label}{part}"] for part in (", model call", "", ", tool + API call"))
            model_cpu, tool_cpu, api_cpu = (cost[f"{label}{part}, cpu"]
                                            for part in (", model call", "", ", tool + API call"))
            line = (f"  {label + ':':18} model {model:5.2f} [{model_cpu:5.2f}] µs, tool {tool:5.2f} [{tool_cpu:5.2f}], "
                    f"tool + API call {api:5.2f} [{api_cpu:5.2f}]; model/tool {model / tool:.2f}x "
                    f"[{model_cpu / tool_cpu:.2f}x], model/(tool + API call) {model / api:.2f}x "
                    f"[{model_cpu / api_cpu:.2f}x]")
            if "opentelemetry" in cost:
                line += f", model/opentelemetry {model / cost['opentelemetry']:.2f}x"
            print(line)
        if "opentelemetry" in cost:
            otel_genai = cost["opentelemetry, GenAI attributes"]
            print(f"  opentelemetry span with the GenAI attributes and a first-token event: {otel_genai:.2f} µs "
                  f"-> model call (writer draining) / that = {cost['studio-analytics, model call'] / otel_genai:.2f}x")

        small = bench_small_input(args.spans, work)
        print("per span with a small input dict ({'q': 'hello', 'k': 3}), writer paused, median of 5 runs:")
        for name, us in small.items():
            print(f"  {name:30} {us:6.2f} µs")
        if "opentelemetry, 1 attribute" in small:
            print(f"  ratio = {small['studio-analytics, input dict'] / small['opentelemetry, 1 attribute']:.2f}x "
                  "(target <= 0.2x)")
        stall = bench_stall(args.spans, work)
        print(f"agent-thread latency per span, {args.spans:,} spans in a loop (p50 / p99 / max):")
        for name, (p50, p99, worst) in stall.items():
            print(f"  {name:16} {p50:7.2f} µs / {p99:7.2f} µs / {worst / 1e3:7.2f} ms")

        floor = bench_sqlite_floor(work / "floor.sqlite3", args.rows)
        print(f"SQLite's own floor (ready-made rows, the writer's insert statements, same table, indexes "
              f"and settings, nothing else): {floor:,.0f} rows/s")
        for label, tools_per_execution in (("executions only", 0), ("1 execution + 4 tool calls", 4)):
            sqlite_url = f"sqlite:///{work / f'throughput-{tools_per_execution}.sqlite3'}"
            upgrade_database(create_db_engine(sqlite_url))
            tp, tp_e2e = bench_throughput(sqlite_url, args.rows, work, tools_per_execution)
            print(f"SQLite writer, {label}: {tp:,.0f} rows/s alone ({tp / floor:.0%} of the floor), "
                  f"{tp_e2e:,.0f} rows/s while the agent produces them "
                  f"({args.rows:,} rows, ~10 executions per session, session aggregates and rollups kept)")
            if tools_per_execution == 0:
                tp_executions = tp
        busy_url = f"sqlite:///{work / 'busy.sqlite3'}"
        upgrade_database(create_db_engine(busy_url))
        busy = bench_busy_agent(busy_url, args.rows // 5, work)
        busy_baseline = bench_executemany_busy(work / "busy-executemany.sqlite3", 500)
        print(f"SQLite writer while another thread runs CPU-bound Python: {busy:,.0f} rows/s "
              f"({args.rows // 5:,} rows, 1 execution + 4 tool calls); sqlite3's executemany under the same "
              f"load: {busy_baseline:,.0f} rows/s (500 rows) -> {busy / busy_baseline:.0f}x")
        naive_url = f"sqlite:///{work / 'naive.sqlite3'}"
        upgrade_database(create_db_engine(naive_url))
        nv = bench_naive(naive_url, args.naive_rows)
        print(f"SQLite naive insert+commit per call: {nv:,.0f} rows/s -> batching (executions only) is "
              f"{tp_executions / nv:.0f}x faster")
        if args.pg:
            url, drop = _temp_pg(args.pg)
            try:
                upgrade_database(create_db_engine(url))
                tp_pg, tp_pg_e2e = bench_throughput(url, args.rows, work)
                tp_pg_mix, _ = bench_throughput(url, args.rows, work, 4)
                nv_pg = bench_naive(url, args.naive_rows)
            finally:
                drop()
            print(f"PostgreSQL writer, executions only: {tp_pg:,.0f} rows/s alone, {tp_pg_e2e:,.0f} rows/s end to end; "
                  f"1 execution + 4 tool calls: {tp_pg_mix:,.0f} rows/s alone")
            print(f"PostgreSQL naive insert+commit per call: {nv_pg:,.0f} rows/s -> batching is {tp_pg / nv_pg:.0f}x faster")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
